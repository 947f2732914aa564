// Step 3 of issue 6: the leader compacts its log past what it can send us as entries and sends a
// snapshot over POST /raft/snapshot. etcd keeps 5000 entries after a snapshot
// (`SnapshotCatchUpEntries`), so with `--snapshot-count 100` it needs a bit over 5100 writes; our
// member rejects every append (its hint is 0), so the leader's next index for us stays at 1.
import Foundation
import Logging
import PeerHTTP
import RaftHTTP
import RaftHTTPPeer
import RaftIO
import Testing
import TestSupport

@Suite("etcd's leader sends a lagging Swift member a snapshot", .serialized, .enabled(if: haveEtcd, Comment(rawValue: etcdMissing)),
       .timeLimit(.minutes(3)))
struct EtcdSnapshotTests {
    @Test("after compaction past our index the leader starts sending us a snapshot over POST /raft/snapshot")
    func leaderStartsSnapshot() async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(snapshotCount: 100)
            defer { harness.stop() }
            let (logger, _) = CapturingLogHandler.logger(level: .info)
            let member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger))
            do {
                try await eventually("the leader probes us", harness: harness) { member.raft.observations.lastAppend != nil }
                let group = try EventLoopGroup(loopCount: 1)
                defer { group.shutdown() }
                try await harness.putMany(5300, client: HTTPClient(eventLoopGroup: group))
                let ours = member.memberID.description
                // 3.4's capnslog: "start to send database snapshot [index: N, to <id>, size 365 kB]...".
                try await eventually("the leader starts sending us a snapshot", timeout: .seconds(30), harness: harness) {
                    (0..<2).contains { harness.log($0).contains("start to send database snapshot [index: ") && harness.log($0).contains(", to \(ours), size ") }
                }
                await member.stop()
            } catch {
                await member.stop()
                throw error
            }
        }
    }

    @Test("the snapshot arrives whole: size as announced, a bbolt header, and the leader logs it sent",
          .disabled("needs the snapshot receiver (POST /raft/snapshot), not on main yet: enable once the snapshots branch lands"))
    func snapshotReceived() async throws {
        // UNTESTED: the full receive. Once the receiver is on main: give PeerMember a snapshot sink,
        // then assert the MsgSnap reached ObserverRaft (lastSnapshotIndex > 0), the stored database's
        // size equals the announced size, its first page carries bbolt's magic 0xED0CDAED at offset
        // 16, and the leader logs "database snapshot [index: N, to: <our id>] sent out successfully".
    }
}
