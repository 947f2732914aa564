// Followers this process cannot observe directly: child processes (`--processes`) and an already
// running peer (`--target`). They acknowledge what they received through the transport, as raft
// does (MsgAppResp naming the last index, MsgHeartbeatResp), and the leader's raft counts the
// answers to keep the window. Child processes measure one-way latency themselves (CLOCK_MONOTONIC
// is shared by every process on the machine) and report their histogram when told to stop; against
// a target the latency is the round trip from our send call to its answer reaching our raft.
import Foundation
import Histogram
import PeerHTTP
import RaftHTTP
import EphemeralPKI
import RaftIO

extension TransportBench {
    static func runAgainstTarget(_ options: Options) async throws -> Result {
        guard let target = options.target, let targetID = options.targetID else {
            throw TransportBenchError.invalid("--target needs --target-id")
        }
        let tls = try options.tlsPair()
        let flow = FlowControl(followers: 1)
        let log = RoundTripLog(followers: 1, window: options.window, sampleEvery: options.latencySampleEvery)
        let raft = LeaderRaft(flow: flow, slots: [targetID: 0], entries: options.entries, roundTrips: log)
        let leader = try await BenchMember.start(id: options.localID, clusterID: options.clusterID, raft: raft, tls: tls,
                                                 port: options.localPort, spin: options.spin)
        do {
            if options.workload != .heartbeat, let version = await raftMemberVersion(at: target, tls: tls, group: leader.group) {
                throw TransportBenchError.invalid(
                    "the target \(target) is a raft member (/version answers \(version)): it keeps a log of its own and "
                    + "answers our appends from it (etcd panics on an append that conflicts with a committed entry); "
                    + "use --workload heartbeat against it, or run `rafthttp bench-follower` as the target")
            }
            try leader.transport.addPeer(targetID, urls: [target])
            try await poll(options.patience, "streams to \(target) (it must know member \(String(options.localID, radix: 16)) at \(leader.url))") {
                leader.streamsAttached(to: targetID) && leader.answersAttached(from: targetID)
            }
            var outcome = try await drive(options, leader: leader, followerIDs: [targetID], flow: flow, roundTrips: log)
            outcome.dropped = leader.transport.statistics(peer: targetID)?.dropped ?? 0
            await leader.stop()
            return Result(options: options, outcome: outcome, histogram: log.histogram, latencyKind: .roundTrip)
        } catch {
            await leader.stop()
            throw error
        }
    }

    /// The body of `target`'s `GET /version` if it answers like an etcd member (etcd, or our
    /// `rafthttp peer`); nil for anything else, such as a `rafthttp bench-follower` (404).
    private static func raftMemberVersion(at target: String, tls: TLSPair?, group: EventLoopGroup) async -> String? {
        let client = HTTPClient(configuration: .init(dialTimeout: .seconds(5), tls: tls?.client, keepAlive: false),
                                eventLoopGroup: group)
        guard let response = try? await client.execute(HTTPClientRequest(url: target + "/version")),
              let body = try? await response.body.collect(upTo: 4096) else { return nil }
        let text = String(decoding: body, as: UTF8.self)
        return response.head.status == 200 && text.contains("etcdserver") ? text : nil
    }

    static func runWithProcesses(_ options: Options) async throws -> Result {
        guard let executable = options.executable else { throw TransportBenchError.invalid("--processes needs the executable") }
        let certificates = options.tls ? try EphemeralCertificates() : nil
        defer { certificates?.remove() }
        let tls = try options.tlsFiles.map { try TLSPair.load(files: $0) }
            ?? certificates.map { try TLSPair.load(directory: $0.directory) }
        let leaderID = options.localID
        let followerIDs = (0..<(options.members - 1)).map { leaderID + 1 + UInt64($0) }
        let flow = FlowControl(followers: followerIDs.count)
        let slots = Dictionary(uniqueKeysWithValues: followerIDs.enumerated().map { ($1, $0) })
        let leader = try await BenchMember.start(id: leaderID, clusterID: options.clusterID,
                                                 raft: LeaderRaft(flow: flow, slots: slots, entries: options.entries, roundTrips: nil),
                                                 tls: tls, spin: options.spin)
        var children: [Child] = []
        do {
            for id in followerIDs {
                var arguments = ["bench-follower", "--id", String(id, radix: 16), "--leader-id", String(leaderID, radix: 16),
                                 "--leader-url", leader.url, "--cluster-id", String(options.clusterID, radix: 16)]
                if let files = options.tlsFiles {
                    arguments += files.arguments
                } else if let certificates {
                    arguments += ["--tls-dir", certificates.directory]
                }
                if options.cumulativeAcks { arguments.append("--cumulative-acks") }
                arguments += ["--spin-microseconds", String(Int(options.spin.seconds * 1e6))]
                let child = try Child(executable: executable, arguments: arguments)
                children.append(child)
                guard let line = await child.readLine(), line.hasPrefix("listening "), let port = Int(line.dropFirst(10)) else {
                    throw TransportBenchError.invalid("bench-follower \(id) did not start")
                }
                try leader.transport.addPeer(id, urls: ["\(tls == nil ? "http" : "https")://127.0.0.1:\(port)"])
            }
            try await poll(options.patience, "streams from the leader to every follower process") {
                followerIDs.allSatisfy { leader.streamsAttached(to: $0) && leader.answersAttached(from: $0) }
            }
            var outcome = try await drive(options, leader: leader, followerIDs: followerIDs, flow: flow, roundTrips: nil)
            outcome.dropped = followerIDs.reduce(0) { $0 + (leader.transport.statistics(peer: $1)?.dropped ?? 0) }
            var histogram = makeLatencyHistogram()
            var delivered = 0
            for child in children {
                child.write("stop\n")
                guard let line = await child.readLine(), line.hasPrefix("result ") else {
                    throw TransportBenchError.invalid("a bench-follower ended without its result")
                }
                let report = try JSONDecoder().decode(BenchFollower.Report.self, from: Data(line.dropFirst(7).utf8))
                histogram.add(report.histogram)
                delivered += report.delivered
                child.wait()
            }
            outcome.delivered = delivered // what the followers' raft saw, not only what they acknowledged
            await leader.stop()
            return Result(options: options, outcome: outcome, histogram: histogram, latencyKind: .oneWay,
                          childUsage: ProcessUsage.now(who: RUSAGE_CHILDREN.rawValue))
        } catch {
            for child in children { child.terminate() }
            await leader.stop()
            throw error
        }
    }
}

/// A child process speaking lines on stdin and stdout.
final class Child: Sendable {
    private let process: Process
    private let input: FileHandle
    private let output: Int32
    private let pending = Locked<[UInt8]>([])

    init(executable: String, arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        input = stdin.fileHandleForWriting
        output = stdout.fileHandleForReading.fileDescriptor
        outputPipe = stdout
    }

    private let outputPipe: Pipe

    /// The next line of the child's output, nil at its end. Reads on a background thread.
    func readLine() async -> String? {
        let fd = output
        let pending = self.pending
        return await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            Thread.detachNewThread {
                var line = pending.withLock { p in defer { p = [] }; return p }
                var searched = 0
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    if let nl = line[searched...].firstIndex(of: 0x0a) {
                        let rest = Array(line[(nl + 1)...])
                        pending.withLock { $0 = rest }
                        continuation.resume(returning: String(decoding: line[..<nl], as: UTF8.self))
                        return
                    }
                    searched = line.count
                    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n <= 0 {
                        continuation.resume(returning: nil)
                        return
                    }
                    line.append(contentsOf: chunk[..<n])
                }
            }
        }
    }

    func write(_ text: String) { try? input.write(contentsOf: Data(text.utf8)) }

    func wait() {
        try? input.close()
        process.waitUntilExit()
    }

    func terminate() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}
