@testable import RaftHTTP
import RaftIO
import RaftPB
import Synchronization
import Testing
import TestSupport

@Suite("Backpressure: raft hears a peer is congested before anything drops, and clear once it drains")
struct BackpressureTests {
    /// The follower's raft is stuck at first (its gate closed blocks the loop that reads the
    /// stream), so the leader's backlog grows whatever the machine's speed: the kernel's socket
    /// buffers fill, then the connection's queue. The leader acts as raft's flow control would: it
    /// stops sending while the follower is congested. The kernel's buffers grow on their own (TCP
    /// autotuning), so a congested queue may drain into them before the follower reads anything:
    /// the test relies on the order of events, not on how much the kernel holds.
    @Test("a follower stuck, then slow: .congested before any drop, a leader that pauses on it drops nothing of 20 MiB through a 1 MiB bound, .clear after each, everything delivered in order")
    func streamCongestion() async throws {
        try await ResourceGate.exclusive {
            let limit = 1 << 20
            let stuck = RecordingRaft()
            stuck.close()
            let leader = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) {
                $0.streamQueueLimitBytes = limit
                $0.connectionReadTimeout = .seconds(600) // the stuck follower sends no heartbeats
            }
            let follower = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000, raft: stuck) {
                $0.connectionReadTimeout = .seconds(600)
            }
            // raft may send, and read the backlog, from inside the report. Weakly, as a raft holds
            // its transport: the transport holds this raft.
            let atReport = Locked<[(PeerCongestion, PeerBacklog?, dropped: Int?)]>([])
            leader.raft.congestionHook.withLock {
                $0 = { [weak transport = leader.transport] id, state in
                    guard let transport else { return }
                    transport.send([message(.msgHeartbeat, from: 1, to: id)])
                    atReport.withLock { $0.append((state, transport.backlog(peer: id), transport.statistics(peer: id)?.dropped)) }
                }
            }
            try await withCleanUp {
                try leader.transport.addPeer(2, urls: [follower.url])
                try follower.transport.addPeer(1, urls: [leader.url])
                try await eventually(.seconds(10), "streams up") {
                    leader.transport.statistics(peer: 2)?.msgAppStreamAttached == true
                }
                let template = message(.msgApp, from: 1, to: 2, term: 1, index: 0, entries: 1, entrySize: 64 << 10)
                let total = 320 // 20 MiB: past the kernel's buffers and the 1 MiB bound many times over
                var released = false
                for n in 0..<total {
                    var m = template
                    m.index = UInt64(n)
                    leader.transport.send([m])
                    guard leader.transport.backlog(peer: 2)?.isCongested == true else { continue }
                    // Told before `send` returned: nothing was dropped to get here.
                    #expect(leader.transport.statistics(peer: 2)?.dropped == 0)
                    if !released {
                        released = true
                        stuck.open()
                    }
                    try await leader.raft.wait(timeout: .seconds(60), "clear after congestion \(n)") { r in
                        r.congestion.last?.1 == .clear
                    }
                }
                #expect(released, "the stuck follower made the leader's queue pass its high watermark")
                stuck.open()
                try await stuck.wait(timeout: .seconds(60), "every append delivered") { r in
                    r.received.filter { $0.type == .msgApp }.count == total
                }
                let indexes = stuck.record.received.filter { $0.type == .msgApp }.map(\.index)
                #expect(indexes == (0..<UInt64(total)).map { $0 }, "in order, once each")
                let stats = try #require(leader.transport.statistics(peer: 2))
                #expect(stats.dropped == 0)
                #expect(leader.raft.record.unreachable.isEmpty)
                let states = leader.raft.record.congestion.map(\.1)
                #expect(!states.isEmpty && states.count % 2 == 0, "\(states)")
                #expect(states.enumerated().allSatisfy { $0.element == ($0.offset % 2 == 0 ? .congested : .clear) }, "alternating: \(states)")
                let reports = atReport.withLock { $0 }
                #expect(reports.count == states.count, "raft's sends and backlog reads from inside the report went through")
                for (state, backlog, dropped) in reports where state == .congested {
                    // Read inside the report: congested, nothing dropped, the counts within bounds.
                    let b = try #require(backlog)
                    #expect(b.isCongested && dropped == 0)
                    #expect(b.msgAppStreamBytes <= limit + (65 << 10))
                    #expect(b.msgAppStreamMessages <= total && b.msgAppStreamMessages >= b.msgAppStreamBytes / (65 << 10))
                    #expect(b.pipelineMessages == 0)
                }
                let after = try #require(leader.transport.backlog(peer: 2))
                #expect(!after.isCongested && after.congestionEvents == states.count / 2)
                print("[backpressure] \(states.count / 2) congestions over \(total) appends; first report: \(reports.first.map { "\($0.1.map { "\($0)" } ?? "-")" } ?? "-")")
            } cleanUp: {
                stuck.open()
                await leader.stop()
                await follower.stop()
            }
        }
    }

    /// No streams (the follower never dials them), so messages take the pipeline; the follower's
    /// raft is stuck, so no post finishes and at most `pipelineWorkers` messages leave the queue.
    @Test("a stuck follower on the pipeline: .congested past half the 64-message buffer with nothing dropped, .clear once the workers catch up")
    func pipelineCongestion() async throws {
        try await ResourceGate.exclusive {
            let stuck = RecordingRaft()
            stuck.close()
            let leader = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000)
            let follower = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000, raft: stuck)
            try await withCleanUp {
                try leader.transport.addPeer(2, urls: [follower.url])
                let count = 40 // > 32 + 4 workers, < 64
                for i in 0..<count {
                    leader.transport.send([message(.msgApp, from: 1, to: 2, index: UInt64(i), entries: 1)])
                }
                let record = leader.raft.record
                #expect(record.congestion.map(\.1) == [.congested])
                let backlog = try #require(leader.transport.backlog(peer: 2))
                #expect(backlog.isCongested)
                #expect(backlog.pipelineMessages + backlog.pipelinePostsInFlight == count)
                #expect(backlog.pipelineMessages >= count - 4)
                #expect(backlog.queuedStreamBytes == 0)
                #expect(leader.transport.statistics(peer: 2)?.dropped == 0)

                stuck.open()
                try await leader.raft.wait(timeout: .seconds(60), "clear") { r in r.congestion.contains { $0.1 == .clear } }
                try await stuck.wait(timeout: .seconds(60), "all delivered") { $0.received.count == count }
                #expect(leader.raft.record.congestion.map(\.1) == [.congested, .clear])
                #expect(leader.transport.statistics(peer: 2)?.dropped == 0)
            } cleanUp: {
                stuck.open()
                await leader.stop()
                await follower.stop()
            }
        }
    }

    @Test("a congested peer that is removed ends clear (its connections and queues are gone)")
    func closedConnectionClears() async throws {
        try await ResourceGate.exclusive {
            let stuck = RecordingRaft()
            stuck.close()
            let leader = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) {
                $0.streamQueueLimitBytes = 1 << 20
                $0.connectionReadTimeout = .seconds(600)
            }
            let follower = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000, raft: stuck) {
                $0.connectionReadTimeout = .seconds(600)
            }
            try await withCleanUp {
                try leader.transport.addPeer(2, urls: [follower.url])
                try follower.transport.addPeer(1, urls: [leader.url])
                try await eventually(.seconds(10), "streams up") {
                    leader.transport.statistics(peer: 2)?.msgAppStreamAttached == true
                }
                let template = message(.msgApp, from: 1, to: 2, entries: 1, entrySize: 64 << 10)
                var sent = 0
                while sent < 2000, !leader.raft.record.congestion.contains(where: { $0.1 == .congested }) {
                    leader.transport.send([template])
                    sent += 1
                }
                #expect(leader.raft.record.congestion.first?.1 == .congested)
                // The peer is removed: its writers close their connections, queues and all. (The
                // queue may also have drained into the kernel's growing buffers already: either
                // way raft's last word on the peer is `.clear`.)
                leader.transport.removePeer(2)
                try await leader.raft.wait(timeout: .seconds(30), "clear") { r in r.congestion.last?.1 == .clear }
                let states = leader.raft.record.congestion.map(\.1)
                #expect(states.count % 2 == 0 && states.enumerated().allSatisfy { $0.element == ($0.offset % 2 == 0 ? .congested : .clear) }, "\(states)")
            } cleanUp: {
                stuck.open()
                await leader.stop()
                await follower.stop()
            }
        }
    }

    @Test("the stream backlog counts the messages in the queued bytes per batch, errs high when merging, and forgets what left")
    func streamBacklogCounting() {
        var b = StreamBacklog()
        b.wrote(messages: 3, bytes: 300, queuedBefore: 0)
        b.wrote(messages: 2, bytes: 200, queuedBefore: 300)
        #expect(b.messages(queued: 500) == 5)
        #expect(b.messages(queued: 250) == 5, "the first batch is partly out: it still counts")
        #expect(b.messages(queued: 200) == 2)
        #expect(b.messages(queued: 0) == 0)
        // Far more batches waiting than it keeps apart: merged, the count errs high, never low.
        var c = StreamBacklog()
        for i in 0..<1000 { c.wrote(messages: 1, bytes: 10, queuedBefore: i * 10) }
        #expect(c.messages(queued: 10_000) == 1000)
        let some = c.messages(queued: 5_000)
        #expect(some >= 500 && some <= 1000)
        #expect(c.messages(queued: 0) == 0)
    }

    @Test("watermarks are fractions of a channel's bound, at least 1, low at most high")
    func watermarkMarks() {
        #expect(CongestionWatermarks().marks(bound: 64) == (32, 16))
        #expect(CongestionWatermarks(high: 0.9, low: 0.95).marks(bound: 100) == (90, 90))
        #expect(CongestionWatermarks(high: 0, low: 0).marks(bound: 100) == (1, 1))
    }
}
