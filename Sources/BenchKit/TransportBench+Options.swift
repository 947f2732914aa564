// What `rafthttp bench` can be asked to run. The defaults are the README's demo: three members in
// this process, MsgApp with one 64-byte entry, a window of 1024 messages, ten seconds.

extension TransportBench {
    /// The traffic the leader sends to each follower.
    public enum Workload: String, Sendable, CaseIterable, Codable {
        /// MsgApp with `entries` entries of `entrySize` bytes, on the msgapp v2 stream.
        case msgapp
        /// MsgHeartbeat, on the message stream.
        case heartbeat
        /// MsgApp on the msgapp v2 stream plus a MsgHeartbeat every eighth round on the message
        /// stream, as a busy leader sends.
        case mix
        /// MsgSnap with a `snapshotSize` body over POST /raft/snapshot (needs the snapshot sender).
        case snapshot
        /// MsgApp over the pipeline only (POST /raft per message, four workers): the followers are
        /// known to the leader as remotes, never as peers, so no stream is dialed.
        case pipeline
    }

    /// One benchmark run's parameters. Every field has the CLI's default.
    public struct Options: Sendable {
        /// The traffic.
        public var workload: Workload = .msgapp
        /// Members including the leader (at least 2). Ignored with ``target``.
        public var members = 3
        /// Run each follower as a child process (`bench-follower`) of ``executable`` instead of in
        /// this process.
        public var processes = false
        /// Serve and dial with TLS 1.3 and mutual authentication, certificates made on the fly.
        public var tls = false
        /// Serve and dial with TLS using these files (a TLS cluster's own certificates, for
        /// ``target``) instead of throw-away ones; exclusive with ``tls``.
        public var tlsFiles: TLSFiles?
        /// Entries per MsgApp.
        public var entries = 1
        /// Bytes per entry (at least 8: the first entry carries the send time in its first 8 bytes).
        public var entrySize = 64
        /// Bytes of the snapshot body, for ``Workload/snapshot``.
        public var snapshotSize = 1 << 30
        /// For ``Workload/snapshot``: followers store each database with the library's
        /// `FileSnapshotSink` in a folder of their own under this one (created, and removed with
        /// what it holds at the end), as a member would; nil: they count the bytes and discard them.
        public var snapshotDirectory: String?
        /// Messages per follower sent but not yet delivered (or dropped) before the leader waits.
        public var window = 1024
        /// How long each member's loop keeps polling after activity before it sleeps
        /// (``RaftIO/EventLoopGroup/init(loopCount:spin:)``). Default zero, the library's default,
        /// so the bench measures what a user gets. Spinning (e.g. 20-50 µs) saves the sleep and
        /// wake-up per hop that dominate small windows (W=1 in-process on an idle 2-core machine:
        /// 19 k → 45 k msg/s) and costs CPU per message where the loops would otherwise sleep
        /// (cross-process W=1: +25-55 %); see BENCHMARKS.md.
        public var spin: Duration = .zero
        /// The first follower's raft holds its loop thread this long for each delivered batch, as
        /// a follower with a slow disk would: the leader's queue toward it grows (in-process only).
        public var slowFollower: Duration?
        /// The leader stops sending to a follower while the transport reports it congested
        /// (``RaftHTTP/Raft/reportCongestion(_:state:)``), as raft's flow control pauses a
        /// follower, instead of letting the transport drop what does not fit.
        public var backpressure = false
        /// The leader's ``RaftHTTP/Transport/Configuration/streamQueueLimitBytes``; nil: the
        /// library's default (64 MiB). In-process only.
        public var streamQueueLimitBytes: Int?
        /// Latency is recorded for one message in this many (per follower and kind): only those
        /// carry their send time, so the harness adds no allocation or clock read to the others.
        public var latencySampleEvery = 16
        /// Measure the harness's own CPU per message with a dry run after the run (see
        /// ``Result/harnessCPUMicrosecondsPerMessage``). Benchmarks that count allocations per run
        /// turn it off.
        public var measureHarness = true
        /// With ``processes``: followers answer each delivered batch with one cumulative
        /// MsgAppResp and MsgHeartbeatResp instead of one answer per message as etcd's raft does.
        public var cumulativeAcks = false
        /// Messages per second in total (over all followers) instead of saturating; the send time
        /// stamped is the scheduled one, so a stalled sender shows as latency (no coordinated omission).
        public var rate: Double?
        /// How long streams may take to come up, and how long a full window may go without
        /// progress before the run ends early as stalled. Tests raise it to a hang guard, so that
        /// a slow machine finishes the run instead of cutting it short.
        public var patience: Duration = .seconds(10)
        /// How long the leader sends, unless ``messages`` is set.
        public var duration: Duration = .seconds(10)
        /// Messages to send in total (over all followers); overrides ``duration``.
        public var messages: Int?
        /// An already running peer to send to instead of starting followers (`http://host:port`).
        public var target: String?
        /// The raft member ID of ``target``.
        public var targetID: UInt64?
        /// Our member ID (the leader's). With ``target`` it must be a member of the target's cluster.
        public var localID: UInt64 = 1
        /// The cluster ID every member uses. With ``target``, the target's cluster ID.
        public var clusterID: UInt64 = 0x1000
        /// Where our listener binds with ``target`` (the target must be able to dial us there); 0
        /// picks a free port.
        public var localPort = 0
        /// The `rafthttp` executable that runs `bench-follower`, for ``processes``.
        public var executable: String?
        /// Receives the live progress line once a second (the CLI prints it to stderr); nil: none.
        public var progress: (@Sendable (String) -> Void)?

        /// The defaults.
        public init() {}

        /// Bytes of payload (entry data) one message of `workload` carries.
        var payloadPerMessage: Int {
            switch workload {
            case .msgapp, .pipeline, .mix: entries * entrySize
            case .heartbeat: 0
            case .snapshot: snapshotSize
            }
        }

        /// Checks the options against each other without running anything: what a command line
        /// can check before it starts (the CLI reports these as usage errors).
        /// - Throws: ``TransportBenchError`` naming the flag to change.
        public func validate() throws(TransportBenchError) {
            if target == nil, members < 2 { throw .invalid("--members must be at least 2 (a leader and a follower)") }
            if entries < 1 { throw .invalid("--entries must be at least 1") }
            if entrySize < 8 { throw .invalid("--entry-size must be at least 8 bytes (the send time is stamped there)") }
            if window < 1 { throw .invalid("--window must be at least 1") }
            if latencySampleEvery < 1 { throw .invalid("--latency-sample-every must be at least 1") }
            if let rate, !(rate > 0) { throw .invalid("--rate must be positive") }
            if let messages, messages < 1 { throw .invalid("--messages must be at least 1") }
            if target != nil, targetID == nil { throw .invalid("--target needs --target-id") }
            if target != nil, processes { throw .invalid("--target and --processes exclude each other") }
            if tls, tlsFiles != nil { throw .invalid("--tls makes throw-away certificates: leave it out with --peer-cert-file") }
            if processes, executable == nil { throw .invalid("--processes needs the rafthttp executable's path") }
            if workload == .snapshot, target != nil || processes {
                throw .invalid("the snapshot workload runs in-process only")
            }
            if workload == .pipeline, target != nil || processes {
                throw .invalid("the pipeline workload runs in-process only")
            }
        }
    }
}

/// Why a benchmark could not run; the text says what to change.
public struct TransportBenchError: Error, CustomStringConvertible {
    /// What went wrong, for a person.
    public var description: String

    static func invalid(_ text: String) -> TransportBenchError { TransportBenchError(description: text) }
}
