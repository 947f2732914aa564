@testable import RaftHTTP
import MetricsTestKit
import Testing

@Suite("transport metrics: etcd's names and labels")
struct TransportMetricsTests {
    @Test("per-peer series carry etcd's names with To, From, Local and Remote labels")
    func namesAndLabels() throws {
        let testMetrics = TestMetrics()
        let metrics = TransportMetrics(localID: 0x5485ed9a2f08260c, factory: testMetrics)
        let peer = metrics.peer(0x628ed94ad692e8a1)
        peer.sentBytes.increment(by: 46)
        peer.receivedBytes.increment(by: 38)
        peer.sentFailures.increment()
        peer.receivedFailures.increment()
        peer.snapshotSendSuccess.increment()
        peer.snapshotSendFailures.increment()
        peer.snapshotReceiveSuccess.increment()
        peer.snapshotReceiveFailures.increment()
        peer.snapshotSendInflights.increment()
        peer.snapshotReceiveInflights.increment()
        peer.snapshotSendDuration.recordSeconds(1.5)
        peer.snapshotReceiveDuration.recordMilliseconds(20)
        peer.roundTripTime.recordNanoseconds(250_000)

        let to = [("To", "628ed94ad692e8a1")]
        let from = [("From", "628ed94ad692e8a1")]
        #expect(try testMetrics.expectCounter("etcd_network_peer_sent_bytes_total", to).totalValue == 46)
        #expect(try testMetrics.expectCounter("etcd_network_peer_received_bytes_total", from).totalValue == 38)
        #expect(try testMetrics.expectCounter("etcd_network_peer_sent_failures_total", to).totalValue == 1)
        #expect(try testMetrics.expectCounter("etcd_network_peer_received_failures_total", from).totalValue == 1)
        #expect(try testMetrics.expectCounter("etcd_network_snapshot_send_success", to).totalValue == 1)
        #expect(try testMetrics.expectCounter("etcd_network_snapshot_send_failures", to).totalValue == 1)
        #expect(try testMetrics.expectCounter("etcd_network_snapshot_receive_success", from).totalValue == 1)
        #expect(try testMetrics.expectCounter("etcd_network_snapshot_receive_failures", from).totalValue == 1)
        #expect(try testMetrics.expectMeter("etcd_network_snapshot_send_inflights_total", to).lastValue == 1)
        #expect(try testMetrics.expectMeter("etcd_network_snapshot_receive_inflights_total", from).lastValue == 1)
        #expect(try testMetrics.expectTimer("etcd_network_snapshot_send_total_duration_seconds", to).lastValue
            == 1_500_000_000)
        #expect(try testMetrics.expectTimer("etcd_network_snapshot_receive_total_duration_seconds", from).lastValue
            == 20_000_000)
        #expect(try testMetrics.expectTimer("etcd_network_peer_round_trip_time_seconds", to).lastValue == 250_000)
        let pair = [("Local", "5485ed9a2f08260c"), ("Remote", "628ed94ad692e8a1")]
        _ = try testMetrics.expectMeter("etcd_network_active_peers", pair)
        _ = try testMetrics.expectCounter("etcd_network_disconnected_peers_total", pair)
    }

    @Test("a peer's metrics are created once and cached")
    func cached() {
        let testMetrics = TestMetrics()
        let metrics = TransportMetrics(localID: 1, factory: testMetrics)
        let first = metrics.peer(2)
        #expect(metrics.peer(2) === first)
        #expect(metrics.peer(3) !== first)
        #expect(testMetrics.counters(label: "etcd_network_peer_sent_bytes_total").count == 2)
    }

    @Test("receive failures from unknown senders are labelled with what etcd uses")
    func unknownSender() throws {
        let testMetrics = TestMetrics()
        let metrics = TransportMetrics(localID: 1, factory: testMetrics)
        metrics.receiveFailure(fromLabel: "127.0.0.1:50312")
        metrics.receiveFailure(fromLabel: "UNKNOWN_SNAPSHOT_SENDER")
        #expect(try testMetrics.expectCounter("etcd_network_peer_received_failures_total",
                                              [("From", "UNKNOWN_SNAPSHOT_SENDER")]).totalValue == 1)
        #expect(testMetrics.counterTotal(label: "etcd_network_peer_received_failures_total") == 2)
    }
}
