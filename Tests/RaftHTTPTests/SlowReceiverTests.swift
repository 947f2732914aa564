import Foundation
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

/// A raft that takes 10 ms per message (10 ms times the sanitizer's slowdown, which slows the
/// sender as much), on the transport's loop thread: exactly a slow raft.
final class SlowRaft: Raft, Sendable {
    let delivered = Locked(0)
    func process(_ message: Message) throws { try process(batch: [message]) }
    func process(batch: [Message]) throws {
        usleep(UInt32(10_000 * ProcessResources.timeScale * batch.count))
        delivered.withLock { $0 += batch.count }
    }
    func isIDRemoved(_ id: UInt64) -> Bool { false }
    func reportUnreachable(_ id: UInt64) {}
    func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {}
}

@Suite("A slow receiver: bounded memory on both sides, drops counted and reported")
struct SlowReceiverTests {
    @Test("a raft taking 10 ms per message: the sender's queue stays bounded, drops are counted and reported, the receiver's socket is paused rather than buffered")
    func slowRaft() async throws {
        try await ResourceGate.exclusive {
            let limit = 1 << 20
            let sender = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) { $0.streamQueueLimitBytes = limit }
            let slow = SlowRaft()
            let receiver = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000, raft: RecordingRaft()) { _ in }
            // The receiver's transport must use the slow raft: a member of its own.
            await receiver.stop()
            let group = try EventLoopGroup(loopCount: 1)
            let server = HTTPServer()
            let transport = Transport(configuration: .init(localID: 2, clusterID: 0x1000, localURLs: []), raft: slow, group: group)
            transport.registerRoutes(on: server)
            let port = try await server.start(host: "127.0.0.1", port: 0, on: group.next())
            try transport.addPeer(1, urls: [sender.url])
            func cleanUp() async {
                transport.stop()
                await server.shutdown(deadline: .milliseconds(200))
                group.shutdown()
                await sender.stop()
            }
            try await withCleanUp {
                try sender.transport.addPeer(2, urls: ["http://127.0.0.1:\(port)"])
                try await eventually(.seconds(10), "streams up") {
                    sender.transport.statistics(peer: 2)?.msgAppStreamAttached == true
                }
                let rssBefore = ProcessResources.residentBytes()
                // 2000 appends of 64 KiB: 128 MiB offered to a receiver that can take ~6 MiB/s.
                let total = 2000
                var peakRSS = rssBefore
                let template = message(.msgApp, from: 1, to: 2, term: 1, index: 0, entries: 1, entrySize: 64 << 10)
                let start = ContinuousClock.now
                for n in 0..<total {
                    var m = template // the entry's bytes are shared, not copied
                    m.index = UInt64(n)
                    sender.transport.send([m])
                    if n % 100 == 0 { peakRSS = max(peakRSS, ProcessResources.residentBytes()) }
                }
                let offered = ContinuousClock.now - start
                let stats = try #require(sender.transport.statistics(peer: 2))
                #expect(stats.sentMessages + stats.dropped == total)
                #expect(stats.dropped > 0, "beyond the bound messages are dropped, not queued")
                try await sender.raft.wait(timeout: .seconds(5), "raft told 2 is unreachable") { $0.unreachable.contains(2) }
                // Both sides bounded: the sender's queue (1 MiB + a batch) plus the kernel's socket
                // buffers plus the receiver's one read buffer, nowhere near the 128 MiB offered.
                let growth = peakRSS - rssBefore
                print("[slow receiver] sent \(stats.sentMessages), dropped \(stats.dropped), RSS growth \(growth >> 20) MiB, offered in \(offered)")
                if !ProcessResources.underAddressSanitizer { // its quarantine holds freed memory
                    #expect(growth < 48 << 20, "RSS grew \(growth >> 20) MiB")
                }
                // What was accepted is delivered, in order, at the slow raft's pace.
                try await eventually(.seconds(60), "every accepted message processed") { slow.delivered.withLock { $0 } >= stats.sentMessages }
                #expect(slow.delivered.withLock { $0 } == stats.sentMessages)
            } cleanUp: {
                await cleanUp()
            }
        }
    }
}
