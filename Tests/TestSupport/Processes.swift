import Foundation

/// Runs a program to completion on a thread of its own, so waiting for it does not hold one of
/// Swift concurrency's few cooperative threads. Otherwise as ``run(_:_:cwd:)``.
public func runDetached(_ executable: String, _ arguments: [String], cwd: String? = nil) async throws -> ShellResult {
    try await withCheckedThrowingContinuation { (cont: CheckedContinuation<ShellResult, any Error>) in
        let thread = Thread {
            do { cont.resume(returning: try run(executable, arguments, cwd: cwd)) } catch { cont.resume(throwing: error) }
        }
        thread.start()
    }
}

/// A long-running child process (a server), killed by ``stop()`` or when dropped.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is only started in init and terminated afterwards; Process
    // is thread-safe for these calls.
    private let process: Process
    /// Where the child's stdout and stderr go.
    public let logPath: String

    /// Starts `executable` with `arguments`, its output in a temporary log file.
    public init(_ executable: String, _ arguments: [String], cwd: String? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        logPath = NSTemporaryDirectory() + "child-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// The child's output so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Deletes the log file (the child keeps writing into the unlinked file while it runs).
    public func removeLog() {
        try? FileManager.default.removeItem(atPath: logPath)
    }

    /// Whether the child is still running (it has not exited or been killed).
    public var isRunning: Bool { process.isRunning }

    /// Kills the child (SIGKILL) and waits for it. Idempotent.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// ``stop()`` on a thread of its own, so that waiting for the child to exit does not hold one
    /// of Swift concurrency's few cooperative threads.
    public func stopDetached() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            Thread { [self] in
                stop()
                cont.resume()
            }.start()
        }
    }

    deinit { stop() }
}

/// A free TCP port on 127.0.0.1 (bound and released: another process may take it, rarely).
public func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    _ = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, retrying a connect until
/// `deadline`. Returns whether it did.
public func waitForPort(_ port: Int, deadline: Duration = .seconds(20)) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + deadline
    while clock.now < end {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(fd)
        if rc == 0 { return true }
        try? await Task.sleep(for: .milliseconds(50)) // a retry interval, not a wait for a condition
    }
    return false
}
