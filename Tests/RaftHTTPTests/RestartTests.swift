import Foundation
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("A peer restarted 20 times during traffic")
struct RestartTests {
    // In-process restarts: transport, server and loop stopped in order, a fresh member on the same
    // port. `sigkilledPeerProcess` below kills a `rafthttp peer` process instead, so that nothing
    // closes in order: the kernel closes the dead process's sockets.
    @Test("20 restarts during traffic: no crash, no descriptor or thread growth on the survivors, streams back each time")
    func twentyRestarts() async throws {
        try await ResourceGate.exclusive {
            let cluster = try await TestCluster(count: 3)
            try await cluster.waitUntilConnected()
            let traffic = Task {
                var n: UInt64 = 0
                while !Task.isCancelled {
                    n += 1
                    cluster[0].transport.send([message(.msgApp, from: 1, to: 3, term: 1, index: n, entries: 1),
                                               message(.msgHeartbeat, from: 1, to: 2, term: n)])
                    cluster[1].transport.send([message(.msgHeartbeat, from: 2, to: 3, term: n)])
                    try? await Task.sleep(for: .milliseconds(2))
                }
            }
            // Warm-up: one restart, so every pool and buffer that grows once has grown.
            try await cluster.restart(2)
            try await cluster.waitUntilConnected()
            let fds = ProcessResources.openFileDescriptors()
            let loops = ProcessResources.threads(named: "rio-loop")
            var worst: Duration = .zero
            for round in 1...20 {
                try await cluster.restart(2)
                let start = ContinuousClock.now
                try await cluster.waitUntilConnected(timeout: .seconds(10))
                worst = max(worst, ContinuousClock.now - start)
                let marker = UInt64(1_000_000 + round)
                try await eventually(.seconds(30), "traffic reaches the restarted member (round \(round))") {
                    cluster[0].transport.send([message(.msgHeartbeat, from: 1, to: 3, term: marker)])
                    return cluster[2].raft.record.received.contains { $0.term == marker }
                }
            }
            traffic.cancel()
            _ = await traffic.value
            print("[restarts] 20 restarts; slowest reconnection \(worst); fds \(fds) -> \(ProcessResources.openFileDescriptors())")
            try await eventually(.seconds(30), "descriptors back to the warm-up count") {
                ProcessResources.openFileDescriptors() <= fds + 4
            }
            #expect(ProcessResources.threads(named: "rio-loop") == loops)
            await cluster.stop()
        }
    }

    @Test("a peer process killed with SIGKILL and restarted 20 times during traffic: no crash, no descriptor or thread growth on the survivors, streams back each time",
          .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"))
    func sigkilledPeerProcess() async throws {
        let executable = try #require(PeerProcess.executable)
        try await ResourceGate.exclusive {
            let cluster = try await PeerProcessCluster(executable: executable, inProcess: 2)
            do {
                try await cluster.waitUntilConnected(timeout: .seconds(20))
                let (one, two, peer) = (cluster[0], cluster[1], cluster.childID)
                // Both survivors keep both their stream writers to the peer busy: a writer learns
                // that its connection died only when a write fails, and an idle one writes just a
                // link heartbeat every 1.67 s (it would notice the kill ~3.3 s late, as etcd's does).
                let traffic = Task {
                    var n: UInt64 = 0
                    while !Task.isCancelled {
                        n += 1
                        for (m, other) in [(one, two), (two, one)] {
                            m.transport.send([message(.msgApp, from: m.id, to: peer, term: 1, index: n, entries: 1),
                                              message(.msgHeartbeat, from: m.id, to: peer, term: n),
                                              message(.msgHeartbeat, from: m.id, to: other.id, term: n)])
                        }
                        try? await Task.sleep(for: .milliseconds(2))
                    }
                }
                defer { traffic.cancel() } // also when a check below throws
                // Warm-up: one kill, so every pool and buffer that grows once has grown.
                _ = try await killAndRestart(cluster, round: 0)
                let fds = ProcessResources.openFileDescriptors()
                let loops = ProcessResources.threads(named: "rio-loop")
                let survivorFailures = one.transport.statistics(peer: two.id)?.failures
                var worst: Duration = .zero
                for round in 1...20 {
                    worst = max(worst, try await killAndRestart(cluster, round: round))
                }
                traffic.cancel()
                _ = await traffic.value
                print("[restarts] 20 SIGKILLs of a rafthttp peer process; slowest reconnection \(worst) (from the new process's "
                    + "start to all streams up); fds \(fds) -> \(ProcessResources.openFileDescriptors())")
                // Messages sent while the peer was down took the pipeline, whose kept-alive
                // connections stay pooled (bounded) until their idle timeout: close them, then count.
                for m in cluster.members { m.transport.closeIdleConnections() }
                try await eventually(.seconds(30), "descriptors back to the warm-up count") {
                    ProcessResources.openFileDescriptors() <= fds + 4
                }
                #expect(ProcessResources.threads(named: "rio-loop") == loops)
                // The survivors' own link never noticed.
                #expect(one.transport.statistics(peer: two.id)?.failures == survivorFailures)
                #expect(one.transport.statistics(peer: two.id)?.dropped == 0)
                await cluster.stop()
            } catch {
                print(cluster.child?.logTail() ?? "(no peer process)")
                await cluster.stop()
                throw error
            }
        }
    }

    /// Kills the peer process with SIGKILL, waits until both survivors have lost all four of its
    /// streams, starts it again on the same port, waits for every stream and a heartbeat round
    /// trip from each survivor. Returns the time from the new process's start to all streams up.
    func killAndRestart(_ cluster: PeerProcessCluster, round: Int) async throws -> Duration {
        let child = try #require(cluster.child)
        #expect(child.isRunning, "the peer process exited on its own before round \(round):\n\(child.logTail())")
        await cluster.killChild()
        try await eventually(.seconds(30), "the survivors lost the killed process's streams (round \(round))") {
            cluster.members.allSatisfy { m in
                guard let s = m.transport.statistics(peer: cluster.childID) else { return false }
                return !s.msgAppStreamAttached && !s.messageStreamAttached && !s.msgAppStreamReading && !s.messageStreamReading
            }
        }
        try cluster.startChild()
        let start = ContinuousClock.now
        try await cluster.waitUntilConnected(timeout: .seconds(10))
        let elapsed = ContinuousClock.now - start
        try await cluster.heartbeatRoundTrip(from: 0, marker: UInt64(2 * round))
        try await cluster.heartbeatRoundTrip(from: 1, marker: UInt64(2 * round + 1))
        return elapsed
    }
}
