@testable import RaftHTTP
import MetricsTestKit
import RaftIO
import Testing
import TestSupport

@Suite("peer status: active, inactive, logged once")
struct PeerStatusTests {
    let peer: UInt64 = 0x8e9e05c52164694d

    private func status(at time: Locked<Int64>, metrics: PeerMetrics? = nil) -> (PeerStatus, CapturingLogHandler.Store) {
        let (logger, store) = CapturingLogHandler.logger()
        let status = PeerStatus(peerID: peer, logger: logger, metrics: metrics) {
            WallClockTime(nanosecondsSinceEpoch: time.withLock { $0 })
        }
        return (status, store)
    }

    @Test("a new peer is inactive with no active-since time")
    func startsInactive() {
        let (status, store) = status(at: Locked(0))
        #expect(!status.isActive)
        #expect(status.activeSince == nil)
        #expect(store.lines.isEmpty)
    }

    @Test("activation is logged once and keeps the time of the first activation")
    func activateOnce() {
        let clock = Locked<Int64>(1_000)
        let (status, store) = status(at: clock)
        #expect(status.activate())
        clock.withLock { $0 = 2_000 }
        #expect(!status.activate())
        #expect(status.activeSince == WallClockTime(nanosecondsSinceEpoch: 1_000))
        #expect(store.messages == ["peer became active"])
        #expect(store.lines.first?.level == .info)
        #expect(store.lines.first?.metadata["peer-id"] == "8e9e05c52164694d")
    }

    @Test("deactivation logs etcd's warning with the failure reason once, then debug lines")
    func deactivateOnce() {
        let (status, store) = status(at: Locked(5))
        status.activate()
        #expect(status.deactivate(.streamDial(.msgAppV2), reason: "connection refused"))
        #expect(!status.deactivate(.pipelineWrite, reason: "EOF"))
        #expect(!status.isActive)
        #expect(status.activeSince == nil)
        let lines = store.lines
        #expect(lines.map(\.message) == ["peer became active", "peer became inactive (message send to peer failed)",
                                         "peer deactivated again"])
        #expect(lines[1].level == .warning)
        #expect(lines[1].metadata["error"]
            == "failed to dial 8e9e05c52164694d on stream MsgApp v2 (connection refused)")
        #expect(lines[2].level == .debug)
        #expect(lines[2].metadata["error"] == "failed to write 8e9e05c52164694d on pipeline (EOF)")
    }

    @Test("failure sources and actions are etcd's words")
    func failureTypes() {
        let (status, _) = status(at: Locked(0))
        #expect(status.reason(.streamRead(.message), "EOF") == "failed to read 8e9e05c52164694d on stream Message (EOF)")
        #expect(status.reason(.streamWrite(.msgAppV2), "x") == "failed to write 8e9e05c52164694d on stream MsgApp v2 (x)")
        #expect(status.reason(.streamHeartbeat(.message), "x") == "failed to heartbeat 8e9e05c52164694d on stream Message (x)")
        #expect(status.reason(.snapshotPost, "x") == "failed to post 8e9e05c52164694d on sendMsgSnap (x)")
    }

    @Test("a change moves etcd_network_active_peers and counts disconnections")
    func metrics() throws {
        let testMetrics = TestMetrics()
        let transport = TransportMetrics(localID: 1, factory: testMetrics)
        let (status, _) = status(at: Locked(0), metrics: transport.peer(peer))
        status.activate()
        let dimensions = [("Local", "1"), ("Remote", "8e9e05c52164694d")]
        #expect(try testMetrics.expectMeter("etcd_network_active_peers", dimensions).lastValue == 1)
        status.deactivate(.pipelineWrite, reason: "EOF")
        status.deactivate(.pipelineWrite, reason: "EOF")
        #expect(try testMetrics.expectMeter("etcd_network_active_peers", dimensions).lastValue == 0)
        #expect(try testMetrics.expectCounter("etcd_network_disconnected_peers_total", dimensions).totalValue == 1)
    }

    @Test("concurrent flips from many threads log exactly one line per change")
    func concurrent() async {
        let (status, store) = status(at: Locked(0))
        await withTaskGroup(of: (Bool, Bool).self) { group in
            for _ in 0 ..< 8 {
                group.addTask {
                    var activations = 0
                    var deactivations = 0
                    for _ in 0 ..< 200 {
                        if status.activate() { activations += 1 }
                        if status.deactivate(.pipelineWrite, reason: "x") { deactivations += 1 }
                    }
                    return (activations > 0, deactivations > 0)
                }
            }
            for await _ in group {}
        }
        let active = store.lines.filter { $0.message == "peer became active" }.count
        let inactive = store.lines.filter { $0.message == "peer became inactive (message send to peer failed)" }.count
        #expect(active == inactive)
        #expect(active >= 1)
    }
}
