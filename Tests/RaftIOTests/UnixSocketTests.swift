import Foundation
import RaftIO
import Testing
import TestSupport

/// Listening and dialing on Unix domain sockets, as etcd's `unix://` and `unixs://` URLs do: the
/// socket file's life (a stale one removed before listening, ours removed on close), TLS over it
/// with the server name checked, the client SAN check etcd applies there, and the failures a user
/// sees, verbatim.
@Suite("Unix domain sockets")
struct UnixSocketTests {
    let certs = TestCertificates.shared

    /// A fresh directory for socket files, removed by `body`'s end.
    func withDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
        let directory = NSTemporaryDirectory() + "rafthttp-unix-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(directory)
    }

    func isSocket(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }

    /// Leaves a socket file at `path` with nobody listening: what a member killed by a signal
    /// leaves behind (etcd 3.4 does, on SIGTERM).
    func makeStaleSocket(_ path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(rc == 0)
        #expect(isSocket(path))
    }

    @Test("an echo round trip over a Unix socket; the listener's socket file exists while it listens and is removed on close")
    func echoAndFileLifetime() async throws {
        try await withDirectory { directory in
            try await withEventLoop { group in
                let loop = group.next()
                let path = directory + "/localhost:2380"
                let remotes = Locked<[String]>([])
                let listener = try await Listener.bind(unixSocket: path, on: loop) { connection in
                    remotes.withLock { $0.append(connection.remoteAddress ?? "nil") }
                    connection.setHandler(EchoHandler())
                }
                #expect(listener.isUnixSocket && listener.host == path && listener.port == 0)
                #expect(isSocket(path))
                let client = try await Connection.connect(unixSocket: path, on: loop)
                let message = Array("hello over a unix socket".utf8)
                try client.write(message)
                #expect(try await readExactly(message.count, from: client) == message)
                // Each side's view of the other, as Go prints it: the client is unnamed ("@").
                #expect(remotes.withLock { $0 } == ["@"])
                #expect(try await loop.submit { client.remoteAddress } == path)
                // No keepalive or user timeout on a Unix socket: setting is a no-op, reading gives zero.
                let liveness = try await loop.submit { () throws -> TCPLiveness in
                    try client.setTCPLiveness(TCPLiveness(readTimeout: .seconds(5)))
                    return try client.tcpLivenessInEffect()
                }
                #expect(liveness.keepAliveIdle == .zero && liveness.userTimeout == .zero)
                client.close()
                #expect(await client.waitClosed() == nil)
                listener.close()
                await listener.waitClosed()
                #expect(!FileManager.default.fileExists(atPath: path))
            }
        }
    }

    @Test("a stale socket file, left by a listener that died, is removed before listening")
    func staleSocketRemoved() async throws {
        try await withDirectory { directory in
            try await withEventLoop { group in
                let loop = group.next()
                let path = directory + "/member-1:2380"
                try makeStaleSocket(path)
                // Nobody listens on a stale socket: a dial is refused, not left hanging.
                do {
                    _ = try await Connection.connect(unixSocket: path, on: loop)
                    Issue.record("a dial to a stale socket opened")
                } catch let error as RaftIOError {
                    #expect(error.kind == .connectionRefused)
                    #expect(error.message == "uv_pipe_connect(): connection refused")
                }
                let listener = try await Listener.bind(unixSocket: path, on: loop) { $0.setHandler(EchoHandler()) }
                let client = try await Connection.connect(unixSocket: path, on: loop)
                try client.write([7])
                #expect(try await readExactly(1, from: client) == [7])
                client.close()
                listener.close()
                await listener.waitClosed()
                #expect(!FileManager.default.fileExists(atPath: path))
            }
        }
    }

    @Test("dialing a missing socket file, or listening where no socket can be, fails with the reason")
    func failures() async throws {
        try await withDirectory { directory in
            try await withEventLoop { group in
                let loop = group.next()
                do {
                    _ = try await Connection.connect(unixSocket: directory + "/nobody:1", on: loop)
                    Issue.record("a dial to a missing socket file opened")
                } catch let error as RaftIOError {
                    #expect(error.message == "uv_pipe_connect(): no such file or directory")
                }
                // libuv reports a missing directory as EACCES (as Windows would).
                let missing = directory + "/no-such-directory/localhost:1"
                await #expect(throws: RaftIOError(kind: .bind, message: "uv_pipe_bind(): permission denied (unix socket \(missing))")) {
                    try await Listener.bind(unixSocket: missing, on: loop) { _ in }
                }
                // A directory is never taken for a stale socket.
                let occupied = directory + "/occupied:1"
                try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: false)
                await #expect(throws: RaftIOError(kind: .bind, message: "unlink(): illegal operation on a directory (unix socket \(occupied))")) {
                    try await Listener.bind(unixSocket: occupied, on: loop) { _ in }
                }
                let long = directory + "/" + String(repeating: "x", count: 120)
                await #expect(throws: RaftIOError(kind: .bind, message: "listen: a Unix socket path must have 1 to 107 bytes: \"\(long)\"")) {
                    try await Listener.bind(unixSocket: long, on: loop) { _ in }
                }
                do {
                    _ = try await Connection.connect(unixSocket: long, on: loop)
                    Issue.record("a dial to a path longer than the kernel takes opened")
                } catch let error as RaftIOError {
                    #expect(error.message == "dial: socket path longer than 107 bytes: \(long)")
                }
                // A TLS dial must say which name the certificate has to carry: a path names none.
                let client = try TLSContext(configuration: certs.client(), role: .client)
                do {
                    _ = try await Connection.connect(unixSocket: directory + "/x:1", on: loop, tls: client)
                    Issue.record("a TLS dial without a server name opened")
                } catch let error as RaftIOError {
                    #expect(error.kind == .configuration)
                    #expect(error.message == "dial: TLS over a Unix socket needs a server name")
                }
            }
        }
    }

    @Test("mutual TLS over a Unix socket checks the server's certificate against the server name")
    func mutualTLS() async throws {
        try await withDirectory { directory in
            try await withEventLoop { group in
                let loop = group.next()
                let path = directory + "/localhost:2380"
                let server = try TLSContext(configuration: certs.server(clientAuth: .require), role: .server)
                let client = try TLSContext(configuration: certs.client(), role: .client)
                let listener = try await Listener.bind(unixSocket: path, tls: server, on: loop) { $0.setHandler(EchoHandler()) }
                defer { listener.close() }
                let accepted = try await attempt(unixSocket: path, on: loop, client: client, serverName: "localhost")
                #expect(accepted.serverCN == "server")
                let wrongName = try await attempt(unixSocket: path, on: loop, client: client, serverName: "other.example")
                #expect(wrongName.error?.kind == .tlsHandshake)
                #expect(wrongName.error?.message.contains("certificate verify failed") == true, "\(String(describing: wrongName.error))")
                let noCertificate = try TLSContext(configuration: certs.client(nil), role: .client)
                #expect(!(try await attempt(unixSocket: path, on: loop, client: noCertificate)).isOpen)
            }
        }
    }

    @Test("with the client SAN check on, a client certificate with SANs is refused over a Unix socket, as etcd 3.4 refuses it")
    func clientSANCheckOverUnixSocket() async throws {
        try await withDirectory { directory in
            try await withEventLoop { group in
                let loop = group.next()
                let path = directory + "/localhost:2380"
                var configuration = certs.server(clientAuth: .require)
                configuration.verifyClientAddress = true
                let server = try TLSContext(configuration: configuration, role: .server)
                let errors = ErrorQueue()
                let listener = try await Listener.bind(unixSocket: path, tls: server, on: loop, onError: { errors.record($0) }) {
                    $0.setHandler(EchoHandler())
                }
                defer { listener.close() }
                let withSANs = try TLSContext(configuration: certs.client(), role: .client)
                #expect(!(try await attempt(unixSocket: path, on: loop, client: withSANs)).isOpen)
                let error = await errors.next()
                // etcd 3.4.23's words: rejected connection from "@" (error "address @: missing port in address", ...)
                #expect(error.message == "address @: missing port in address")
                #expect(error.remoteAddress == "@")
                let noSANs = try TLSContext(configuration: certs.client("nosan"), role: .client)
                #expect(try await attempt(unixSocket: path, on: loop, client: noSANs).isOpen)
            }
        }
    }

    // Counting descriptors is process-wide: the test runs alone.
    @Test("closing a Unix listener and its connections, plain and TLS, leaves no file descriptor open")
    func noDescriptorLeft() async throws {
        try await ResourceGate.exclusive {
            try await withDirectory { directory in
                let group = try EventLoopGroup(loopCount: 1)
                let loop = group.next()
                let server = try TLSContext(configuration: certs.server(clientAuth: .require), role: .server)
                let client = try TLSContext(configuration: certs.client(), role: .client)
                /// Two listeners, three connections to each, an echo on each; then all closed, both halves.
                func round() async throws {
                    let accepted = Locked<[Connection]>([])
                    let echo: @Sendable (Connection) -> Void = { connection in
                        accepted.withLock { $0.append(connection) }
                        connection.setHandler(EchoHandler())
                    }
                    let plain = try await Listener.bind(unixSocket: directory + "/plain:1", on: loop, accept: echo)
                    let secure = try await Listener.bind(unixSocket: directory + "/secure:1", tls: server, on: loop, accept: echo)
                    var connections: [Connection] = []
                    for _ in 0..<3 {
                        connections.append(try await Connection.connect(unixSocket: directory + "/plain:1", on: loop))
                        connections.append(try await Connection.connect(unixSocket: directory + "/secure:1", on: loop, tls: client,
                                                                        serverName: "localhost"))
                    }
                    for c in connections {
                        try c.write([1])
                        #expect(try await readExactly(1, from: c) == [1])
                    }
                    for c in connections { c.close() }
                    for c in connections { _ = await c.waitClosed() }
                    plain.close()
                    secure.close()
                    await plain.waitClosed()
                    await secure.waitClosed()
                    // The servers' halves close once they read the clients' EOF.
                    let halves = accepted.withLock { $0 }
                    #expect(halves.count == 6)
                    try await withDeadline(.seconds(10), "the servers' halves closed") {
                        for c in halves { _ = await c.waitClosed() }
                    }
                }
                // The first round makes what the process keeps once made (worker threads' own
                // descriptors): only a second round's count says whether closing leaks.
                try await round()
                let before = ProcessResources.openFileDescriptors()
                try await round()
                #expect(ProcessResources.openFileDescriptors() == before)
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
                await group.shutdownOffPool()
            }
        }
    }
}
