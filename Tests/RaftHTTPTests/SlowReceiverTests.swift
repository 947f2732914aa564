import Foundation
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("A slow receiver: bounded memory on both sides, drops counted and reported")
struct SlowReceiverTests {
    /// The receiving raft is stuck (its gate closed, so `process` blocks the receiver's loop thread,
    /// where the stream is read) until the sender has offered everything: whatever the machine's
    /// speed, the backlog is certain, so the queue bound, the drops and the unreachable report are
    /// observed every time.
    @Test("a raft stuck while 128 MiB is offered: the sender's queue stays bounded, drops are counted and reported, the receiver stops reading rather than buffering, and what was accepted arrives in order")
    func slowRaft() async throws {
        try await ResourceGate.exclusive {
            let limit = 1 << 20
            let stuck = RecordingRaft()
            stuck.close()
            // The stuck raft holds the receiver's loop, so its link heartbeats stop too: a read
            // timeout far above the test's length keeps either side from closing the streams.
            let sender = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) {
                $0.streamQueueLimitBytes = limit
                $0.connectionReadTimeout = .seconds(600)
            }
            let receiver = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000, raft: stuck) {
                $0.connectionReadTimeout = .seconds(600)
            }
            try await withCleanUp {
                try sender.transport.addPeer(2, urls: [receiver.url])
                try receiver.transport.addPeer(1, urls: [sender.url])
                try await eventually(.seconds(10), "streams up") {
                    sender.transport.statistics(peer: 2)?.msgAppStreamAttached == true
                }
                let rssBefore = ProcessResources.residentBytes()
                // 2000 appends of 64 KiB: 128 MiB offered to a receiver that takes none of it.
                let total = 2000
                var peakRSS = rssBefore
                let template = message(.msgApp, from: 1, to: 2, term: 1, index: 0, entries: 1, entrySize: 64 << 10)
                for n in 0..<total {
                    var m = template // the entry's bytes are shared, not copied
                    m.index = UInt64(n)
                    sender.transport.send([m])
                    if n % 100 == 0 { peakRSS = max(peakRSS, ProcessResources.residentBytes()) }
                }
                let stats = try #require(sender.transport.statistics(peer: 2))
                #expect(stats.sentMessages + stats.dropped == total)
                // Accepted: at most the 1 MiB queue, the kernel's socket buffers and one read of the
                // receiver's before its raft blocked; far fewer than the 2000 offered.
                #expect(stats.dropped > total / 2, "beyond the bound messages are dropped, not queued: \(stats)")
                try await sender.raft.wait(timeout: .seconds(10), "raft told 2 is unreachable") { $0.unreachable.contains(2) }
                // Both sides bounded: the sender's queue (1 MiB + a batch) plus the kernel's socket
                // buffers plus the receiver's one read buffer, nowhere near the 128 MiB offered.
                let growth = peakRSS - rssBefore
                print("[slow receiver] sent \(stats.sentMessages), dropped \(stats.dropped), RSS growth \(growth >> 20) MiB")
                if !ProcessResources.underAddressSanitizer { // its quarantine holds freed memory
                    #expect(growth < 48 << 20, "RSS grew \(growth >> 20) MiB")
                }
                // Once raft moves again, what was accepted is delivered, in the order it was sent.
                stuck.open()
                try await stuck.wait(timeout: .seconds(60), "every accepted message processed") { $0.received.count >= stats.sentMessages }
                let indexes = stuck.record.received.map(\.index)
                #expect(indexes.count == stats.sentMessages)
                #expect(indexes == indexes.sorted() && Set(indexes).count == indexes.count, "in order, once each")
            } cleanUp: {
                stuck.open()
                await sender.stop()
                await receiver.stop()
            }
        }
    }
}
