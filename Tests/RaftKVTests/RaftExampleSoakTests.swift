// A fault-schedule soak of three raftexample processes: member 1 runs in a network-namespace lab
// (so that it can be cut off), members 2 and 3 beside it on the host end of the veth. For
// `RAFTKV_SOAK_SECONDS` (default 60) four clients PUT distinct keys through random members and
// record which PUTs were acknowledged (204), while a seeded schedule, one fault at a time, SIGKILLs
// a member and restarts it from its WAL, or cuts member 1 off with one of the lab's faults (drop,
// dropIncoming, blackhole, reset) and heals it. Afterwards:
// - every acknowledged PUT is readable from every member, with its value;
// - no two members applied different entries at the same log index (each member's
//   `--applied-log` has index, term and a hash per applied entry; a restarted member's second
//   record of an index must match its first too).
// The schedule and its seed are printed first; `RAFTKV_SOAK_SEED=<seed>` replays it (the faults
// and their timing: the interleaving with the load is the machine's). Runs only with
// `RAFTKV_SOAK=1` (`make soak` sets it): about 60 s of load and 10-20 s of setup and checking.
import Foundation
import PeerHTTP
import RaftIO
import TestSupport
import Testing


/// Whether the soak runs (`RAFTKV_SOAK=1`), how long, and from which seed.
enum RaftKVSoak {
    static let environment = ProcessInfo.processInfo.environment
    static let enabled = environment["RAFTKV_SOAK"] == "1"
    static let duration: Duration = .seconds(Int(environment["RAFTKV_SOAK_SECONDS"] ?? "") ?? 60)
    static let seed: UInt64 = UInt64(environment["RAFTKV_SOAK_SEED"] ?? "") ?? .random(in: 1 ... .max)
}

/// One fault of the schedule, applied after `gap` and undone after `hold`.
struct SoakStep: CustomStringConvertible {
    enum Fault {
        case kill(member: Int)
        case partition(NetworkNamespaceLab.Fault)
    }

    var gap: Duration
    var fault: Fault
    var hold: Duration

    var description: String {
        switch fault {
        case .kill(let member): "after \(gap): SIGKILL member \(member + 1), restart after \(hold)"
        case .partition(let f): "after \(gap): cut member 1 off (\(f)), heal after \(hold)"
        }
    }

    /// Steps filling about `duration`, drawn from `seed`.
    static func schedule(seed: UInt64, duration: Duration) -> [SoakStep] {
        var random = SplitMix64(seed: seed)
        func milliseconds(_ range: ClosedRange<UInt64>) -> Duration {
            .milliseconds(Int64(range.lowerBound + random.next() % (range.upperBound - range.lowerBound + 1)))
        }
        let faults: [NetworkNamespaceLab.Fault] = [.drop, .dropIncoming, .blackhole, .reset]
        var steps: [SoakStep] = []
        var total: Duration = .zero
        while total < duration {
            let gap = milliseconds(500...2_000)
            let fault: Fault = random.next() % 2 == 0 ? .kill(member: Int(random.next() % 3))
                : .partition(faults[Int(random.next() % UInt64(faults.count))])
            let hold = milliseconds(1_000...6_000)
            steps.append(SoakStep(gap: gap, fault: fault, hold: hold))
            total += gap + hold
        }
        return steps
    }
}

@Suite("raftexample fault soak",
       .enabled(if: RaftKVSoak.enabled, "set RAFTKV_SOAK=1 (make soak) to run the one-minute soak"),
       .enabled(if: NetworkNamespaceLab.unavailableReason == nil, Comment(rawValue: NetworkNamespaceLab.unavailableReason ?? "")),
       .enabled(if: raftexampleExecutable != nil, "the raftexample binary is built with --build-tests"))
struct RaftExampleSoakTests {
    @Test("kills, restarts and partitions under load: every acknowledged PUT is on every member, no index applied differently")
    func soak() async throws {
        let executable = try #require(raftexampleExecutable)
        let seed = RaftKVSoak.seed
        let schedule = SoakStep.schedule(seed: seed, duration: RaftKVSoak.duration)
        print("[raftexample soak] seed \(seed) (RAFTKV_SOAK_SEED=\(seed) replays it), \(schedule.count) faults:\n"
            + schedule.map { "  \($0)" }.joined(separator: "\n"))
        try await withEventLoop { group in
            try await NetworkNamespaceLab.with { lab in
                let client = HTTPClient(configuration: .init(dialTimeout: .seconds(2)), eventLoopGroup: group)
                let cluster = try RaftExampleCluster.inLab(lab, executable: executable, client: client) { id in
                    ["--applied-log", "applied-\(id).log", "--snapshot-count", "500"]
                }
                try await cluster.run { try await run(cluster, lab, schedule: schedule, seed: seed) }
            }
        }
    }

    private func run(_ cluster: RaftExampleCluster, _ lab: NetworkNamespaceLab, schedule: [SoakStep], seed: UInt64) async throws {
        for i in 0..<3 { try cluster.launch(i) }
        try await cluster.put("start", "1", via: [0, 1, 2])

        let acknowledged = Locked<[String: String]>([:])
        let attempts = Locked(0)
        let stop = Locked(false)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for c in 0..<4 {
                tasks.addTask {
                    var random = SplitMix64(seed: seed &+ UInt64(c) &+ 1)
                    var n = 0
                    while !stop.withLock({ $0 }) {
                        let key = "c\(c)-\(n)", value = "v\(n)-\(seed % 1000)"
                        n += 1
                        attempts.withLock { $0 += 1 }
                        let status = await cluster.putOnce(Int(random.next() % 3), key, value)
                        if status == 204 {
                            acknowledged.withLock { $0[key] = value }
                        } else {
                            try await Task.sleep(for: .milliseconds(20)) // pacing while a member is down, not a wait
                        }
                    }
                }
            }
            for step in schedule {
                try await Task.sleep(for: step.gap)
                switch step.fault {
                case .kill(let member):
                    await cluster.kill(member)
                    try await Task.sleep(for: step.hold)
                    try cluster.launch(member)
                case .partition(let fault):
                    try await lab.apply(fault)
                    try await Task.sleep(for: step.hold)
                    try await lab.heal()
                }
            }
            stop.withLock { $0 = true }
            try await tasks.waitForAll()
        }
        let loadTime = ContinuousClock.now - start
        let written = acknowledged.withLock { $0 }
        print("[raftexample soak] \(loadTime) of load: \(written.count) of \(attempts.withLock { $0 }) PUTs acknowledged")
        #expect(written.count > 0)

        // A PUT acknowledged after every other one was: a member that applied it applied them all.
        try await cluster.put("final", "1", via: [0, 1, 2], timeout: .seconds(120))
        for i in 0..<3 {
            #expect(try await cluster.get(i, "final", timeout: .seconds(120)) == "1")
            var missing: [String] = []
            for (key, value) in written {
                if try await cluster.getOnce(i, key) != value { missing.append(key) }
            }
            #expect(missing.isEmpty, "member \(i + 1) lacks \(missing.count) acknowledged PUTs: \(missing.sorted().prefix(10))")
        }

        // State machine safety: one entry per index, across members and across a member's restarts.
        var byIndex: [UInt64: (term: Substring, hash: Substring, member: Int)] = [:]
        var conflicts: [String] = []
        var compared = 0
        for i in 0..<3 {
            let text = (try? String(contentsOfFile: "\(cluster.directory)/applied-\(i + 1).log", encoding: .utf8)) ?? ""
            var lines = 0
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 3, let index = UInt64(fields[0]) else { continue } // a line torn by SIGKILL
                lines += 1
                if let seen = byIndex[index] {
                    compared += 1
                    if seen.term != fields[1] || seen.hash != fields[2] {
                        conflicts.append("index \(index): member \(seen.member + 1) applied term \(seen.term) hash \(seen.hash), "
                                         + "member \(i + 1) term \(fields[1]) hash \(fields[2])")
                    }
                } else {
                    byIndex[index] = (fields[1], fields[2], i)
                }
            }
            #expect(lines > 0, "member \(i + 1) recorded no applied entry")
        }
        #expect(conflicts.isEmpty, "\(conflicts.count) indices applied differently: \(conflicts.prefix(5))")
        print("[raftexample soak] seed \(seed): \(byIndex.count) indices applied, \(compared) records compared, "
            + "\(conflicts.count) conflicts; every acknowledged PUT on all 3 members")
    }
}
