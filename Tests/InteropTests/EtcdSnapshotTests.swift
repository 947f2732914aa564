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
    @Test("after compaction past our index etcd's leader sends us its database over POST /raft/snapshot: whole, bbolt, logged as sent")
    func snapshotReceived() async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(snapshotCount: 100)
            defer { harness.stop() }
            let (logger, _) = CapturingLogHandler.logger(level: .info)
            let dataDirectory = harness.dataDir + "/swift"
            let member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger,
                                                                                                   dataDirectory: dataDirectory))
            do {
                try await eventually("the leader probes us", harness: harness) { member.raft.observations.lastAppend != nil }
                let group = try EventLoopGroup(loopCount: 1)
                defer { group.shutdown() }
                try await harness.putMany(5300, client: HTTPClient(eventLoopGroup: group))
                let ours = member.memberID.description
                // 3.4 logs "database snapshot [index: N, to: <id>] sent out successfully" once our 204 arrived.
                try await eventually("the leader logs the snapshot sent", timeout: .seconds(60), harness: harness) {
                    (0..<2).contains { harness.log($0).contains("to: \(ours)] sent out successfully") }
                }
                let observed = member.raft.observations
                #expect(observed.lastSnapshotIndex > 0, "raft got the MsgSnap")
                let stored = try #require(observed.storedSnapshots.last)
                #expect(stored.index == observed.lastSnapshotIndex)
                #expect(stored.path == dataDirectory + "/member/snap/" + FileSnapshotSink.fileName(index: stored.index))
                let attributes = try FileManager.default.attributesOfItem(atPath: stored.path)
                #expect((attributes[.size] as? NSNumber)?.uint64Value == stored.bytes, "the whole database is on disk")
                // The leader announced the transfer's size in its log (go-humanize): the MsgSnap's
                // encoding plus the database (etcd's snap.Message.TotalSize). Ours must round the same.
                let announced = (0..<2).compactMap { i in
                    harness.log(i).components(separatedBy: "\n").first { $0.contains("start to send database snapshot") && $0.contains("to \(ours), size ") }
                }.first ?? ""
                let total = stored.bytes + UInt64(observed.lastSnapshotMessageSize)
                #expect(announced.contains("size \(humanizedBytes(total))"), "\(announced) vs \(total) bytes")
                // bbolt's first meta page: page header (16 bytes), then the magic 0xED0CDAED, little-endian.
                let handle = try #require(FileHandle(forReadingAtPath: stored.path))
                let head = [UInt8](handle.readData(ofLength: 20))
                try handle.close()
                #expect(Array(head[16..<20]) == [0xed, 0xda, 0x0c, 0xed])
                await member.stop()
            } catch {
                await member.stop()
                throw error
            }
        }
    }
}

/// go-humanize's `Bytes`: SI units, one decimal under 10, none above ("365 kB", "3.6 MB").
func humanizedBytes(_ bytes: UInt64) -> String {
    if bytes < 10 { return "\(bytes) B" }
    let units = ["B", "kB", "MB", "GB", "TB"]
    let exponent = min(units.count - 1, Int((log(Double(bytes)) / log(1000)).rounded(.down)))
    let value = (Double(bytes) / pow(1000, Double(exponent)) * 10 + 0.5).rounded(.down) / 10
    return value < 10 ? String(format: "%.1f %@", value, units[exponent]) : String(format: "%.0f %@", value, units[exponent])
}
