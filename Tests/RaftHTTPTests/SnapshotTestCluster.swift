// Helpers of the snapshot tests: a two-member cluster on loopback, pattern sources and a checksumming sink.
import Foundation
import HTTPTypes
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import TestSupport

extension RecordingRaft {
    /// The snapshot reports raft has heard, in order.
    var snapshotStatuses: [SnapshotStatus] { record.snapshots.map(\.1) }
    /// The MsgSnaps raft has processed.
    var snapshotsProcessed: [Message] { record.received.filter { $0.type == .msgSnap } }
}

/// Two members, 1 (the sender, "a") and 2 (the receiver, "b"), on loopback.
struct SnapshotTestCluster {
    static let clusterID: UInt64 = 0x1000

    struct Member {
        let id: UInt64
        let transport: Transport
        let server: HTTPServer
        let port: Int
        let raft: RecordingRaft
        var url: String { "http://127.0.0.1:\(port)" }
    }

    let a: Member
    let b: Member

    /// Builds the cluster; `sink` and `receiveTimeout` configure member 2's receiver.
    static func make(group: EventLoopGroup, sink: (any SnapshotSink)?, receiveTimeout: Duration = .seconds(5),
                     progressTimeout: Duration = .seconds(5),
                     serverConfiguration: HTTPServer.Configuration = .init()) async throws -> SnapshotTestCluster {
        func member(_ id: UInt64, sink: (any SnapshotSink)?) async throws -> Member {
            let raft = RecordingRaft()
            var configuration = Transport.Configuration(localID: id, clusterID: clusterID, localURLs: [])
            configuration.snapshotSink = sink
            configuration.snapshotReceiveTimeout = receiveTimeout
            configuration.requestProgressTimeout = progressTimeout
            let transport = Transport(configuration: configuration, raft: raft, group: group)
            let server = HTTPServer(configuration: serverConfiguration)
            transport.registerRoutes(on: server)
            let port = try await server.start(host: "127.0.0.1", port: 0, on: group.next())
            return Member(id: id, transport: transport, server: server, port: port, raft: raft)
        }
        let a = try await member(1, sink: nil)
        let b = try await member(2, sink: sink)
        try a.transport.addPeer(2, urls: [b.url])
        try b.transport.addPeer(1, urls: [a.url])
        return SnapshotTestCluster(a: a, b: b)
    }

    func shutdown() async {
        a.transport.stop()
        b.transport.stop()
        await a.server.shutdown(deadline: .milliseconds(200))
        await b.server.shutdown(deadline: .milliseconds(200))
    }

    /// A MsgSnap from 1 to 2 at `index`.
    static func msgSnap(index: UInt64 = 42) -> Message {
        Message(type: .msgSnap, to: 2, from: 1, term: 3,
                snapshot: Snapshot(data: [1, 2, 3][...], metadata: SnapshotMetadata(index: index, term: 3)))
    }

    /// The headers etcd member 1 of this cluster sends.
    static var peerHeaders: HTTPFields {
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Server-From")!] = "1"
        fields[HTTPField.Name("X-Server-Version")!] = "3.4.23"
        fields[HTTPField.Name("X-Min-Cluster-Version")!] = "3.0.0"
        fields[HTTPField.Name("X-Etcd-Cluster-Id")!] = String(clusterID, radix: 16)
        fields[.contentType] = "application/octet-stream"
        return fields
    }
}

/// A database of `size` pattern bytes, made on the fly. It can misbehave: end early
/// (`shortBy`), throw after `failAfter` bytes, pause once after `stallAfter` bytes for
/// `stallFor`, or sleep `delayPerChunk` before each read of at most `chunkLimit` bytes.
final class PatternSource: SnapshotSource, @unchecked Sendable {
    // @unchecked Sendable: `offset` and `checksum` are touched by `read` only, which the sender
    // calls one at a time; the close record is behind a mutex.
    let size: UInt64
    var shortBy: UInt64 = 0
    var failAfter: UInt64?
    var stallAfter: UInt64?
    var stallFor: Duration = .zero
    var delayPerChunk: Duration?
    var chunkLimit = Int.max
    private var offset: UInt64 = 0
    private(set) var checksum = StreamChecksum()
    let closeError = Locked<(closed: Bool, error: String?)>((false, nil))

    struct Injected: Error, CustomStringConvertible { var description: String { "injected source failure" } }

    init(size: UInt64) { self.size = size }

    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        if let failAfter, offset >= failAfter { throw Injected() }
        if let stallAfter, offset >= stallAfter {
            self.stallAfter = nil
            try await Task.sleep(for: stallFor)
        }
        if let delayPerChunk { try await Task.sleep(for: delayPerChunk) }
        let end = size - shortBy
        let n = Int(min(UInt64(min(buffer.count, chunkLimit)), end - offset))
        guard n > 0 else { return 0 }
        let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
        PatternBytes.fill(slice, offset: offset)
        checksum.update(UnsafeRawBufferPointer(slice))
        offset += UInt64(n)
        return n
    }

    func close(error: (any Error)?) {
        closeError.withLock { $0 = (true, error.map { "\($0)" }) }
    }
}

/// A sink that checksums what it is given and records how each database ended.
final class ChecksumSink: SnapshotSink {
    struct Record {
        var checksum = StreamChecksum()
        var finished = false
        var aborted = false
        var began = 0
    }
    let record = Locked(Record())

    func begin(from: UInt64, message: Message) throws -> any SnapshotSinkWriter {
        record.withLock { $0.began += 1 }
        return Writer(sink: self)
    }

    final class Writer: SnapshotSinkWriter {
        let sink: ChecksumSink
        init(sink: ChecksumSink) { self.sink = sink }
        func write(_ bytes: UnsafeRawBufferPointer) throws { sink.record.withLock { $0.checksum.update(bytes) } }
        func finish() throws { sink.record.withLock { $0.finished = true } }
        func abort() { sink.record.withLock { $0.aborted = true } }
    }

    var snapshot: Record { record.withLock { $0 } }
}
