import ArgumentParser
import BenchKit
import Foundation
import RaftPB

/// `rafthttp bench`: the transport benchmark (a leader, its followers, a workload; see BENCHMARKS.md).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the raft transport: a leader sends a workload to its followers on loopback.",
        discussion: """
        Prints a live progress line once a second on stderr and, at the end, a table of messages/s, \
        payload MB/s, latency percentiles (send call to the receiving raft), CPU seconds per million \
        messages, peak RSS, drops and write batching.
        """
    )

    @Option(help: "Members including the leader.")
    var members = 3

    @Flag(help: "Run each follower as a child process (rafthttp bench-follower) instead of in this process.")
    var processes = false

    @Flag(help: "TLS 1.3 with mutual authentication, certificates made on the fly with openssl (a TLS cluster's own: --peer-cert-file).")
    var tls = false

    @Option(help: "msgapp, heartbeat, mix, snapshot or pipeline.")
    var workload: String = TransportBench.Workload.msgapp.rawValue

    @Option(help: "Entries per MsgApp.")
    var entries = 1

    @Option(help: "Bytes per entry (at least 8).")
    var entrySize = 64

    @Option(help: "Snapshot bytes, for --workload snapshot.")
    var snapshotSize = 1 << 30

    @Option(help: "For --workload snapshot: followers store each database with FileSnapshotSink under this folder (tmpfs leaves the disk out) instead of discarding it.")
    var snapshotDir: String?

    @Option(help: "Messages per follower sent but not yet delivered before the leader waits.")
    var window = 1024

    @Option(help: "Microseconds each loop keeps polling after activity before it sleeps. 0 (the library's default): never spin. Spinning saves the wake-ups of small windows (W=1 here: 19 k -> 45 k msg/s at 50) at a cost in CPU per message (cross-process W=1: +25-55 %); see BENCHMARKS.md.")
    var spinMicroseconds = 0

    @Option(help: "In-process: the first follower's raft holds its loop this many microseconds per delivered batch (a follower with a slow disk), so the leader's queue toward it grows.")
    var slowFollowerMicroseconds: Int?

    @Flag(help: "The leader pauses sending to a follower while the transport reports it congested (Raft.reportCongestion), as raft's flow control would, instead of running into drops.")
    var backpressure = false

    @Option(help: "In-process: the leader's stream queue bound in bytes (Transport.Configuration.streamQueueLimitBytes; default 64 MiB).")
    var streamQueueLimit: Int?

    @Option(help: "Record latency for one message in this many (only those carry a send time).")
    var latencySampleEvery = 16

    @Flag(help: "With --processes: followers acknowledge each batch cumulatively instead of answering each message as etcd's raft does.")
    var cumulativeAcks = false

    @Option(help: "Messages per second in total instead of saturating.")
    var rate: Double?

    @Option(help: "Seconds to send (ignored with --messages).")
    var duration = 10.0

    @Option(help: "Messages to send in total, instead of --duration.")
    var messages: Int?

    @Flag(help: "Print the result as one JSON object instead of the table.")
    var json = false

    @Option(help: "Write the latency distribution (HdrHistogram percentile format, µs) to this file.")
    var histogram: String?

    @Option(help: ArgumentHelp("Write a self-contained HTML page with the latency percentile curve and msgs/s second by second, for this run and the --compare runs.",
                               valueName: "file.html"))
    var report: String?

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("With --report: earlier runs to draw beside this one, as files of their --json output.", valueName: "run.json"))
    var compare: [String] = []

    @Option(help: "Send to this already running peer (http://host:port, or https:// with --peer-cert-file) instead of starting followers: a `rafthttp bench-follower`, or a follower of a real etcd cluster (--workload heartbeat only; see docs/interop.md).")
    var target: String?

    @Option(help: "The target's member ID, in hex as etcd prints it.")
    var targetID: String?

    @Option(help: "Our member ID, in hex (with --target: a member of the target's cluster).")
    var localID = "1"

    @Option(help: "The cluster ID, in hex (with --target: the target's).")
    var clusterID = "1000"

    @Option(help: "With --target: the port we listen on, where the target dials our streams (0: any).")
    var localPort = 0

    @Option(help: "Seconds the streams may take to come up, and a full window may wait without progress, before the run fails or ends as stalled.")
    var patience = 10.0

    @OptionGroup(title: "TLS with the cluster's certificates (etcd's flags)")
    var peerTLS: PeerTLSFlags

    @OptionGroup(title: "Metrics")
    var metrics: MetricsFlags

    @Flag(help: "No progress line.")
    var quiet = false

    /// Usage errors: every flag checked against the others before anything starts, so that the
    /// parser answers with this command's usage. What fails later (a target that never answers,
    /// a port in use) is a runtime error, printed alone.
    func validate() throws {
        _ = try options()
    }

    func run() async throws {
        var options = try options()
        if !quiet {
            options.progress = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        // The runs to compare are read first: a missing file should not cost a whole run.
        let earlier = try compare.map { path in
            try BenchReport.Run(label: URL(fileURLWithPath: path).lastPathComponent,
                                json: Data(contentsOf: URL(fileURLWithPath: path)))
        }
        let listener = try await metrics.start()
        let result: TransportBench.Result
        do {
            result = try await TransportBench.run(options)
        } catch {
            await listener?.stop()
            throw error
        }
        await listener?.stop()
        if let histogram {
            try result.percentileDistribution.write(toFile: histogram, atomically: true, encoding: .utf8)
        }
        if let report {
            let page = BenchReport.html([BenchReport.Run(label: "this run", result: result)] + earlier)
            try page.write(toFile: report, atomically: true, encoding: .utf8)
        }
        print(json ? try result.json() : result.table)
    }

    /// The benchmark's options from the flags.
    /// - Throws: `ValidationError` for a flag's value or a combination that cannot run.
    private func options() throws(ValidationError) -> TransportBench.Options {
        guard let workload = TransportBench.Workload(rawValue: workload) else {
            throw ValidationError("unknown workload \(workload); one of: "
                                  + TransportBench.Workload.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard patience > 0 else { throw ValidationError("--patience must be positive") }
        if !compare.isEmpty, report == nil { throw ValidationError("--compare draws beside this run in --report: give --report FILE.html") }
        var options = TransportBench.Options()
        options.workload = workload
        options.members = members
        options.processes = processes
        options.tls = tls
        options.tlsFiles = try peerTLS.files()
        options.entries = entries
        options.entrySize = entrySize
        options.snapshotSize = snapshotSize
        options.snapshotDirectory = snapshotDir
        options.window = window
        options.spin = .microseconds(spinMicroseconds)
        options.slowFollower = slowFollowerMicroseconds.map { .microseconds($0) }
        options.backpressure = backpressure
        options.streamQueueLimitBytes = streamQueueLimit
        options.latencySampleEvery = latencySampleEvery
        options.cumulativeAcks = cumulativeAcks
        options.rate = rate
        options.duration = .milliseconds(Int((duration * 1000).rounded()))
        options.patience = .milliseconds(Int((patience * 1000).rounded()))
        options.messages = messages
        options.target = target
        options.targetID = try targetID.map { id throws(ValidationError) in try Self.memberID(id, "--target-id") }
        options.localID = try Self.memberID(localID, "--local-id")
        options.clusterID = try Self.memberID(clusterID, "--cluster-id")
        options.localPort = localPort
        options.executable = CommandLine.arguments.first.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        do {
            try options.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return options
    }

    static func memberID(_ text: String, _ option: String) throws(ValidationError) -> UInt64 {
        guard let id = MemberID(hex: text) else { throw ValidationError("\(option): \(text) is not a hex member ID") }
        return id.rawValue
    }
}
