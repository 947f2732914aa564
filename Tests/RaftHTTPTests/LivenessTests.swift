import Foundation
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

// Liveness below HTTP: a peer that vanishes without a FIN or RST. The member is a `rafthttp peer`
// process; in the namespace tests it sits behind nftables rules that drop every packet (a pulled
// cable), in the SIGSTOP test it is stopped (its kernel still answers TCP, nothing above does).

/// Short liveness settings for the blackhole test, so that the kernel's verdict comes well before
/// any timeout of ours (the stream read timeout, 5 s): probes after 1 s idle, every 1 s; data or a
/// probe unacknowledged for 2 s drops the connection. Detection bound 3 s after the last answer
/// when nothing is written, 5 s at worst (a probe of ours written just before restarts the 2 s).
let shortLiveness = TCPLiveness(keepAliveIdle: .seconds(1), keepAliveInterval: .seconds(1), keepAliveCount: 2,
                                userTimeout: .seconds(2))

@Suite("Liveness: the kernel drops connections to a blackholed peer within the configured bound",
       .enabled(if: NetworkNamespaceLab.unavailableReason == nil, Comment(rawValue: NetworkNamespaceLab.unavailableReason ?? "")),
       .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"))
struct BlackholeLivenessTests {
    @Test("a pooled pipeline connection to a blackholed peer is dropped by the kernel (ETIMEDOUT) within the configured bound; idle writers are detached within the read timeout")
    func pooledConnectionDropped() async throws {
        let executable = try #require(PeerProcess.executable)
        try await ResourceGate.shared {
            try await NetworkNamespaceLab.with { lab in
                let cluster = try await PeerProcessCluster(
                    executable: executable, inProcess: 1, host: lab.hostAddress, childHost: lab.namespaceAddress, childPort: 2380,
                    namespace: lab.name,
                    childArguments: ["--peer-keepalive-time", "1s", "--peer-keepalive-interval", "1s", "--peer-keepalive-count", "2",
                                     "--peer-tcp-user-timeout", "2s"]) { $0.tcpLiveness = shortLiveness }
                do {
                    try await cluster.waitUntilConnected(timeout: .seconds(20))
                    try await cluster.heartbeatRoundTrip(from: 0, marker: 1)
                    let transport = cluster[0].transport
                    // The prober of the pipeline's client probes at once and keeps its connection
                    // in the pool between probes (every 4 s).
                    try await eventually(.seconds(20), "a pooled pipeline connection to the member") {
                        transport.pipelineConnectionStatistics.open >= 1
                    }
                    let before = transport.pipelineConnectionStatistics

                    try await lab.apply(.drop)
                    let cutAt = ContinuousClock.now
                    // Stream writers carry link heartbeats every 1.67 s: they are detached by the
                    // kernel (2 s unacknowledged) or, at the latest, the read timeout (5 s).
                    try await eventually(.seconds(60), "our writers to the member detached") {
                        let s = transport.statistics(peer: cluster.childID)
                        return s?.msgAppStreamAttached == false && s?.messageStreamAttached == false
                    }
                    let writersDetached = ContinuousClock.now - cutAt
                    try await eventually(.seconds(60), "the pooled connection dropped with an error") {
                        let s = transport.pipelineConnectionStatistics
                        return s.open == 0 && s.closedWithError > before.closedWithError
                    }
                    let dropped = ContinuousClock.now - cutAt
                    let after = transport.pipelineConnectionStatistics
                    let counts = try await lab.packetCounts()
                    print("[liveness] drop: writers detached after \(writersDetached) (read timeout 5 s); pooled pipeline "
                        + "connection dropped after \(dropped) (bound \(shortLiveness.detectionBound)): \(after.lastError?.message ?? "-"); packets \(counts)")
                    // ETIMEDOUT from the kernel, not a close of ours (those carry no error).
                    #expect(after.lastError?.kind == .timedOut, "\(after.lastError.map { "\($0)" } ?? "no error")")
                    // Kernel time (its keepalive and retransmission timers), the same on any
                    // machine; the second covers our noticing the close. The writers' wait above
                    // is a hang guard only: the read timeout is ours and its checks run on our loop.
                    #expect(dropped <= timeBound(shortLiveness.detectionBound + .seconds(1)))
                    #expect(counts.droppedOut > 0 || counts.droppedIn > 0)
                    await cluster.stop()
                } catch {
                    print(cluster.child?.logTail() ?? "(no peer process)")
                    await cluster.stop()
                    throw error
                }
            }
        }
    }
}

@Suite("Progress deadlines: posts and probes into a blackhole fail instead of hanging",
       .enabled(if: NetworkNamespaceLab.unavailableReason == nil, Comment(rawValue: NetworkNamespaceLab.unavailableReason ?? "")),
       .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"))
struct BlackholeProgressTests {
    @Test("a pipeline post and a probe into a blackhole (handshakes pass, nothing else) fail at their progress deadline, counted, raft hears unreachable")
    func postAndProbeStall() async throws {
        let executable = try #require(PeerProcess.executable)
        let progress: Duration = .seconds(2)
        try await ResourceGate.shared {
            try await NetworkNamespaceLab.with { lab in
                // The kernel's own verdict (user timeout 10 s, the default derived from 5 s) comes
                // long after the 2 s progress deadline: this test sees ours.
                let cluster = try await PeerProcessCluster(
                    executable: executable, inProcess: 1, host: lab.hostAddress, childHost: lab.namespaceAddress, childPort: 2380,
                    namespace: lab.name) { $0.requestProgressTimeout = progress }
                do {
                    try await cluster.waitUntilConnected(timeout: .seconds(20))
                    try await cluster.heartbeatRoundTrip(from: 0, marker: 1)
                    let transport = cluster[0].transport
                    let member = cluster[0]
                    let before = try #require(transport.statistics(peer: cluster.childID))

                    try await lab.apply(.blackhole)
                    // Probes go out every 4 s; the first one after the cut hangs and is cut off.
                    try await eventually(.seconds(60), "a probe stalled") {
                        (transport.statistics(peer: cluster.childID)?.stalledProbes ?? 0) > before.stalledProbes
                    }
                    // Once the read timeout has closed our writers, messages take the pipeline.
                    try await eventually(.seconds(60), "our writers to the member detached") {
                        let s = transport.statistics(peer: cluster.childID)
                        return s?.msgAppStreamAttached == false && s?.messageStreamAttached == false
                    }
                    let unreachableBefore = member.raft.record.unreachable.count
                    let postedAt = ContinuousClock.now
                    transport.send([message(.msgHeartbeat, from: member.id, to: cluster.childID, term: 77)])
                    try await eventually(.seconds(60), "the post stalled") {
                        (transport.statistics(peer: cluster.childID)?.stalledPipelinePosts ?? 0) > before.stalledPipelinePosts
                    }
                    let failedAfter = ContinuousClock.now - postedAt
                    #expect(failedAfter >= progress, "not before the progress deadline")
                    // The stall is counted first, then the failure reaches raft: wait for it, not race it.
                    try await eventually(.seconds(10), "raft hears the member unreachable") {
                        member.raft.record.unreachable.count > unreachableBefore
                    }
                    let counts = try await lab.packetCounts()
                    print("[progress] blackhole: post failed \(failedAfter) after it was sent (progress timeout \(progress)); "
                        + "probes stalled \((transport.statistics(peer: cluster.childID)?.stalledProbes ?? 0) - before.stalledProbes); packets \(counts)")
                    try await lab.heal()
                    try await cluster.waitUntilConnected(timeout: .seconds(60))
                    await cluster.stop()
                } catch {
                    print(cluster.child?.logTail() ?? "(no peer process)")
                    await cluster.stop()
                    throw error
                }
            }
        }
    }
}

@Suite("Liveness: a SIGSTOPped peer process (no FIN, no RST; its kernel still answers)",
       .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"))
struct StoppedPeerTests {
    @Test("a SIGSTOPped peer is noticed in both directions: our readers time out, our writers to it are closed; after SIGCONT every stream returns")
    func stoppedPeerNoticedBothWays() async throws {
        let executable = try #require(PeerProcess.executable)
        try await ResourceGate.shared {
            let cluster = try await PeerProcessCluster(executable: executable, inProcess: 1)
            do {
                try await cluster.waitUntilConnected(timeout: .seconds(20))
                try await cluster.heartbeatRoundTrip(from: 0, marker: 1)
                let transport = cluster[0].transport
                let child = try #require(cluster.child)
                let dialsBefore = try #require(transport.statistics(peer: cluster.childID)).streamDials

                child.suspend()
                let stoppedAt = ContinuousClock.now
                // Its kernel ACKs our heartbeats and keepalive probes: TCP sees a live link. Only
                // the silence of its streams (link heartbeats every 1.67 s) tells.
                try await eventually(.seconds(70), "the stopped member seen inactive, both directions down") {
                    guard let s = transport.statistics(peer: cluster.childID) else { return false }
                    return !s.isActive && !s.msgAppStreamReading && !s.messageStreamReading
                        && !s.msgAppStreamAttached && !s.messageStreamAttached
                }
                let noticed = ContinuousClock.now - stoppedAt
                let stats = try #require(transport.statistics(peer: cluster.childID))
                #expect(stats.lastError?.contains("read timeout") == true, "\(stats.lastError ?? "no error")")
                // Redials connect (its kernel accepts) and then hear nothing: abandoned at the read
                // timeout, not hung.
                try await eventually(.seconds(70), "a redial to the stopped member abandoned") {
                    (transport.statistics(peer: cluster.childID)?.streamDials ?? 0) > dialsBefore + 2
                }

                child.resume()
                let resumedAt = ContinuousClock.now
                // The member finds its old connections closed by us (EOF) and redials; ours
                // connect once it answers.
                try await cluster.waitUntilConnected(timeout: .seconds(60))
                let back = ContinuousClock.now - resumedAt
                print("[liveness] SIGSTOP: noticed after \(noticed) (read timeout 5 s + heartbeat 1.67 s); all streams back \(back) after SIGCONT")
                try await cluster.heartbeatRoundTrip(from: 0, marker: 2)
                await cluster.stop()
            } catch {
                cluster.child?.resume()
                print(cluster.child?.logTail() ?? "(no peer process)")
                await cluster.stop()
                throw error
            }
        }
    }
}
