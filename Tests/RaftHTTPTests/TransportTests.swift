import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

func message(_ type: MessageType, from: UInt64, to: UInt64, term: UInt64 = 1, index: UInt64 = 0,
             entries: Int = 0, entrySize: Int = 8, commit: UInt64 = 0) -> Message {
    var m = Message()
    m.type = type
    m.from = from
    m.to = to
    m.term = term
    m.logTerm = term
    m.index = index
    m.commit = commit
    m.entries = (0..<entries).map { i in
        var e = Entry()
        e.term = term
        e.index = index + UInt64(i) + 1
        e.data = ArraySlice([UInt8](repeating: UInt8(truncatingIfNeeded: i), count: entrySize))
        return e
    }
    return m
}

@Suite("Transport: streams, channel choice, order")
struct TransportTests {
    @Test("streams come up between three members: every peer active, both writers attached, both readers reading")
    func streamsComeUp() async throws {
        try await ResourceGate.shared {
            try await TestCluster.with(count: 3) { cluster in
                try await cluster.waitUntilConnected()
                for i in 0..<3 {
                    #expect(cluster[i].transport.activePeers == 2)
                    for other in 0..<3 where other != i {
                        #expect(cluster[i].transport.activeSince(cluster[other].id) != nil)
                    }
                }
                // Each member's writers are the others' readers: attached on one side, reading on the other.
                try await eventually(.seconds(5), "every stream reader reading") {
                    (0..<3).allSatisfy { i in
                        (0..<3).filter { $0 != i }.allSatisfy { other in
                            let s = cluster[i].transport.statistics(peer: cluster[other].id)
                            return s?.msgAppStreamReading == true && s?.messageStreamReading == true
                        }
                    }
                }
                await cluster[1].stop()
                try await eventually(.seconds(5), "1's and 3's readers from the stopped member 2 stop reading") {
                    [0, 2].allSatisfy { i in
                        let s = cluster[i].transport.statistics(peer: cluster[1].id)
                        return s?.msgAppStreamReading == false && s?.messageStreamReading == false
                    }
                }
            }
        }
    }

    @Test("a refused stream dial is retried at the dial-retry frequency, no faster, until the peer accepts")
    func streamsWithinOneRetry() async throws {
        try await ResourceGate.shared {
            // Member 1 dials first and is refused (2 does not know it yet); once both of its
            // stream types have been refused, 2 learns of 1 and 1's next redials succeed. Counted
            // in dials, not seconds: a slower machine takes longer, never more dials per interval.
            let retry = Duration.milliseconds(200)
            let started = ContinuousClock.now
            // No jitter: it takes up to a fifth off a wait, and this test bounds dials by the frequency.
            let one = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) {
                $0.dialRetryFrequency = retry
                $0.dialRetryJitter = 0
            }
            let two = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000) {
                $0.dialRetryFrequency = retry
                $0.dialRetryJitter = 0
            }
            try one.transport.addPeer(2, urls: [two.url])
            try await eventually(.seconds(30), "both of 1's stream dials refused") { (one.transport.statistics(peer: 2)?.failures ?? 0) >= 2 }
            try two.transport.addPeer(1, urls: [one.url])
            try await eventually(.seconds(30), "streams up") {
                [one.transport.statistics(peer: 2), two.transport.statistics(peer: 1)].allSatisfy { s in
                    s.map { $0.msgAppStreamAttached && $0.messageStreamAttached && $0.msgAppStreamReading && $0.messageStreamReading } ?? false
                }
            }
            let dials = (one: one.transport.statistics(peer: 2)?.streamDials ?? 0, two: two.transport.statistics(peer: 1)?.streamDials ?? 0)
            let elapsed = ContinuousClock.now - started
            // Retried: more than the first dial of each type. No faster than the frequency: per
            // type at most the first dial plus one per interval elapsed.
            #expect(dials.one >= 4, "member 1 dialed \(dials.one) times")
            #expect(dials.one <= 2 * (Int(elapsed / retry) + 1), "member 1 dialed \(dials.one) times in \(elapsed)")
            #expect(dials.two == 2, "member 2 was known to member 1 from the start: one dial per type, \(dials.two) made")
            await one.stop()
            await two.stop()
        }
    }

    @Test("idle streams carry a link heartbeat every third of the read timeout: none sooner, and no read timeout fires")
    func linkHeartbeatCadence() async throws {
        try await ResourceGate.shared {
            // A 3 s read timeout: heartbeats every second on each of the two streams.
            let readTimeout = Duration.seconds(3)
            let one = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) { $0.connectionReadTimeout = readTimeout }
            let two = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000) { $0.connectionReadTimeout = readTimeout }
            try await withCleanUp {
                try one.transport.addPeer(2, urls: [two.url])
                try two.transport.addPeer(1, urls: [one.url])
                try await eventually(.seconds(30), "streams up") {
                    two.transport.statistics(peer: 1).map { $0.msgAppStreamReading && $0.messageStreamReading } ?? false
                }
                let before = try #require(two.transport.statistics(peer: 1))
                let started = ContinuousClock.now
                // Eight more heartbeats over two streams: one of them carried at least four, which
                // takes at least three intervals of a third of the read timeout. A count against a
                // lower bound on time: a slower machine only takes longer. Hang guard 60 s.
                try await eventually(.seconds(60), "8 link heartbeats") {
                    (two.transport.statistics(peer: 1)?.linkHeartbeatsReceived ?? 0) >= before.linkHeartbeatsReceived + 8
                }
                let elapsed = ContinuousClock.now - started
                #expect(elapsed >= readTimeout - .milliseconds(100), "8 heartbeats in \(elapsed): sooner than every third of the read timeout")
                // Idle, and still alive: the heartbeats kept both readers from timing out.
                let after = try #require(two.transport.statistics(peer: 1))
                #expect(after.failures == before.failures && after.msgAppStreamReading && after.messageStreamReading)
                #expect(after.receivedMessages == before.receivedMessages, "link heartbeats are not delivered to raft")
            } cleanUp: {
                await one.stop()
                await two.stop()
            }
        }
    }

    @Test("every message type reaches its peer, in order per stream, none lost while buffers have room")
    func allTypesInOrder() async throws {
        try await ResourceGate.shared {
            try await TestCluster.with(count: 3) { cluster in
                try await cluster.waitUntilConnected()
                let leader = cluster[0]
                var sent: [Message] = []
                for (i, type) in MessageType.allCasesForTests.enumerated() {
                    for to in [2, 3] as [UInt64] {
                        var m = message(type, from: 1, to: to, term: 1, index: UInt64(i), entries: type == .msgApp ? 2 : 0)
                        if type == .msgSnap { m.snapshot.metadata.index = 7 } // pipeline-only, small
                        sent.append(m)
                    }
                }
                // Appends in one run, consecutive in the same term, as raft sends them.
                for n in 0..<200 as Range<UInt64> {
                    sent.append(message(.msgApp, from: 1, to: 2, term: 2, index: 100 + n * 2, entries: 2, commit: n))
                }
                leader.transport.send(sent)
                for peer in [1, 2] {
                    let expected = sent.filter { $0.to == cluster[peer].id }
                    try await cluster[peer].raft.wait(timeout: .seconds(10), "all messages at \(peer)") { $0.received.count >= expected.count }
                    let got = cluster[peer].raft.record.received
                    #expect(got.count == expected.count)
                    // Per channel, order is kept: compare the subsequences per channel.
                    let apps = got.filter { $0.type == .msgApp }
                    #expect(apps == expected.filter { $0.type == .msgApp })
                    let others = got.filter { $0.type != .msgApp && $0.type != .msgSnap }
                    #expect(others == expected.filter { $0.type != .msgApp && $0.type != .msgSnap })
                    #expect(Set(got.map(\.type.rawValue)) == Set(expected.map(\.type.rawValue)))
                }
                #expect(leader.transport.statistics(peer: 2)?.dropped == 0)
            }
        }
    }

    @Test("with the peer's streams down, messages go by pipeline and arrive")
    func pipelineWhenStreamsDown() async throws {
        try await ResourceGate.shared {
            // Member 2 does not know member 1: it never dials 1's streams, so 1 has no writers to 2.
            let one = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000)
            let two = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000)
            try one.transport.addPeer(2, urls: [two.url])
            let batch = (0..<20).map { message(.msgHeartbeat, from: 1, to: 2, term: UInt64($0)) }
            one.transport.send(batch)
            try await two.raft.wait { $0.received.count == 20 }
            #expect(Set(two.raft.record.received.map(\.term)) == Set(0..<20))
            #expect(one.transport.statistics(peer: 2)?.messageStreamAttached == false)
            await one.stop()
            await two.stop()
        }
    }

    @Test("a full stream drops messages, counts them and reports the peer unreachable")
    func dropsWhenFull() async throws {
        try await ResourceGate.shared {
            try await TestCluster.with(count: 2, configure: { $0.streamQueueLimitBytes = 1 << 20 }) { cluster in
                try await cluster.waitUntilConnected()
                // A stuck raft on member 2 blocks its loop: it stops reading, the kernel's buffers
                // fill, and member 1's stream queue passes its 1 MiB bound.
                cluster[1].raft.close()
                let big = (0..<400).map { n in message(.msgApp, from: 1, to: 2, term: 1, index: UInt64(n), entries: 1, entrySize: 256 << 10) }
                for m in big { cluster[0].transport.send([m]) }
                let stats = try #require(cluster[0].transport.statistics(peer: 2))
                cluster[1].raft.open()
                #expect(stats.dropped > 0)
                #expect(stats.sentMessages + stats.dropped == 400)
                try await cluster[0].raft.wait { $0.unreachable.contains(2) }
                try await cluster[1].raft.wait { $0.received.count == stats.sentMessages }
            }
        }
    }

    @Test("a raft that holds the loop longer than the read timeout does not make that loop's readers time out")
    func slowRaftIsNotADeadLink() async throws {
        try await ResourceGate.shared {
            // Both judge links with a 500 ms read timeout (link heartbeats every 167 ms). While
            // member 2's raft holds its loop, member 2 sends nothing, so member 1 rightly times
            // out its readers from 2; what must not happen is member 2 timing out its own readers,
            // whose bytes were waiting in the socket all along.
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            let one = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) {
                $0.connectionReadTimeout = .milliseconds(500)
            }
            let two = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000) {
                $0.connectionReadTimeout = .milliseconds(500)
                $0.logger = logger
            }
            func stop() async {
                two.raft.open()
                await one.stop()
                await two.stop()
            }
            try await withCleanUp {
                try one.transport.addPeer(2, urls: [two.url])
                try two.transport.addPeer(1, urls: [one.url])
                try await eventually(.seconds(10), "streams up") {
                    two.transport.statistics(peer: 1)?.messageStreamReading == true
                        && two.transport.statistics(peer: 1)?.msgAppStreamReading == true
                }
                // Member 2's raft blocks its loop, where its stream readers and their timers run,
                // for three read timeouts, while member 1's link heartbeats keep arriving.
                two.raft.close()
                one.transport.send([message(.msgHeartbeat, from: 1, to: 2, term: 1)])
                try await Task.sleep(for: .milliseconds(1500))
                two.raft.open()
                try await two.raft.wait { $0.received.contains { $0.term == 1 } }
                // A message read after the block was read after the first (late) check: a loop turn
                // runs its timers before its I/O.
                one.transport.send([message(.msgHeartbeat, from: 1, to: 2, term: 2)])
                try await two.raft.wait { $0.received.contains { $0.term == 2 } }
                let timeouts = logs.lines.filter { $0.metadata["stream-reader-type"] != nil && "\($0.metadata)".contains("read timeout") }
                #expect(timeouts.isEmpty, "\(timeouts.map { "\($0.message) \($0.metadata)" })")
            } cleanUp: {
                await stop()
            }
        }
    }

    @Test("a paused peer neither gets our messages nor has its messages delivered; resume restores both")
    func pauseAndResume() async throws {
        try await ResourceGate.shared {
            try await TestCluster.with(count: 2) { cluster in
                try await cluster.waitUntilConnected()
                cluster[0].transport.pause(peer: 2)
                cluster[0].transport.send([message(.msgHeartbeat, from: 1, to: 2, term: 1)])
                cluster[1].transport.send([message(.msgHeartbeat, from: 2, to: 1, term: 2)])
                // Member 2's own message to 1 reaches 1's stream; member 1 discards it while paused.
                try await eventually(.seconds(5), "2's heartbeat read and discarded by 1") {
                    cluster[0].transport.statistics(peer: 2)?.discardedWhilePaused == 1
                }
                cluster[0].transport.resume(peer: 2)
                cluster[0].transport.send([message(.msgHeartbeat, from: 1, to: 2, term: 3)])
                cluster[1].transport.send([message(.msgHeartbeat, from: 2, to: 1, term: 4)])
                try await cluster[1].raft.wait { $0.received.contains { $0.term == 3 } }
                try await cluster[0].raft.wait { $0.received.contains { $0.term == 4 } }
                #expect(!cluster[1].raft.record.received.contains { $0.term == 1 })
                #expect(!cluster[0].raft.record.received.contains { $0.term == 2 })
            }
        }
    }

    @Test("after a peer restarts on the same port its streams come back")
    func peerRestart() async throws {
        try await ResourceGate.shared {
            try await TestCluster.with(count: 3) { cluster in
                try await cluster.waitUntilConnected()
                let before = try #require(cluster[0].transport.activeSince(3))
                try await cluster.restart(2) {
                    try await eventually(.seconds(10), "peer 3 inactive while it is down") {
                        cluster[0].transport.activeSince(3) == nil && cluster[0].transport.activePeers == 1
                    }
                }
                try await cluster.waitUntilConnected()
                let after = try #require(cluster[0].transport.activeSince(3))
                #expect(after > before)
                cluster[0].transport.send([message(.msgHeartbeat, from: 1, to: 3, term: 9)])
                try await cluster[2].raft.wait { $0.received.contains { $0.term == 9 } }
            }
        }
    }
}

extension MessageType {
    /// Every message type of etcd 3.4, MsgHup through MsgPreVoteResp.
    static var allCasesForTests: [MessageType] { (0...18).map { MessageType(rawValue: $0) } }
}
