// How a raft server wires the transport, as the raftexample example found it wanted to: the raft
// made together with the transport (`makeRaft`), local URLs given once the port is bound,
// removal told to raft, a MsgSnap routed by `send` with its database, and the received database's
// path handed to raft with the MsgSnap. Real transports on loopback.
import Foundation
import HTTPTypes
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

/// A raft that keeps the transport it was made with, as a raft that sends through it does:
/// weakly, as the transport holds its raft.
private final class OwningRaft: Raft {
    private let held: WeakReference
    var transport: Transport? { held.object as? Transport }
    let recorder = RecordingRaft()
    init(transport: Transport) { held = WeakReference(transport) }
    func process(_ message: Message) throws { try recorder.process(message) }
    func isIDRemoved(_ id: UInt64) -> Bool { false }
    func reportUnreachable(_ id: UInt64) {}
    func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {}
}

@Suite("Wiring a raft server to the transport")
struct TransportWiringTests {
    @Test("a transport made with makeRaft hands messages to the raft that holds it")
    func makeRaft() async throws {
        try await withEventLoop { group in
            let receiver = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000)
            var made: OwningRaft?
            let transport = Transport(configuration: .init(localID: 1, clusterID: 0x1000, localURLs: []), group: group) { transport in
                let raft = OwningRaft(transport: transport)
                made = raft
                return raft
            }
            let raft = try #require(made)
            #expect(raft.transport === transport)
            let server = HTTPServer()
            transport.registerRoutes(on: server)
            let port = try await server.start(host: "127.0.0.1", port: 0, on: group.next())
            try transport.addPeer(2, urls: [receiver.url])
            try receiver.transport.addPeer(1, urls: ["http://127.0.0.1:\(port)"])
            // Both ways: the raft's own transport sends, and delivers to the raft.
            try #require(raft.transport).send([Message(type: .msgHeartbeat, to: 2, from: 1, term: 5)])
            receiver.transport.send([Message(type: .msgHeartbeat, to: 1, from: 2, term: 6)])
            try await receiver.raft.wait(timeout: .seconds(10), "member 2 hears member 1") { $0.received.contains { $0.term == 5 } }
            try await raft.recorder.wait(timeout: .seconds(10), "the made raft hears member 2") { $0.received.contains { $0.term == 6 } }
            transport.stop()
            await server.shutdown(deadline: .zero)
            await receiver.stop()
        }
    }

    @Test("updateLocalURLs: a member bound to port 0 advertises its URL from then on (X-PeerURLs)")
    func updateLocalURLs() async throws {
        try await withEventLoop { group in
            // A plain server that records the X-PeerURLs of each pipeline post.
            let seen = Locked<[String?]>([])
            let peer = HTTPServer()
            peer.route(.post, "/raft") { request, response in
                seen.withLock { $0.append(request.head.headers["X-PeerURLs"]) }
                request.collect { _ in response.respond(HTTPResponse(status: .noContent), body: []) }
            }
            let peerPort = try await peer.start(host: "127.0.0.1", port: 0, on: group.next())
            let member = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000)
            try member.transport.addPeer(2, urls: ["http://127.0.0.1:\(peerPort)"])
            member.transport.send([Message(type: .msgHeartbeat, to: 2, from: 1, term: 1)])
            try await eventually(.seconds(10), "the first post") { seen.withLock { $0.count } == 1 }

            #expect(throws: RaftHTTPError.self) { try member.transport.updateLocalURLs(["not a url"]) }
            try member.transport.updateLocalURLs([member.url])
            #expect(member.transport.configuration.localURLs == [member.url])
            member.transport.send([Message(type: .msgHeartbeat, to: 2, from: 1, term: 2)])
            try await eventually(.seconds(10), "the second post") { seen.withLock { $0.count } == 2 }
            #expect(seen.withLock { $0 } == [nil, member.url])
            await member.stop()
            await peer.shutdown(deadline: .zero)
        }
    }

    @Test("a member refused as removed (410) hears it through Raft.reportRemoved, not only the errors stream")
    func reportRemoved() async throws {
        try await withEventLoop { _ in
            let peer = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000, raft: RecordingRaft(removed: [1]))
            let member = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000)
            try member.transport.addPeer(2, urls: [peer.url])
            try await member.raft.wait(timeout: .seconds(10), "member 1's raft hears it was removed") { !$0.removals.isEmpty }
            let error = try #require(member.raft.record.removals.first)
            #expect(error.code == .memberRemoved)
            #expect("\(error)".contains("the member has been permanently removed from the cluster"), "\(error)")
            await member.stop()
            await peer.stop()
        }
    }

    @Test("send routes a MsgSnap to sendSnapshot with Configuration.snapshotSource's database; a source that throws fails the snapshot")
    func sendRoutesSnapshots() async throws {
        try await withEventLoop { _ in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("snap-\(UInt64.random(in: 0 ... .max))").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let database = Array("the database".utf8)
            let receiver = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000) {
                $0.snapshotSink = FileSnapshotSink(directory: dir)
            }
            let sender = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) {
                $0.snapshotSource = { message in
                    guard message.snapshot.metadata.index == 7 else { throw SnapshotFileError(operation: "open", path: "nowhere", errno: ENOENT) }
                    return InMemorySnapshotSource(database)
                }
            }
            try sender.transport.addPeer(2, urls: [receiver.url])
            let snap = Message(type: .msgSnap, to: 2, from: 1, term: 3, snapshot: Snapshot(metadata: SnapshotMetadata(index: 7, term: 3)))
            sender.transport.send([Message(type: .msgHeartbeat, to: 2, from: 1, term: 3), snap])
            try await sender.raft.wait(timeout: .seconds(10), "the snapshot finished") { $0.snapshots.map(\.1) == [.finish] }
            let path = dir + "/" + FileSnapshotSink.fileName(index: 7)
            #expect(FileManager.default.contents(atPath: path).map(Array.init) == database, "the database went with it")
            #expect(receiver.raft.record.received.contains { $0.type == .msgHeartbeat }, "the other messages went as usual")

            var unreadable = snap
            unreadable.snapshot.metadata.index = 8
            sender.transport.send([unreadable])
            try await sender.raft.wait(timeout: .seconds(10), "the unreadable snapshot failed") { $0.snapshots.map(\.1) == [.finish, .failure] }
            await sender.stop()
            await receiver.stop()
        }
    }

    @Test("raft gets a received MsgSnap with the path where the FileSnapshotSink stored its database")
    func snapshotPath() async throws {
        try await withEventLoop { _ in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("snap-\(UInt64.random(in: 0 ... .max))").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let receiver = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000) {
                $0.snapshotSink = FileSnapshotSink(directory: dir)
            }
            let sender = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000)
            try sender.transport.addPeer(2, urls: [receiver.url])
            let snap = Message(type: .msgSnap, to: 2, from: 1, term: 3, snapshot: Snapshot(metadata: SnapshotMetadata(index: 0x2a, term: 3)))
            sender.transport.sendSnapshot(snap, database: InMemorySnapshotSource([1, 2, 3]))
            try await receiver.raft.wait(timeout: .seconds(10), "the receiver's raft gets the MsgSnap") { !$0.snapshotPaths.isEmpty }
            #expect(receiver.raft.record.snapshotPaths == [dir + "/000000000000002a.snap.db"])
            #expect(receiver.raft.record.received.filter { $0.type == .msgSnap }.count == 1)
            await sender.stop()
            await receiver.stop()
        }
    }
}
