// The raftexample executable as an operator runs it: three processes, the leader SIGKILLed (no
// shutdown at all: whatever its WAL had fsynced is all it keeps), then restarted from its WAL.
// Waits are on answers (a PUT acknowledged, a GET that finds its key), retried while a member is
// down or has no leader; the deadlines are hang guards.
import Foundation
import PeerHTTP
import TestSupport
import Testing

@Suite("raftexample processes")
struct RaftExampleProcessTests {
    @Test("the leader SIGKILLed: a new leader takes writes, no acknowledged write is lost, the old one restarts from its WAL",
          .enabled(if: raftexampleExecutable != nil))
    func leaderKilled() async throws {
        let executable = try #require(raftexampleExecutable)
        // Launched inside the shared resource gate (withEventLoop takes it): a running child holds
        // a socket in this process (Foundation's Process), which a test counting descriptors
        // under the exclusive gate would otherwise see, and wait on, for as long as it runs.
        try await withEventLoop { group in
            let client = HTTPClient(configuration: .init(dialTimeout: .seconds(5)), eventLoopGroup: group)
            let cluster = try RaftExampleCluster.loopback(3, executable: executable, client: client)
            try await withCleanUp {
                for i in 0..<3 { try cluster.launch(i) }
                for i in 0..<20 { try await cluster.put("k\(i)", "v\(i)", via: [0]) }
                let leader = try #require(cluster.leader())
                await cluster.kill(leader)

                let survivor = (leader + 1) % 3
                try await cluster.put("after", "kill", via: [survivor])
                // It applied "after", so everything acknowledged before it is there already: no retry.
                for i in 0..<20 { #expect(try await cluster.getOnce(survivor, "k\(i)") == "v\(i)") }
                let other = (leader + 2) % 3
                #expect(try await cluster.get(other, "after") == "kill")
                for i in 0..<20 { #expect(try await cluster.get(other, "k\(i)") == "v\(i)") }

                try cluster.launch(leader)
                #expect(try await cluster.get(leader, "after") == "kill")
                for i in 0..<20 { #expect(try await cluster.get(leader, "k\(i)") == "v\(i)") }
            } cleanUp: {
                client.closeIdleConnections()
                await cluster.remove()
            }
        }
    }
}
