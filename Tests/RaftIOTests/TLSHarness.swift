import Foundation
import RaftIO
import TestSupport

/// Errors a listener reports, in order; a test waits for the next one.
final class ErrorQueue: Sendable {
    private let state = Locked<(errors: [RaftIOError], taken: Int, waiters: [CheckedContinuation<RaftIOError, Never>])>(([], 0, []))

    func record(_ error: RaftIOError) {
        let waiter: CheckedContinuation<RaftIOError, Never>? = state.withLock { s in
            s.errors.append(error)
            guard !s.waiters.isEmpty else { return nil }
            s.taken += 1
            return s.waiters.removeFirst()
        }
        waiter?.resume(returning: error)
    }

    /// The next error not yet taken, waiting for it if needed.
    func next() async -> RaftIOError {
        await withCheckedContinuation { cont in
            let ready: RaftIOError? = state.withLock { s in
                if s.taken < s.errors.count {
                    s.taken += 1
                    return s.errors[s.taken - 1]
                }
                s.waiters.append(cont)
                return nil
            }
            if let ready { cont.resume(returning: ready) }
        }
    }

    var count: Int { state.withLock { $0.errors.count } }
}

/// Reload events a context reported.
final class ReloadLog: Sendable {
    private let events = Locked<[TLSReloadEvent]>([])
    func record(_ event: TLSReloadEvent) { events.withLock { $0.append(event) } }
    var refusals: [String] {
        events.withLock { $0.compactMap { if case .refused(let e) = $0.outcome { return e.message } else { return nil } } }
    }
    var reloads: Int { events.withLock { $0.filter { if case .reloaded = $0.outcome { true } else { false } }.count } }
}

/// What a client saw of one attempt.
enum Attempt {
    /// The connection echoes; the server presented a certificate with this CN.
    case open(Connection, serverCN: String?)
    /// The handshake failed or the server closed the connection; the client's error (nil: a
    /// plain close with no TLS error, as when a server refuses after the handshake).
    case refused(RaftIOError?)

    var isOpen: Bool { if case .open = self { true } else { false } }
    var error: RaftIOError? { if case .refused(let e) = self { e } else { nil } }
    var serverCN: String? { if case .open(_, let cn) = self { cn } else { nil } }
}

/// Connects to an echo listener and sends one byte: open when it comes back. With TLS 1.3 a
/// server's refusal of the client certificate arrives after the client's handshake, as an alert
/// on the first read, so the echo is the verdict, not the handshake.
func attempt(port: Int, on loop: EventLoop, client: TLSContext, serverName: String? = nil) async throws -> Attempt {
    try await attempt(on: loop) {
        try await Connection.connect(host: "127.0.0.1", port: port, on: loop, tls: client, serverName: serverName)
    }
}

/// As ``attempt(port:on:client:serverName:)``, to an echo listener on the Unix socket at `path`.
func attempt(unixSocket path: String, on loop: EventLoop, client: TLSContext, serverName: String = "localhost") async throws -> Attempt {
    try await attempt(on: loop) {
        try await Connection.connect(unixSocket: path, on: loop, tls: client, serverName: serverName)
    }
}

private func attempt(on loop: EventLoop, connect: () async throws -> Connection) async throws -> Attempt {
    let conn: Connection
    do {
        conn = try await connect()
    } catch let e as RaftIOError {
        return .refused(e)
    }
    _ = try? conn.write([1])
    do {
        if try await readExactly(1, from: conn) == [1] {
            let cn = try await loop.submit { conn.peerCertificate?.commonName }
            return .open(conn, serverCN: cn)
        }
        // The server hung up without a TLS error (a refusal after the handshake, as etcd's).
        conn.close(graceful: false)
        await conn.waitClosed()
        return .refused(nil)
    } catch {
        // The session failed: the connection is closed, with the error it closed on.
        return .refused(await conn.waitClosed() ?? (error as? RaftIOError))
    }
}

/// A folder of PEM files that tests replace while contexts watch them.
struct WatchedFiles {
    let directory: String
    let certs = TestCertificates.shared

    init() throws {
        directory = NSTemporaryDirectory() + "rafthttp-watched-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { directory + "/" + name }

    /// Replaces `name` with the concatenation of the certificate files `sources` (atomically: a
    /// new inode, as operators' tools rotate files).
    func install(_ name: String, from sources: [String]) throws {
        var data = Data()
        for s in sources { data += try Data(contentsOf: URL(fileURLWithPath: certs.path(s))) }
        try data.write(to: URL(fileURLWithPath: path(name)), options: .atomic)
    }

    /// Writes `bytes` into `name` in place (same inode), as a copy interrupted half way leaves it.
    func overwrite(_ name: String, with bytes: Data) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path(name)))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: bytes)
        try handle.close()
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
