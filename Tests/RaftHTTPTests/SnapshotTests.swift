// The snapshot path end to end on loopback: a sender transport posts to a receiver transport.
import Foundation
import HTTPTypes
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import RaftStreamCodec
import TestSupport
import Testing

@Suite("Snapshots")
struct SnapshotTests {
    @Test("a 1 GiB snapshot streams byte-identical with bounded memory, then raft hears finish")
    func oneGiB() async throws {
        try await ResourceGate.exclusive {
            let group = try EventLoopGroup(loopCount: 2)
            defer { group.shutdown() }
            let sink = ChecksumSink()
            let cluster = try await SnapshotTestCluster.make(group: group, sink: sink)
            let size: UInt64 = 1 << 30
            let source = PatternSource(size: size)
            let baseline = ProcessResources.residentBytes()
            let peak = Locked(baseline)
            let sampling = Task {
                while !Task.isCancelled {
                    let now = ProcessResources.residentBytes()
                    peak.withLock { $0 = max($0, now) }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            let start = ContinuousClock.now
            cluster.a.transport.sendSnapshot(SnapshotTestCluster.msgSnap(), database: source)
            try await eventually(.seconds(120), "the snapshot report") { !cluster.a.raft.snapshotStatuses.isEmpty }
            let elapsed = ContinuousClock.now - start
            sampling.cancel()
            #expect(cluster.a.raft.snapshotStatuses == [.finish])
            #expect(cluster.b.raft.snapshotsProcessed.map(\.snapshot.metadata.index) == [42])
            let record = sink.snapshot
            #expect(record.finished && !record.aborted)
            #expect(record.checksum.count == Int(size))
            #expect(record.checksum == source.checksum)
            #expect(source.closeError.withLock { $0.closed && $0.error == nil })
            let growth = peak.withLock { $0 } - baseline
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("1 GiB snapshot: \(String(format: "%.2f", seconds)) s, \(String(format: "%.0f", 1024 / seconds)) MiB/s, "
                + "RSS growth (sender + receiver, one process) \(growth >> 20) MiB")
            // Both sides live in this process: the bound is the sum of the two 64 MiB budgets.
            if !ProcessResources.underAddressSanitizer { // its quarantine holds freed memory
                #expect(growth < 128 << 20)
            }
            await cluster.shutdown()
        }
    }

    @Test("a transfer cut off midway leaves no file and raft sees nothing")
    func cutOffMidway() async throws {
        try await withEventLoop { group in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("snap-\(UInt64.random(in: 0 ... .max))").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let stored = Locked(0)
            let cluster = try await SnapshotTestCluster.make(group: group,
                                                             sink: FileSnapshotSink(directory: dir) { _ in stored.withLock { $0 += 1 } })
            let source = PatternSource(size: 64 << 20)
            source.failAfter = 10 << 20
            cluster.a.transport.sendSnapshot(SnapshotTestCluster.msgSnap(), database: source)
            try await eventually(.seconds(10), "raft hears the snapshot failed") { cluster.a.raft.snapshotStatuses == [.failure] }
            // The receiver learns of the cut when the connection closes; its temp file goes then.
            try await eventually(.seconds(10), "no temporary file left") { (try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty == true }
            #expect(source.closeError.withLock { $0.error?.contains("injected source failure") == true })
            #expect(stored.withLock { $0 } == 0)
            #expect(cluster.b.raft.snapshotsProcessed.isEmpty)
            await cluster.shutdown()
        }
    }

    @Test("a stored snapshot is named after its index and raft gets the message after the file exists")
    func fileSink() async throws {
        try await withEventLoop { group in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("snap-\(UInt64.random(in: 0 ... .max))").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let stored = Locked<[FileSnapshotSink.Stored]>([])
            let cluster = try await SnapshotTestCluster.make(group: group,
                                                             sink: FileSnapshotSink(directory: dir) { s in stored.withLock { $0.append(s) } })
            let source = PatternSource(size: (3 << 20) + 17)
            cluster.a.transport.sendSnapshot(SnapshotTestCluster.msgSnap(index: 0x2a), database: source)
            try await eventually(.seconds(10), "raft hears the snapshot finished") { cluster.a.raft.snapshotStatuses == [.finish] }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["000000000000002a.snap.db"])
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/000000000000002a.snap.db"))
            var checksum = StreamChecksum()
            data.withUnsafeBytes { checksum.update($0) }
            #expect(checksum == source.checksum)
            #expect(stored.withLock { $0.map(\.bytes) } == [(3 << 20) + 17])
            #expect(cluster.b.raft.snapshotsProcessed.count == 1)
            await cluster.shutdown()
        }
    }

    @Test("a source shorter than its declared size fails the snapshot (short read)")
    func shortRead() async throws {
        try await withEventLoop { group in
            let sink = ChecksumSink()
            let cluster = try await SnapshotTestCluster.make(group: group, sink: sink)
            let source = PatternSource(size: 5 << 20)
            source.shortBy = 1
            cluster.a.transport.sendSnapshot(SnapshotTestCluster.msgSnap(), database: source)
            try await eventually(.seconds(10), "raft hears the snapshot failed") { cluster.a.raft.snapshotStatuses == [.failure] }
            #expect(source.closeError.withLock { $0.error?.contains("ended after 5242879 of 5242880 bytes") == true })
            try await eventually(.seconds(10), "the sink aborted") { sink.snapshot.aborted }
            #expect(!sink.snapshot.finished)
            #expect(cluster.b.raft.snapshotsProcessed.isEmpty)
            await cluster.shutdown()
        }
    }

    @Test("removing the peer during a transfer cancels it: raft hears failure, the sink is aborted")
    func removePeerCancels() async throws {
        try await withEventLoop { group in
            let sink = ChecksumSink()
            let cluster = try await SnapshotTestCluster.make(group: group, sink: sink)
            let source = PatternSource(size: 4 << 30)
            cluster.a.transport.sendSnapshot(SnapshotTestCluster.msgSnap(), database: source)
            try await eventually(.seconds(10), "the sink received bytes") { sink.snapshot.checksum.count > 0 }
            cluster.a.transport.removePeer(cluster.b.id)
            try await eventually(.seconds(10), "raft hears the snapshot failed") { cluster.a.raft.snapshotStatuses == [.failure] }
            try await eventually(.seconds(10), "the sink aborted") { sink.snapshot.aborted }
            #expect(cluster.b.raft.snapshotsProcessed.isEmpty)
            await cluster.shutdown()
        }
    }

    @Test("a peer whose answer's body does not end within 5 s of its head fails the snapshot with response timed out")
    func responseTimeout() async throws {
        try await withEventLoop { group in
            // Announces a body of 10 bytes and never sends it: only the response timeout ends this.
            let dumb = try await DumbStreamPeer { path in
                path == "/raft/snapshot" ? Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".utf8) : nil
            }
            defer { dumb.stop() }
            let cluster = try await SnapshotTestCluster.make(group: group, sink: ChecksumSink())
            try cluster.a.transport.addPeer(3, urls: [dumb.url])
            let source = PatternSource(size: 1000)
            var message = SnapshotTestCluster.msgSnap()
            message.to = 3
            cluster.a.transport.sendSnapshot(message, database: source)
            // The timeout is 5 s; the deadline is only a hang guard.
            try await eventually(.seconds(60), "raft hears the snapshot failed") { cluster.a.raft.snapshotStatuses == [.failure] }
            #expect(source.closeError.withLock { $0.error } == "snapshot to peer 3 at \(dumb.url) failed: response timed out: "
                + "the body of its 200 answer did not end within 5 s of the head")
            #expect(cluster.a.raft.record.snapshots.count == 1)
            #expect(dumb.requests.contains("/raft/snapshot"))
            await cluster.shutdown()
        }
    }

    @Test("a snapshot to an unknown peer fails at once with member not found")
    func unknownPeer() async throws {
        try await withEventLoop { group in
            let cluster = try await SnapshotTestCluster.make(group: group, sink: ChecksumSink())
            let source = PatternSource(size: 10)
            var message = SnapshotTestCluster.msgSnap()
            message.to = 9
            cluster.a.transport.sendSnapshot(message, database: source)
            #expect(cluster.a.raft.record.snapshots.map { "\($0.0) \($0.1)" } == ["9 failure"])
            #expect(source.closeError.withLock { $0.error?.contains("member not found") == true })
            await cluster.shutdown()
        }
    }

    @Test("a head that is not a MsgSnap is refused with 400 wrong raft message type")
    func wrongMessageType() async throws {
        try await withEventLoop { group in
            let sink = ChecksumSink()
            let cluster = try await SnapshotTestCluster.make(group: group, sink: sink)
            let body = SnapshotBody.encode(message: Message(type: .msgApp, to: 2, from: 1), database: [1, 2, 3])
            let (status, text) = try await post(body, to: cluster.b, group: group)
            #expect(status == 400)
            #expect(text == "wrong raft message type\n")
            #expect(sink.snapshot.began == 0)
            #expect(cluster.b.raft.snapshotsProcessed.isEmpty)
            await cluster.shutdown()
        }
    }

    @Test("a body shorter than its Content-Length (the sender hangs up) is aborted; one longer is cut at the length and the rest refused")
    func bodyShorterOrLongerThanDeclared() async throws {
        try await withEventLoop { group in
            let sink = ChecksumSink()
            let cluster = try await SnapshotTestCluster.make(group: group, sink: sink)
            let body = SnapshotBody.encode(message: SnapshotTestCluster.msgSnap(), database: [UInt8](repeating: 7, count: 100_000))
            func head(_ length: Int) -> String {
                "POST /raft/snapshot HTTP/1.1\r\nHost: x\r\nX-Server-From: 1\r\nX-Server-Version: 3.4.23\r\n"
                    + "X-Min-Cluster-Version: 3.0.0\r\nX-Etcd-Cluster-Id: \(String(SnapshotTestCluster.clusterID, radix: 16))\r\n"
                    + "Content-Length: \(length)\r\n\r\n"
            }
            // Shorter: 10,000 bytes fewer than declared, then the connection closes.
            let short = try await RawClient.connect(port: cluster.b.port, on: group.next())
            try short.send(head(body.count + 10_000))
            try short.send(body)
            short.connection.close(graceful: true) // everything written, then FIN
            try await eventually(.seconds(10), "the sink aborted") { sink.snapshot.aborted }
            #expect(sink.snapshot.began == 1)
            #expect(!sink.snapshot.finished)
            #expect(cluster.b.raft.snapshotsProcessed.isEmpty)
            // Longer: the declared length is the message; what follows is not a request.
            let long = try await RawClient.connect(port: cluster.b.port, on: group.next())
            try long.send(head(body.count))
            try long.send(body + Array("GARBAGE AFTER THE BODY\r\n\r\n".utf8))
            let answer = await long.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 204"), "\(answer.prefix(80))")
            #expect(answer.contains("HTTP/1.1 400"), "the trailing bytes are refused as a request")
            #expect(cluster.b.raft.snapshotsProcessed.count == 1)
            #expect(sink.snapshot.checksum.count == 100_000)
            await cluster.shutdown()
        }
    }

    @Test("a garbage head is refused with 400 failed to decode raft message")
    func garbageHead() async throws {
        try await withEventLoop { group in
            let cluster = try await SnapshotTestCluster.make(group: group, sink: ChecksumSink())
            let body: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]
            var decoder = SnapshotHeadDecoder()
            var expected = ""
            do { _ = try decoder.feed(body) } catch { expected = "failed to decode raft message (\(error))\n" }
            #expect(!expected.isEmpty)
            let (status, text) = try await post(body, to: cluster.b, group: group)
            #expect(status == 400)
            #expect(text == expected)
            await cluster.shutdown()
        }
    }

    @Test("GET /raft/snapshot is answered 405 with Allow: POST")
    func methodNotAllowed() async throws {
        try await withEventLoop { group in
            let cluster = try await SnapshotTestCluster.make(group: group, sink: ChecksumSink())
            let client = HTTPClient(eventLoopGroup: group)
            let response = try await client.execute(HTTPClientRequest(url: cluster.b.url + "/raft/snapshot"))
            _ = try await response.body.collect(upTo: 4096)
            #expect(response.head.status == 405)
            #expect(response.response.headerFields[.allow] == "POST")
            await cluster.shutdown()
        }
    }

    @Test("a receiver without a sink refuses with 500 failed to save KV snapshot")
    func noSink() async throws {
        try await withEventLoop { group in
            let cluster = try await SnapshotTestCluster.make(group: group, sink: nil)
            let body = SnapshotBody.encode(message: SnapshotTestCluster.msgSnap(), database: [1, 2, 3])
            let (status, text) = try await post(body, to: cluster.b, group: group)
            #expect(status == 500)
            #expect(text == "failed to save KV snapshot (no snapshot sink configured)\n")
            await cluster.shutdown()
        }
    }

    @Test("raft refusing the MsgSnap of a removed member is answered 403 and the sender reports it")
    func removedMember() async throws {
        try await withEventLoop { group in
            let cluster = try await SnapshotTestCluster.make(group: group, sink: ChecksumSink())
            cluster.b.raft.processError.withLock { $0 = RaftProcessError.removedMember }
            cluster.a.transport.sendSnapshot(SnapshotTestCluster.msgSnap(), database: PatternSource(size: 1000))
            try await eventually(.seconds(10), "raft hears the snapshot failed") { cluster.a.raft.snapshotStatuses == [.failure] }
            var errors = cluster.a.transport.errors.makeAsyncIterator()
            #expect(await errors.next()?.code == .memberRemoved)
            await cluster.shutdown()
        }
    }

    @Test("a sender that stalls past the receive timeout is cut off and the sink aborted")
    func stalledSender() async throws {
        // Alone, for the same reason as `slowButMoving`: the sender's pacing must not be starved.
        try await ResourceGate.exclusive {
            let group = try EventLoopGroup(loopCount: 2)
            defer { group.shutdown() }
            let sink = ChecksumSink()
            let cluster = try await SnapshotTestCluster.make(group: group, sink: sink, receiveTimeout: .milliseconds(300))
            let source = PatternSource(size: 8 << 20)
            source.stallAfter = 2 << 20
            source.stallFor = .seconds(3)
            cluster.a.transport.sendSnapshot(SnapshotTestCluster.msgSnap(), database: source)
            // The stall (3 s) is ten times the receive timeout: the receiver must give up during it.
            // Had it not, the transfer would complete after the stall (`finished`). No wall-clock
            // bound: on a busy machine the sender itself may be scheduled late.
            try await eventually(.seconds(30), "the sink ended") { sink.snapshot.aborted || sink.snapshot.finished }
            #expect(sink.snapshot.aborted)
            try await eventually(.seconds(10), "raft hears the snapshot failed") { cluster.a.raft.snapshotStatuses == [.failure] }
            #expect(!sink.snapshot.finished)
            #expect(cluster.b.raft.snapshotsProcessed.isEmpty)
            await cluster.shutdown()
        }
    }

    @Test("a snapshot send that moves no byte for the progress timeout fails as stalled, counted, raft hears .failure")
    func senderProgressDeadline() async throws {
        try await ResourceGate.exclusive {
            let group = try EventLoopGroup(loopCount: 2)
            defer { group.shutdown() }
            let sink = ChecksumSink()
            // The receiver waits far longer (60 s) than the sender (300 ms): the sender's deadline
            // is what ends the transfer, during a stall ten times as long as it.
            let cluster = try await SnapshotTestCluster.make(group: group, sink: sink, receiveTimeout: .seconds(60),
                                                             progressTimeout: .milliseconds(300))
            let source = PatternSource(size: 8 << 20)
            source.stallAfter = 2 << 20
            source.stallFor = .seconds(3)
            cluster.a.transport.sendSnapshot(SnapshotTestCluster.msgSnap(), database: source)
            try await eventually(.seconds(30), "raft hears the snapshot failed") { !cluster.a.raft.snapshotStatuses.isEmpty }
            #expect(cluster.a.raft.snapshotStatuses == [.failure])
            #expect(cluster.a.transport.statistics(peer: 2)?.stalledSnapshotSends == 1)
            let error = cluster.a.transport.statistics(peer: 2)?.lastError ?? ""
            #expect(error.contains("no progress: no bytes moved for 300 ms"), "\(error)")
            try await eventually(.seconds(30), "the receiver's sink aborted") { sink.snapshot.aborted }
            #expect(cluster.b.raft.snapshotsProcessed.isEmpty)
            await cluster.shutdown()
        }
    }

    @Test("a slow but moving transfer outlives the receive timeout, the sender's progress deadline and the server's read timeout")
    func slowButMoving() async throws {
        // Alone: the sender paces itself with task sleeps, and a concurrent test holding the two
        // cooperative threads (certificate generation, blocking joins) can delay a 70 ms sleep past
        // the 1 s progress deadline, which then correctly kills a transfer that really did stall.
        try await ResourceGate.exclusive {
            let group = try EventLoopGroup(loopCount: 2)
            defer { group.shutdown() }
            let sink = ChecksumSink()
            // The server's fixed request deadline (600 ms) is shorter than the transfer (about
            // 1.4 s): the snapshot route must lift it and rely on its progress deadline alone. The
            // gap between chunks (70 ms) is far below that deadline (1 s), so a busy machine's
            // scheduling delays cannot make a moving transfer look stalled.
            // The sender's progress deadline (1 s) is shorter than the transfer too: it never
            // fires while bytes move.
            let cluster = try await SnapshotTestCluster.make(group: group, sink: sink, receiveTimeout: .seconds(1),
                                                             progressTimeout: .seconds(1),
                                                             serverConfiguration: .init(requestReadTimeout: .milliseconds(600)))
            let source = PatternSource(size: 20 * 64 << 10)
            source.chunkLimit = 64 << 10
            source.delayPerChunk = .milliseconds(70)
            cluster.a.transport.sendSnapshot(SnapshotTestCluster.msgSnap(), database: source)
            try await eventually(.seconds(10), "the snapshot report") { !cluster.a.raft.snapshotStatuses.isEmpty }
            #expect(cluster.a.raft.snapshotStatuses == [.finish], "\(source.closeError.withLock { $0.error ?? "" })")
            #expect(sink.snapshot.checksum == source.checksum)
            #expect(cluster.b.raft.snapshotsProcessed.count == 1)
            await cluster.shutdown()
        }
    }

    /// POSTs `body` to member `to`'s snapshot route as member 1 would; returns status and body text.
    private func post(_ body: [UInt8], to member: SnapshotTestCluster.Member, group: EventLoopGroup) async throws -> (Int, String) {
        let client = HTTPClient(eventLoopGroup: group)
        let response = try await client.execute(HTTPClientRequest(method: .post, url: member.url + "/raft/snapshot",
                                                                  headerFields: SnapshotTestCluster.peerHeaders, body: .bytes(body)))
        let bytes = try await response.body.collect(upTo: 4096)
        return (response.head.status, String(decoding: bytes, as: UTF8.self))
    }
}
