import Foundation
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("A peer restarted 20 times during traffic")
struct RestartTests {
    // In-process restarts (transport, server and loop stopped, a fresh member on the same port):
    // `rafthttp peer` does not exist on this branch, so SIGKILL of a child process is not used.
    // UNTESTED: a peer process killed with SIGKILL (kernel resets its sockets).
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
                try await eventually(.seconds(5), "traffic reaches the restarted member (round \(round))") {
                    cluster[0].transport.send([message(.msgHeartbeat, from: 1, to: 3, term: marker)])
                    return cluster[2].raft.record.received.contains { $0.term == marker }
                }
            }
            traffic.cancel()
            _ = await traffic.value
            print("[restarts] 20 restarts; slowest reconnection \(worst); fds \(fds) -> \(ProcessResources.openFileDescriptors())")
            try await eventually(.seconds(5), "descriptors back to the warm-up count") {
                ProcessResources.openFileDescriptors() <= fds + 4
            }
            #expect(ProcessResources.threads(named: "rio-loop") == loops)
            await cluster.stop()
        }
    }
}
