// The transport's metrics, with etcd's names and labels (`metrics.go`, spec 1.17) so that
// dashboards and alerts written for etcd work unchanged: namespace `etcd`, subsystem `network`,
// peers labelled by lower-case hex ID under `To`, `From`, `Local` and `Remote`.
//
// Hot path: a Peer fetches its `PeerMetrics` once (at creation) and keeps the reference, so
// counting a sent or received message is one handler call, with no lookup, lock or allocation.
// Histograms are swift-metrics `Timer`s; a Prometheus backend exports them in seconds with the
// buckets it is configured with (etcd's: 0.1 s·2^k × 10 for snapshots, 0.1 ms·2^k × 16 for RTT).
import CoreMetrics
import Metrics
import RaftIO
import RaftPB

/// etcd's metric names.
enum MetricName {
    static let activePeers = "etcd_network_active_peers"
    static let disconnectedPeers = "etcd_network_disconnected_peers_total"
    static let peerSentBytes = "etcd_network_peer_sent_bytes_total"
    static let peerReceivedBytes = "etcd_network_peer_received_bytes_total"
    static let peerSentFailures = "etcd_network_peer_sent_failures_total"
    static let peerReceivedFailures = "etcd_network_peer_received_failures_total"
    static let snapshotSendSuccess = "etcd_network_snapshot_send_success"
    static let snapshotSendFailures = "etcd_network_snapshot_send_failures"
    static let snapshotSendInflights = "etcd_network_snapshot_send_inflights_total"
    static let snapshotSendDuration = "etcd_network_snapshot_send_total_duration_seconds"
    static let snapshotReceiveSuccess = "etcd_network_snapshot_receive_success"
    static let snapshotReceiveFailures = "etcd_network_snapshot_receive_failures"
    static let snapshotReceiveInflights = "etcd_network_snapshot_receive_inflights_total"
    static let snapshotReceiveDuration = "etcd_network_snapshot_receive_total_duration_seconds"
    static let peerRoundTripTime = "etcd_network_peer_round_trip_time_seconds"
}

/// The metrics of one local member's transport. Creates each peer's metrics on first use and
/// caches them, so that peers added again share their series.
///
/// Thread-safe: the cache is behind a pthread lock held only for the dictionary access.
final class TransportMetrics: Sendable {
    // MARK: immutable, any thread
    /// The local member, the `Local` label.
    let localID: UInt64
    private let factory: any MetricsFactory
    private let localLabel: String

    // MARK: guarded by the lock
    private let peers = Locked<[UInt64: PeerMetrics]>([:])

    /// Metrics for `localID`, created through `factory` (the process-wide one by default; inject
    /// a `TestMetrics` in tests rather than bootstrapping the global system).
    init(localID: UInt64, factory: any MetricsFactory = MetricsSystem.factory) {
        self.localID = localID
        self.factory = factory
        self.localLabel = MemberID(localID).description
    }

    /// The metrics of `peerID`, created on first call. Keep the result: this takes a lock.
    func peer(_ peerID: UInt64) -> PeerMetrics {
        peers.withLock { cache in
            if let existing = cache[peerID] { return existing }
            let created = PeerMetrics(localLabel: localLabel, peerID: peerID, factory: factory)
            cache[peerID] = created
            return created
        }
    }

    /// Counts a receive failure from a sender known only by a label: etcd labels failed pipeline
    /// reads with the remote address, and failed snapshot receives from an unknown sender with
    /// `UNKNOWN_SNAPSHOT_SENDER`. A rare path, so the counter is made on the spot.
    func receiveFailure(fromLabel label: String) {
        Counter(label: MetricName.peerReceivedFailures, dimensions: [("From", label)], factory: factory).increment()
    }
}

/// The series of one remote peer. Each property is the handler to call directly.
final class PeerMetrics: Sendable {
    /// `etcd_network_active_peers{Local,Remote}`: 1 while the peer is active. Changed by `PeerStatus`.
    let activePeers: Meter
    /// `etcd_network_disconnected_peers_total{Local,Remote}`: active → inactive changes.
    let disconnectedPeers: Counter
    /// `etcd_network_peer_sent_bytes_total{To}`: bytes of messages sent (protobuf size), and of
    /// snapshots sent (database size).
    let sentBytes: Counter
    /// `etcd_network_peer_received_bytes_total{From}`.
    let receivedBytes: Counter
    /// `etcd_network_peer_sent_failures_total{To}`: messages dropped or failed.
    let sentFailures: Counter
    /// `etcd_network_peer_received_failures_total{From}`: received messages dropped.
    let receivedFailures: Counter
    /// `etcd_network_snapshot_send_success{To}`.
    let snapshotSendSuccess: Counter
    /// `etcd_network_snapshot_send_failures{To}`.
    let snapshotSendFailures: Counter
    /// `etcd_network_snapshot_send_inflights_total{To}`: snapshots being sent now.
    let snapshotSendInflights: Meter
    /// `etcd_network_snapshot_send_total_duration_seconds{To}`: successful sends only.
    let snapshotSendDuration: Timer
    /// `etcd_network_snapshot_receive_success{From}`.
    let snapshotReceiveSuccess: Counter
    /// `etcd_network_snapshot_receive_failures{From}`.
    let snapshotReceiveFailures: Counter
    /// `etcd_network_snapshot_receive_inflights_total{From}`.
    let snapshotReceiveInflights: Meter
    /// `etcd_network_snapshot_receive_total_duration_seconds{From}`.
    let snapshotReceiveDuration: Timer
    /// `etcd_network_peer_round_trip_time_seconds{To}`: the prober's smoothed RTT.
    let roundTripTime: Timer
    /// Whether a metrics backend records these (the factory is not swift-metrics' no-op one, which
    /// it is until a process bootstraps `MetricsSystem`). The per-message counters check it first:
    /// an increment into the no-op handler still costs a retain, a release and a dynamic call on
    /// every send and every read.
    let isRecording: Bool

    fileprivate init(localLabel: String, peerID: UInt64, factory: any MetricsFactory) {
        let peer = MemberID(peerID).description
        let pair = [("Local", localLabel), ("Remote", peer)]
        let to = [("To", peer)]
        let from = [("From", peer)]
        activePeers = Meter(label: MetricName.activePeers, dimensions: pair, factory: factory)
        disconnectedPeers = Counter(label: MetricName.disconnectedPeers, dimensions: pair, factory: factory)
        sentBytes = Counter(label: MetricName.peerSentBytes, dimensions: to, factory: factory)
        receivedBytes = Counter(label: MetricName.peerReceivedBytes, dimensions: from, factory: factory)
        sentFailures = Counter(label: MetricName.peerSentFailures, dimensions: to, factory: factory)
        receivedFailures = Counter(label: MetricName.peerReceivedFailures, dimensions: from, factory: factory)
        snapshotSendSuccess = Counter(label: MetricName.snapshotSendSuccess, dimensions: to, factory: factory)
        snapshotSendFailures = Counter(label: MetricName.snapshotSendFailures, dimensions: to, factory: factory)
        snapshotSendInflights = Meter(label: MetricName.snapshotSendInflights, dimensions: to, factory: factory)
        snapshotSendDuration = Timer(label: MetricName.snapshotSendDuration, dimensions: to, factory: factory)
        snapshotReceiveSuccess = Counter(label: MetricName.snapshotReceiveSuccess, dimensions: from, factory: factory)
        snapshotReceiveFailures = Counter(label: MetricName.snapshotReceiveFailures, dimensions: from, factory: factory)
        snapshotReceiveInflights = Meter(label: MetricName.snapshotReceiveInflights, dimensions: from, factory: factory)
        snapshotReceiveDuration = Timer(label: MetricName.snapshotReceiveDuration, dimensions: from, factory: factory)
        roundTripTime = Timer(label: MetricName.peerRoundTripTime, dimensions: to, factory: factory)
        isRecording = !(factory is NOOPMetricsHandler)
    }

    /// Adds `bytes` to ``sentBytes`` when metrics are recorded.
    @inline(__always)
    func countSent(bytes: Int) {
        if isRecording { sentBytes.increment(by: Int64(bytes)) }
    }

    /// Adds `bytes` to ``receivedBytes`` when metrics are recorded.
    @inline(__always)
    func countReceived(bytes: Int) {
        if isRecording { receivedBytes.increment(by: Int64(bytes)) }
    }
}
