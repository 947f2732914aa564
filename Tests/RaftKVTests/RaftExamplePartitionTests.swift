// raftexample under a real partition: member 1 runs inside a network namespace (NetworkNamespaceLab)
// and listens on the lab's address; members 2 and 3 listen on this namespace's end of the veth.
// The cut is the lab's `drop` fault (every packet to and from the namespace vanishes: a pulled
// cable). The client calls to member 1 while it is cut off go from inside its namespace, over the
// namespace's own loopback, which no fault touches.
//
// Which member leads is arranged, not hoped for: the majority elects its leader before member 1
// starts (follower case), or member 1 ticks faster and campaigns before the others start (leader
// case). Waits are on answers (a PUT acknowledged, a GET that finds its key, a log line); the
// deadlines are hang guards.
import Foundation
import PeerHTTP
import TestSupport
import Testing

@Suite("raftexample partitioned in a network namespace",
       .enabled(if: NetworkNamespaceLab.unavailableReason == nil, Comment(rawValue: NetworkNamespaceLab.unavailableReason ?? "")),
       .enabled(if: raftexampleExecutable != nil, "the raftexample binary is built with --build-tests"))
struct RaftExamplePartitionTests {
    /// Runs `body` with a cluster whose member 1 (index 0) is placed in a fresh lab with
    /// `labArguments`; nothing is started yet. Kills every member, then removes the lab.
    func withLabCluster(labArguments: [String],
                        _ body: (RaftExampleCluster, NetworkNamespaceLab) async throws -> Void) async throws {
        let executable = try #require(raftexampleExecutable)
        try await withEventLoop { group in
            try await NetworkNamespaceLab.with { lab in
                let client = HTTPClient(configuration: .init(dialTimeout: .seconds(2)), eventLoopGroup: group)
                let cluster = try RaftExampleCluster.inLab(lab, executable: executable, client: client) { $0 == 1 ? labArguments : [] }
                try await cluster.run { try await body(cluster, lab) }
            }
        }
    }

    @Test("a partitioned follower: the majority keeps committing, the follower cannot; healed, it serves every acknowledged write")
    func partitionedFollowerCatchesUp() async throws {
        // Member 1 ticks every 30 ms: it would campaign only after 3 to 6 s without a leader.
        try await withLabCluster(labArguments: ["--tick-milliseconds", "30"]) { cluster, lab in
            try cluster.launch(1)
            try cluster.launch(2)
            var acknowledged: [String: String] = [:]
            try await cluster.put("k0", "v0", via: [1, 2])
            acknowledged["k0"] = "v0"
            try cluster.launch(0)
            #expect(try await cluster.get(0, "k0") == "v0")
            for i in 1..<5 {
                try await cluster.put("k\(i)", "v\(i)", via: [0])
                acknowledged["k\(i)"] = "v\(i)"
            }
            let leader = try #require(cluster.leader())
            try #require(leader != 0, "the majority elected its leader before member 1 started")

            try await lab.apply(.drop)
            for i in 0..<10 {
                try await cluster.put("cut\(i)", "c\(i)", via: [1, 2])
                acknowledged["cut\(i)"] = "c\(i)"
            }
            // Its proposal reaches no leader: 503 once it times out (or at once, as a candidate).
            let isolated = try await cluster.curlInNamespace(0, method: "PUT", "isolated", value: "x")
            #expect(isolated == 503, "a write through the partitioned member: \(isolated)")
            #expect(try await cluster.curlInNamespace(0, method: "GET", "cut9") == 404, "it has none of the majority's writes")
            let counts = try await lab.packetCounts()
            #expect(counts.droppedIn > 0 && counts.droppedOut > 0, "the rules dropped nothing: \(counts)")

            try await lab.heal()
            for (key, value) in acknowledged.sorted(by: { $0.key < $1.key }) {
                #expect(try await cluster.get(0, key) == value, "key \(key) on the healed member")
            }
            print("[raftexample partition] follower: \(acknowledged.count) acknowledged writes served after healing; packets \(counts)")
        }
    }

    @Test("a partitioned leader: the majority elects a new one and commits, the old one cannot; healed, it steps down and catches up")
    func partitionedLeaderStepsDown() async throws {
        // Member 1 ticks every 5 ms (campaigns after 0.5 to 1 s); the others start once it
        // campaigns, at a lower term, and vote for it.
        try await withLabCluster(labArguments: ["--tick-milliseconds", "5"]) { cluster, lab in
            try cluster.launch(0)
            try await retrying("member 1 campaigns") { cluster.roles(0).contains { $0.role == "candidate" } ? true : nil }
            try cluster.launch(1)
            try cluster.launch(2)
            var acknowledged: [String: String] = [:]
            try await cluster.put("k0", "v0", via: [0])
            acknowledged["k0"] = "v0"
            let leaderTerm = try #require(cluster.roles(0).last { $0.role == "leader" }?.term, "member 1 leads")
            try #require(cluster.leader() == 0, "member 1 leads")
            for i in 1..<5 {
                try await cluster.put("k\(i)", "v\(i)", via: [0])
                acknowledged["k\(i)"] = "v\(i)"
            }

            try await lab.apply(.drop)
            // Members 2 and 3 time out, elect a leader between them and commit.
            for i in 0..<10 {
                try await cluster.put("cut\(i)", "c\(i)", via: [1, 2])
                acknowledged["cut\(i)"] = "c\(i)"
            }
            let newLeader = try #require(cluster.leader())
            #expect(newLeader != 0)
            // The old leader appends the write but no majority holds it: 503 at the proposal timeout.
            let stale = try await cluster.curlInNamespace(0, method: "PUT", "stale", value: "x")
            #expect(stale == 503, "a write through the cut-off leader: \(stale)")
            #expect(try await cluster.curlInNamespace(0, method: "GET", "cut9") == 404)
            #expect(cluster.roles(0).last.map { $0.role == "leader" && $0.term == leaderTerm } == true,
                    "it still leads its old term (no check-quorum, as etcd's raftexample)")
            let counts = try await lab.packetCounts()
            #expect(counts.droppedIn > 0 && counts.droppedOut > 0, "the rules dropped nothing: \(counts)")

            try await lab.heal()
            try await retrying("member 1 steps down to a later term") {
                cluster.roles(0).contains { $0.role == "follower" && $0.term > leaderTerm } ? true : nil
            }
            for (key, value) in acknowledged.sorted(by: { $0.key < $1.key }) {
                #expect(try await cluster.get(0, key) == value, "key \(key) on the old leader")
            }
            // Its uncommitted entry of the old term was overwritten, nowhere applied.
            try await cluster.put("after-heal", "1", via: [1, 2, 0])
            for i in 0..<3 {
                #expect(try await cluster.get(i, "after-heal") == "1")
                #expect(try await cluster.getOnce(i, "stale") == nil, "member \(i + 1) never applied the old leader's uncommitted write")
            }
            print("[raftexample partition] leader: term \(leaderTerm) leader stepped down; \(acknowledged.count) acknowledged writes served; packets \(counts)")
        }
    }
}
