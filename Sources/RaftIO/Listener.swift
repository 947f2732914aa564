import CRaftIO

/// A listening TCP or Unix domain socket (optionally TLS) on one ``EventLoop``.
///
/// Each accepted connection is handed to the `accept` closure on the loop thread once it is open
/// (with TLS: once the handshake succeeded). Set a handler there with
/// ``Connection/setHandler(_:)``, or read it from a task with ``Connection/read()``. A failed
/// handshake or accept is reported to `onError` and affects no other connection.
public final class Listener: @unchecked Sendable {
    // @unchecked Sendable: `raw` is touched on the loop thread only (close hops there); `port`,
    // `host` and the closures are immutable; `closed` is lock-protected.

    /// The loop that accepts.
    public let loop: EventLoop
    /// The address bound: a numeric IP address, or the path of a Unix domain socket.
    public let host: String
    /// The port bound (the one the kernel picked when 0 was asked for); 0 for a Unix socket.
    public private(set) var port: Int = 0
    /// Whether this listens on a Unix domain socket (at the path ``host``).
    public let isUnixSocket: Bool

    // MARK: loop thread only
    private var raw: OpaquePointer?
    private let tls: TLSContext?
    private let accept: @Sendable (Connection) -> Void
    private let onError: (@Sendable (RaftIOError) -> Void)?

    // MARK: any thread, under the lock
    private let closeState = Locked<(closed: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    private init(loop: EventLoop, host: String, isUnixSocket: Bool, tls: TLSContext?,
                 accept: @escaping @Sendable (Connection) -> Void, onError: (@Sendable (RaftIOError) -> Void)?) {
        self.loop = loop
        self.host = host
        self.isUnixSocket = isUnixSocket
        self.tls = tls
        self.accept = accept
        self.onError = onError
    }

    /// Binds and listens on the loop thread. See ``bind(host:port:backlog:tls:liveness:on:onError:accept:)``.
    public static func listen(host: String, port: Int, backlog: Int = 511, tls: TLSContext? = nil,
                              liveness: TCPLiveness? = nil,
                              on loop: EventLoop, onError: (@Sendable (RaftIOError) -> Void)? = nil,
                              accept: @escaping @Sendable (Connection) -> Void) throws(RaftIOError) -> Listener {
        let unbound = Listener(loop: loop, host: host, isUnixSocket: false, tls: tls, accept: accept, onError: onError)
        let listener = try start(unbound) { me, err in
            rio_listen(loop.raw, host, Int32(clamping: port), Int32(clamping: backlog), tls?.raw, listenerCallbacks.pointer, me,
                       &err, err.count)
        }
        if let liveness, let raw = listener.raw {
            var options = liveness.raw
            rio_listener_set_liveness(raw, &options)
        }
        return listener
    }

    /// Listens on a Unix domain socket on the loop thread. See ``bind(unixSocket:backlog:tls:on:onError:accept:)``.
    public static func listen(unixSocket path: String, backlog: Int = 511, tls: TLSContext? = nil,
                              on loop: EventLoop, onError: (@Sendable (RaftIOError) -> Void)? = nil,
                              accept: @escaping @Sendable (Connection) -> Void) throws(RaftIOError) -> Listener {
        let unbound = Listener(loop: loop, host: path, isUnixSocket: true, tls: tls, accept: accept, onError: onError)
        return try start(unbound) { me, err in
            rio_listen_unix(loop.raw, path, Int32(clamping: backlog), tls?.raw, listenerCallbacks.pointer, me, &err, err.count)
        }
    }

    /// What both listens share: checks, the retained context for C, and `open`, which makes the C
    /// listener with that context (filling the error text when it fails).
    private static func start(_ listener: Listener,
                              open: (UnsafeMutableRawPointer, inout [CChar]) -> OpaquePointer?) throws(RaftIOError) -> Listener {
        listener.loop.assertInLoop()
        if let tls = listener.tls, tls.role != .server {
            throw RaftIOError(kind: .configuration, message: "listen: the TLS context was made for clients, not servers")
        }
        let me = Unmanaged.passRetained(listener).toOpaque() // released by on_close
        var err = [CChar](repeating: 0, count: Int(RIO_ERRLEN))
        guard let raw = open(me, &err) else {
            Unmanaged<Listener>.fromOpaque(me).release()
            throw RaftIOError(kind: .bind, message: cString(err))
        }
        listener.raw = raw
        listener.port = Int(rio_listener_port(raw))
        return listener
    }

    /// Binds `host` (a numeric IPv4 or IPv6 address) and `port` (0: any free port) and starts
    /// accepting. Safe from any task. `liveness` sets every accepted socket's keepalive and user
    /// timeout (default: the core's keepalive, 30 s).
    /// - Throws: ``RaftIOError/Kind/bind`` with the reason (`address already in use`, ...).
    public static func bind(host: String, port: Int, backlog: Int = 511, tls: TLSContext? = nil,
                            liveness: TCPLiveness? = nil,
                            on loop: EventLoop, onError: (@Sendable (RaftIOError) -> Void)? = nil,
                            accept: @escaping @Sendable (Connection) -> Void) async throws -> Listener {
        try await loop.submit {
            try Listener.listen(host: host, port: port, backlog: backlog, tls: tls, liveness: liveness, on: loop,
                                onError: onError, accept: accept)
        }
    }

    /// Listens on a Unix domain socket at `path` (absolute, or relative to the working directory;
    /// 1 to 107 bytes) and starts accepting. Safe from any task. As etcd does, whatever file is at
    /// `path` is removed first (a socket left by a process that died), and the socket file is
    /// removed when the listener closes. An accepted connection's ``Connection/remoteAddress`` is `@` (an
    /// unnamed client socket, as Go prints it).
    /// - Throws: ``RaftIOError/Kind/bind`` with the reason (path too long, directory missing or
    ///   not writable, ...).
    public static func bind(unixSocket path: String, backlog: Int = 511, tls: TLSContext? = nil,
                            on loop: EventLoop, onError: (@Sendable (RaftIOError) -> Void)? = nil,
                            accept: @escaping @Sendable (Connection) -> Void) async throws -> Listener {
        try await loop.submit {
            try Listener.listen(unixSocket: path, backlog: backlog, tls: tls, on: loop, onError: onError, accept: accept)
        }
    }

    /// Stops accepting (a Unix socket's file is removed). Open connections are not affected. Any
    /// thread; idempotent.
    public func close() {
        loop.executeSoon { [self] in
            if let raw { rio_listener_close(raw) }
        }
    }

    /// Waits until the listening socket is closed.
    public func waitClosed() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let done = closeState.withLock { s in
                if s.closed { return true }
                s.waiters.append(cont)
                return false
            }
            if done { cont.resume() }
        }
    }

    fileprivate func didAccept(_ conn: OpaquePointer) -> UnsafeMutableRawPointer {
        tls?.reloadIfChanged() // C attaches the TLS session after this returns: it gets the new files
        var buf = [CChar](repeating: 0, count: 128)
        let remote = rio_conn_peer_address(conn, &buf, buf.count) == 0 ? cString(buf) : nil
        let checkAddress = tls?.configuration.verifyClientAddress ?? false
        return Connection.accepted(raw: conn, loop: loop) { [self] result in
            switch result {
            case .success(let connection):
                if checkAddress { verifyClientAddress(connection, remote: remote) } else { accept(connection) }
            case .failure(var error):
                error.remoteAddress = remote
                onError?(error)
            }
        }
    }

    /// etcd's `checkCertSAN`, after the handshake: pass, refuse, or resolve names off the loop
    /// (reading paused meanwhile, so nothing reaches the connection before it is handed over).
    private func verifyClientAddress(_ connection: Connection, remote: String?) {
        let address = remote ?? ""
        switch ClientAddressCheck.verdict(certificate: connection.peerCertificate, remoteAddress: address) {
        case .pass:
            accept(connection)
        case .refuse(let message):
            refuse(connection, remote: remote, message)
        case .resolve(let names):
            guard let raw = connection.raw else { return }
            rio_conn_read_stop(raw)
            ClientAddressCheck.resolveOffLoop(ip: ClientAddressCheck.host(of: address) ?? "", names: names) { [self] failure in
                loop.executeSoon { [self] in
                    if let failure {
                        refuse(connection, remote: remote, failure)
                    } else if !connection.isClosed {
                        accept(connection)
                        if let raw = connection.raw { rio_conn_read_start(raw) }
                    }
                }
            }
        }
    }

    private func refuse(_ connection: Connection, remote: String?, _ message: String) {
        connection.close(graceful: false)
        var error = RaftIOError(kind: .tlsHandshake, message: message)
        error.remoteAddress = remote
        onError?(error)
    }

    fileprivate func didFail(_ error: RaftIOError) { onError?(error) }

    fileprivate func didClose() {
        raw = nil
        let waiters = closeState.withLock { s in
            s.closed = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

private struct ListenerCallbackTable: @unchecked Sendable {
    // @unchecked Sendable: written once at initialisation, read-only afterwards.
    let pointer: UnsafeMutablePointer<rio_listener_callbacks_t>
}

private let listenerCallbacks: ListenerCallbackTable = {
    let p = UnsafeMutablePointer<rio_listener_callbacks_t>.allocate(capacity: 1)
    p.initialize(to: rio_listener_callbacks_t(
        on_accept: { _, ldata, conn, cbs, data in
            guard let ldata, let conn, let cbs, let data else { return -1 }
            let listener = Unmanaged<Listener>.fromOpaque(ldata).takeUnretainedValue()
            data.pointee = listener.didAccept(conn)
            cbs.pointee = UnsafePointer(callbackTable.pointer)
            return 0
        },
        on_error: { _, ldata, status, msg in
            guard let ldata else { return }
            Unmanaged<Listener>.fromOpaque(ldata).takeUnretainedValue()
                .didFail(RaftIOError(code: status, message: msg.map { String(cString: $0) } ?? ""))
        },
        on_close: { _, ldata in
            guard let ldata else { return }
            Unmanaged<Listener>.fromOpaque(ldata).takeRetainedValue().didClose()
        }))
    return ListenerCallbackTable(pointer: p)
}()
