import Foundation

/// A `rafthttp peer` child process: a Swift member of a statically configured etcd cluster, an
/// observer that answers MsgHeartbeat with MsgHeartbeatResp and MsgApp with a rejection. Started
/// with etcd's flags, with a temporary data directory, optionally inside a network namespace
/// (`ip netns exec` execs the command, so the child's PID is the member's own and SIGKILL reaches
/// it). Killed by ``kill()`` or when dropped.
public final class PeerProcess: Sendable {
    /// The `rafthttp` binary built beside the test bundle (`swift build --build-tests` builds it),
    /// if any.
    public static let executable = builtExecutable(named: "rafthttp")

    // MARK: immutable, any thread
    /// The member's `--name`.
    public let name: String
    private let child: ChildProcess
    private let dataDirectory: String

    /// Starts `rafthttp peer --name name --initial-cluster initialCluster --initial-cluster-token
    /// token`, listening on and advertising `url` (the one `initialCluster` gives `name`), as an
    /// observer unless `extraArguments` name a `--raft-role`: the transport tests send it traffic
    /// that is no raft's (heartbeats from several members at arbitrary terms), which a voter
    /// rightly answers by raft's term rules instead of echoing each heartbeat.
    ///
    /// - Parameter namespace: a network namespace to run in (see ``NetworkNamespaceLab``).
    /// - Parameter extraArguments: more flags (`--raft-read-timeout 2s`, ...).
    /// - Throws: when the process cannot be started. A member that starts and then fails (a port
    ///   in use) exits; see ``isRunning`` and ``log``.
    public init(executable: String, name: String, initialCluster: String, token: String, url: String,
                namespace: String? = nil, extraArguments: [String] = []) throws {
        self.name = name
        dataDirectory = NSTemporaryDirectory() + "peer-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let arguments = [executable, "peer", "--name", name, "--initial-cluster", initialCluster,
                         "--initial-cluster-token", token, "--listen-peer-urls", url, "--initial-advertise-peer-urls", url,
                         "--data-dir", dataDirectory]
            + (extraArguments.contains("--raft-role") ? [] : ["--raft-role", "observer"]) + extraArguments
        if let namespace {
            child = try ChildProcess("ip", ["netns", "exec", namespace] + arguments)
        } else {
            child = try ChildProcess(executable, Array(arguments.dropFirst()))
        }
    }

    /// Whether the process still runs (it has neither exited nor been killed).
    public var isRunning: Bool { child.isRunning }

    /// What the process has logged so far.
    public var log: String { child.log }

    /// The last `lines` lines of the log, for failure messages.
    public func logTail(_ lines: Int = 20) -> String {
        "--- rafthttp peer \(name) ---\n" + log.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Stops the process with SIGSTOP: its kernel still answers TCP (handshakes, ACKs, keepalive
    /// probes), nothing above it does; no FIN, no RST. Undo with ``resume()``.
    public func suspend() { child.signal(SIGSTOP) }

    /// Continues a process stopped by ``suspend()``.
    public func resume() { child.signal(SIGCONT) }

    /// Sends `number` (SIGTERM, SIGINT) and waits for the process to exit; its exit status.
    public func stop(with number: Int32) async -> Int32 {
        child.signal(number)
        return await child.waitForExit()
    }

    /// Kills the process with SIGKILL (its sockets are closed by the kernel, nothing by the
    /// member) and waits for it, without holding a cooperative thread. Idempotent.
    public func kill() async {
        await child.stopDetached()
    }

    /// Kills the process and removes its data directory and log.
    public func remove() async {
        await kill()
        try? FileManager.default.removeItem(atPath: dataDirectory)
        child.removeLog()
    }

    deinit {
        child.stop()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}

/// The package's executable `name` built beside the test bundle (`swift build --build-tests`
/// builds every product), found within four folders up from the test runner; nil when absent.
public func builtExecutable(named name: String) -> String? {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}
