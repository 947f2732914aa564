import Foundation
import RaftIO

/// Runs a program to completion on a thread of its own, so waiting for it does not hold one of
/// Swift concurrency's few cooperative threads. Otherwise as ``run(_:_:cwd:)``.
public func runDetached(_ executable: String, _ arguments: [String], cwd: String? = nil) async throws -> ShellResult {
    try await offCooperativePool { Result { try run(executable, arguments, cwd: cwd) } }.get()
}

/// A long-running child process (a server), killed by ``stop()`` or when dropped; its log file
/// goes with it.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is only started in init and terminated afterwards; Process
    // is thread-safe for these calls.
    private let process: Process
    /// The write end of the child's stdin, with `keepsInputOpen`.
    private let input: FileHandle?
    /// Where the child's stdout and stderr go: a temporary file, removed by ``removeLog()`` or
    /// when the object goes (after the child was killed).
    public let logPath: String

    /// Starts `executable` with `arguments`, its output in a temporary log file. With
    /// `keepsInputOpen` its stdin is a pipe that stays open until ``closeInput()`` (a child that
    /// stops at the end of its input, such as `rafthttp bench-follower`); otherwise it inherits ours.
    public init(_ executable: String, _ arguments: [String], cwd: String? = nil, keepsInputOpen: Bool = false) throws {
        process = Process()
        let pipe = keepsInputOpen ? Pipe() : nil
        if let pipe { process.standardInput = pipe }
        input = pipe?.fileHandleForWriting
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        logPath = NSTemporaryDirectory() + "child-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        do {
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardOutput = log
            process.standardError = log
            try process.run()
        } catch {
            try? FileManager.default.removeItem(atPath: logPath)
            throw error
        }
    }

    /// The child's output so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Deletes the log file now (the child keeps writing into the unlinked file while it runs).
    /// Idempotent.
    public func removeLog() {
        try? FileManager.default.removeItem(atPath: logPath)
    }

    /// Writes `text` to the child's stdin (with `keepsInputOpen`; otherwise does nothing).
    public func writeInput(_ text: String) {
        try? input?.write(contentsOf: Data(text.utf8))
    }

    /// Closes the child's stdin: it reads the end of its input.
    public func closeInput() {
        try? input?.close()
    }

    /// Whether the child is still running (it has not exited or been killed).
    public var isRunning: Bool { process.isRunning }

    /// Sends `number` (SIGSTOP, SIGCONT, ...) to the child while it runs.
    public func signal(_ number: Int32) {
        if process.isRunning { kill(process.processIdentifier, number) }
    }

    /// Waits, on a thread of its own, until the child exits; its exit status (the signal number
    /// when a signal ended it).
    public func waitForExit() async -> Int32 {
        await offCooperativePool { [process] in
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    /// Kills the child (SIGKILL) and waits for it. Idempotent.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Asks the child to stop (SIGTERM), as an operator stopping a server does, and waits for it
    /// on a thread of its own; SIGKILL after `grace` if it is still running then (a hang guard,
    /// not a wait: etcd stops in well under a second). Idempotent.
    public func terminateDetached(grace: Duration = .seconds(20)) async {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        let killer = DispatchWorkItem { [process] in if process.isRunning { kill(pid, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(grace / .milliseconds(1))), execute: killer)
        await offCooperativePool { [process] in process.waitUntilExit() }
        killer.cancel()
    }

    /// ``stop()`` on a thread of its own, so that waiting for the child to exit does not hold one
    /// of Swift concurrency's few cooperative threads.
    public func stopDetached() async {
        await offCooperativePool { [self] in stop() }
    }

    deinit {
        stop()
        removeLog()
    }
}

/// A free TCP port on 127.0.0.1 for a server that a test starts later (a child process, a
/// listener told its port). Chosen below the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), from which every bind to port 0 and every outgoing
/// connection takes its port: so no listener of another test, and no client socket, can take it
/// between this call and the server's bind. Never the same port twice in one process; checked
/// free by binding it.
public func freePort() -> Int {
    PortAllocator.shared.next()
}

/// Hands out ports below the ephemeral range, each at most once per process.
final class PortAllocator: Sendable {
    static let shared = PortAllocator()
    private let range: Range<Int>
    private let handedOut = Locked<Set<Int>>([])

    private init() {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let ephemeralLow = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32768
        // Well above the ports that system services listen on, and below the ephemeral range.
        let low = min(20_000, max(1024, ephemeralLow - 4096))
        range = low..<max(low + 1, ephemeralLow)
    }

    func next() -> Int {
        while true {
            let port = Int.random(in: range)
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh, Self.canBind(port) { return port }
        }
    }

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        return withLoopbackAddress(port: port, fd, bind) == 0
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, retrying a connect until
/// `deadline`. Returns whether it did.
public func waitForPort(_ port: Int, deadline: Duration = .seconds(20)) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + deadline
    while clock.now < end {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let rc = withLoopbackAddress(port: port, fd, connect)
        close(fd)
        if rc == 0 { return true }
        try? await Task.sleep(for: .milliseconds(50)) // a retry interval, not a wait for a condition
    }
    return false
}

/// Calls `operation` (`bind` or `connect`) on socket `fd` with 127.0.0.1:`port`; returns its result.
func withLoopbackAddress(port: Int, _ fd: Int32,
                         _ operation: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { operation(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// A listening socket on 127.0.0.1 that accepts nothing: the port in use that a server under test
/// must fail to bind. Closed when dropped.
public final class PortHolder: Sendable {
    /// The port held.
    public let port: Int
    private let fd: Int32

    /// Binds and listens on a free port (see ``freePort()``).
    public init() throws {
        while true {
            let port = freePort()
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            if withLoopbackAddress(port: port, fd, bind) == 0, listen(fd, 1) == 0 {
                self.port = port
                self.fd = fd
                return
            }
            close(fd)
        }
    }

    deinit { close(fd) }
}
