import CRaftIO

/// A TCP or Unix domain socket connection, with or without TLS, owned by one ``EventLoop``.
///
/// - Reading: either install a ``ConnectionHandler`` (its methods run on the loop thread with no
///   task hop), or use ``read()`` from a task, which buffers at most ``inboundHighWater`` bytes before
///   pausing the socket.
/// - Writing: ``write(_:)-([UInt8])`` is safe from any thread and never blocks; bytes written by many
///   calls are coalesced into one socket write per loop turn (one TLS record per 16 KiB). It returns
///   the bytes queued so far: bound memory with ``waitForQueue(below:)``.
/// - Closing: ``close(graceful:)``; every path ends in exactly one
///   ``ConnectionHandler/connectionDidClose(_:error:)``, and ``waitClosed()`` returns.
///
/// A connection stays alive while its socket is open, even with no reference left: close it.
public final class Connection: @unchecked Sendable {
    // @unchecked Sendable: `raw` is written once, before the connection is handed to anyone else
    // (the dial runs on the loop before the connection is published); the C functions called on
    // it from other threads are the any-thread ones of craftio.h. Properties under "loop thread
    // only" are touched from loop callbacks and loop jobs alone; `shared` is lock-protected.

    /// The loop that owns this connection.
    public let loop: EventLoop

    private(set) var raw: OpaquePointer?

    // MARK: loop thread only
    private var handler: (any ConnectionHandler)?
    private var onOpen: ((Result<Connection, RaftIOError>) -> Void)?
    private var closeRequestedBeforeDial = false
    private var isOpen = false

    // MARK: any thread, under the lock
    private struct Shared {
        var closed = false
        var closeError: RaftIOError?
        var closeWaiters: [CheckedContinuation<RaftIOError?, Never>] = []
        var queueWaiters: [(limit: Int, waiter: QueueWaiter)] = []
    }

    /// Who waits for the queue to fall below a limit: a task, or a callback on the loop thread.
    private enum QueueWaiter {
        case task(CheckedContinuation<Void, any Error>)
        case callback(@Sendable (RaftIOError?) -> Void)

        func resume(_ error: RaftIOError?) {
            switch self {
            case .task(let c):
                if let error { c.resume(throwing: error) } else { c.resume() }
            case .callback(let f):
                f(error)
            }
        }
    }
    private let shared = Locked(Shared())
    let inbound: InboundBuffer

    /// Bytes ``read()`` buffers before it pauses the socket.
    public static let inboundHighWater = 1 << 20

    init(loop: EventLoop, raw: OpaquePointer?) {
        self.loop = loop
        self.raw = raw
        self.inbound = InboundBuffer(highWater: Connection.inboundHighWater)
    }

    deinit {
        if let raw { rio_conn_release(raw) }
    }

    /// Connection objects of the I/O core allocated and not yet freed in this process: a leak
    /// check for tests and diagnostics.
    package static var liveCount: Int { rio_conn_live_count() }

    // MARK: - dialing

    /// Dials `host:port` from the loop thread and reports the outcome through `onOpen`, on the loop.
    ///
    /// `host` is a numeric address or a name (resolved off the loop by libuv's resolver); every
    /// resolved address is tried in turn. `timeout` bounds resolution, connect and TLS handshake.
    /// With `tls`, the server's certificate must name `serverName` (default: `host`). `handler`
    /// receives the connection's events from the moment it opens; without one, use ``read()``.
    /// `liveness` sets the socket's keepalive and user timeout once connected (default: the core's
    /// keepalive, 30 s). Loop thread only.
    public static func dial(host: String, port: Int, on loop: EventLoop, tls: TLSContext? = nil,
                            serverName: String? = nil, timeout: Duration = .seconds(5),
                            liveness: TCPLiveness? = nil, handler: (any ConnectionHandler)? = nil,
                            onOpen: @escaping (Result<Connection, RaftIOError>) -> Void) -> Connection {
        dial(on: loop, tls: tls, liveness: liveness, handler: handler, address: "\(host):\(port)", onOpen: onOpen) { me in
            rio_dial(loop.raw, host, Int32(clamping: port), timeout.milliseconds, tls?.raw, serverName ?? host,
                     callbackTable.pointer, me)
        }
    }

    /// Dials the Unix domain socket at `path` (absolute, or relative to the working directory; at
    /// most 107 bytes) from the loop thread, as ``dial(host:port:on:tls:serverName:timeout:liveness:handler:onOpen:)``
    /// dials TCP. With `tls`, `serverName` is required: the server's certificate must name it, as
    /// it must name the host of a TCP dial (etcd uses the host of a `unixs://host:port` URL). A
    /// missing socket file fails with `uv_pipe_connect(): no such file or directory`, one nobody
    /// listens on with ``RaftIOError/Kind/connectionRefused``. Loop thread only.
    public static func dial(unixSocket path: String, on loop: EventLoop, tls: TLSContext? = nil,
                            serverName: String? = nil, timeout: Duration = .seconds(5),
                            handler: (any ConnectionHandler)? = nil,
                            onOpen: @escaping (Result<Connection, RaftIOError>) -> Void) -> Connection {
        dial(on: loop, tls: tls, liveness: nil, handler: handler, address: path, onOpen: onOpen) { me in
            rio_dial_unix(loop.raw, path, timeout.milliseconds, tls?.raw, serverName, callbackTable.pointer, me)
        }
    }

    /// What both dials share: the connection object, its retained context for C, and `start`,
    /// which makes the C dial with that context.
    private static func dial(on loop: EventLoop, tls: TLSContext?, liveness: TCPLiveness?, handler: (any ConnectionHandler)?,
                             address: String, onOpen: @escaping (Result<Connection, RaftIOError>) -> Void,
                             start: (UnsafeMutableRawPointer) -> OpaquePointer?) -> Connection {
        loop.assertInLoop()
        let connection = Connection(loop: loop, raw: nil)
        connection.handler = handler ?? connection.inbound
        connection.onOpen = onOpen
        tls?.reloadIfChanged() // certificate, CA or CRL files replaced since the last handshake
        let me = Unmanaged.passRetained(connection).toOpaque() // released by on_close
        if let raw = start(me) {
            connection.raw = raw
            if let liveness { try? connection.setTCPLiveness(liveness) } // only stored while dialing
        } else {
            Unmanaged<Connection>.fromOpaque(me).release()
            connection.onOpen = nil
            onOpen(.failure(RaftIOError(kind: .io, message: "dial \(address): out of memory")))
        }
        return connection
    }

    /// Dials `host:port` and returns the connection once it is open (and, with TLS, the handshake
    /// done). See ``dial(host:port:on:tls:serverName:timeout:liveness:handler:onOpen:)``.
    ///
    /// - Throws: ``RaftIOError``: `.connectionRefused`, `.timedOut`, `.tlsHandshake` (with
    ///   OpenSSL's reason), `.addressResolution`, `.eventLoopStopped`. Cancelling the task closes
    ///   the half-open connection.
    public static func connect(host: String, port: Int, on loop: EventLoop, tls: TLSContext? = nil,
                               serverName: String? = nil, timeout: Duration = .seconds(5),
                               liveness: TCPLiveness? = nil,
                               handler: (any ConnectionHandler & Sendable)? = nil) async throws -> Connection {
        try await connect(on: loop) { onOpen in
            Connection.dial(host: host, port: port, on: loop, tls: tls, serverName: serverName, timeout: timeout,
                            liveness: liveness, handler: handler, onOpen: onOpen)
        }
    }

    /// Dials the Unix domain socket at `path` and returns the connection once it is open (and,
    /// with TLS, the handshake done). See ``dial(unixSocket:on:tls:serverName:timeout:handler:onOpen:)``.
    ///
    /// - Throws: ``RaftIOError`` as ``connect(host:port:on:tls:serverName:timeout:liveness:handler:)``
    ///   does; `.configuration` for TLS without a `serverName`.
    public static func connect(unixSocket path: String, on loop: EventLoop, tls: TLSContext? = nil,
                               serverName: String? = nil, timeout: Duration = .seconds(5),
                               handler: (any ConnectionHandler & Sendable)? = nil) async throws -> Connection {
        try await connect(on: loop) { onOpen in
            Connection.dial(unixSocket: path, on: loop, tls: tls, serverName: serverName, timeout: timeout,
                            handler: handler, onOpen: onOpen)
        }
    }

    private static func connect(on loop: EventLoop,
                                dial: @escaping @Sendable (@escaping (Result<Connection, RaftIOError>) -> Void) -> Connection)
        async throws -> Connection {
        let box = Locked<Connection?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Connection, any Error>) in
                let accepted = loop.execute {
                    let c = dial { result in cont.resume(with: result.mapError { $0 as any Error }) }
                    box.withLock { $0 = c }
                }
                if !accepted { cont.resume(throwing: RaftIOError.eventLoopStopped()) }
            }
        } onCancel: {
            loop.execute { box.withLock { $0 }?.close(graceful: false) }
        }
    }

    // MARK: - events from C (loop thread)

    fileprivate func didOpen(status: Int32, message: String) {
        let callback = onOpen
        onOpen = nil
        if status == 0 {
            isOpen = true
            callback?(.success(self))
        } else {
            callback?(.failure(RaftIOError(code: status, message: message)))
        }
    }

    fileprivate func didRead(_ bytes: UnsafeRawBufferPointer) {
        handler?.connectionDidRead(self, bytes)
    }

    fileprivate func didReachEOF() {
        handler?.connectionDidReachEOF(self)
    }

    fileprivate func didDrain(queued: Int) {
        handler?.connectionDidDrain(self, queued: queued)
        let ready: [QueueWaiter] = shared.withLock { s in
            guard !s.queueWaiters.isEmpty else { return [] }
            var ready: [QueueWaiter] = []
            s.queueWaiters.removeAll { entry in
                guard queued < entry.limit else { return false }
                ready.append(entry.waiter)
                return true
            }
            return ready
        }
        for w in ready { w.resume(nil) }
    }

    fileprivate func didClose(status: Int32, message: String) {
        let error = status == 0 ? nil : RaftIOError(code: status, message: message)
        if let onOpen {
            self.onOpen = nil
            onOpen(.failure(error ?? .closed("connection closed before it opened")))
        }
        let (closeWaiters, queueWaiters) = shared.withLock { s in
            s.closed = true
            s.closeError = error
            defer { s.closeWaiters = []; s.queueWaiters = [] }
            return (s.closeWaiters, s.queueWaiters)
        }
        let h = handler
        handler = nil
        h?.connectionDidClose(self, error: error)
        if h !== inbound { inbound.connectionDidClose(self, error: error) }
        for c in closeWaiters { c.resume(returning: error) }
        for w in queueWaiters { w.waiter.resume(error ?? RaftIOError.closed()) }
    }

    // MARK: - handler and flow control (loop thread)

    /// Replaces the handler that receives this connection's events. Loop thread only; call it from
    /// the accept or open callback so no bytes are missed.
    public func setHandler(_ handler: any ConnectionHandler) {
        loop.assertInLoop()
        self.handler = handler
    }

    /// Stops reading from the socket until ``resumeReading()``. Any thread.
    public func pauseReading() {
        loop.executeSoon { [self] in if let raw { rio_conn_read_stop(raw) } }
    }

    /// Resumes reading after ``pauseReading()``. Any thread.
    public func resumeReading() {
        loop.executeSoon { [self] in if let raw { rio_conn_read_start(raw) } }
    }

    // MARK: - writing (any thread)

    /// Queues bytes for writing and returns the number of bytes now queued. Never blocks.
    /// - Throws: ``RaftIOError/Kind/closed`` once the connection is closing or closed.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) throws(RaftIOError) -> Int {
        guard let raw else { throw RaftIOError.closed("connection is not open: cannot write") }
        return try Self.queued(rio_conn_write(raw, bytes.baseAddress, bytes.count))
    }

    /// Queues `head`, `body` and `tail` as one write: one lock, and one socket write when the write
    /// goes straight to the socket (an HTTP chunk's size line, data and CRLF). Otherwise as
    /// ``write(_:)-(UnsafeRawBufferPointer)``.
    @discardableResult
    public func write(_ head: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer,
                      _ tail: UnsafeRawBufferPointer) throws(RaftIOError) -> Int {
        guard let raw else { throw RaftIOError.closed("connection is not open: cannot write") }
        let n = withUnsafeTemporaryAllocation(of: rio_slice_t.self, capacity: 3) { slices in
            slices[0] = rio_slice_t(base: head.baseAddress, len: head.count)
            slices[1] = rio_slice_t(base: body.baseAddress, len: body.count)
            slices[2] = rio_slice_t(base: tail.baseAddress, len: tail.count)
            return rio_conn_writev(raw, slices.baseAddress, 3)
        }
        return try Self.queued(n)
    }

    /// Encodes in place: reserves `capacity` bytes at the end of the outbound buffer, has `fill`
    /// write into them and return how many it used, and queues those as
    /// ``write(_:)-(UnsafeRawBufferPointer)`` would queue a copy of them. Saves the copy from a
    /// scratch buffer when the exact size is known before encoding (a chunk of frames).
    ///
    /// `fill` runs with the connection's write lock held: it must not call this connection, nor
    /// block, and should be short. It may return less than `capacity`, not more. Any thread.
    /// - Returns: the bytes now queued.
    /// - Throws: ``RaftIOError/Kind/closed`` once the connection is closing or closed (`fill` did
    ///   not run), or an out-of-memory error.
    @discardableResult
    public func write(reserving capacity: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Int) throws(RaftIOError) -> Int {
        guard let raw else { throw RaftIOError.closed("connection is not open: cannot write") }
        var failure = 0
        guard let base = rio_conn_write_reserve(raw, capacity, &failure) else { return try Self.queued(failure) }
        let used = fill(UnsafeMutableRawBufferPointer(start: base, count: capacity))
        precondition(used >= 0 && used <= capacity, "wrote \(used) bytes into a reservation of \(capacity)")
        return try Self.queued(rio_conn_write_commit(raw, used))
    }

    /// Like ``write(reserving:_:)``, for a writer that may grow what it wrote last instead of
    /// adding after it. `fill` gets the outbound buffer from its start to the end of the
    /// reservation, the reservation's offset in it, and the buffer's epoch. While the epoch is the
    /// one an earlier call saw, every byte written since that call's offset is still in the
    /// buffer, unsent, and `fill` may rewrite it; the epoch changes whenever bytes leave the
    /// buffer. `fill` returns how much the buffer grew (at most `capacity`). Any thread; the
    /// connection's write lock is held during `fill`.
    /// - Returns: the bytes now queued.
    /// - Throws: as ``write(reserving:_:)`` does.
    @discardableResult
    public func write(growing capacity: Int,
                      _ fill: (_ buffer: UnsafeMutableRawBufferPointer, _ offset: Int, _ epoch: UInt64) -> Int) throws(RaftIOError) -> Int {
        guard let raw else { throw RaftIOError.closed("connection is not open: cannot write") }
        var failure = 0
        var epoch: UInt64 = 0
        var offset = 0
        guard let reserved = rio_conn_write_reserve_at(raw, capacity, &failure, &epoch, &offset) else { return try Self.queued(failure) }
        let buffer = UnsafeMutableRawBufferPointer(start: reserved - offset, count: offset + capacity)
        let grown = fill(buffer, offset, epoch)
        precondition(grown >= 0 && grown <= capacity, "grew by \(grown) bytes with a reservation of \(capacity)")
        return try Self.queued(rio_conn_write_commit(raw, grown))
    }

    /// The bytes now queued, from a C write's result; its error otherwise.
    private static func queued(_ n: Int) throws(RaftIOError) -> Int {
        guard n >= 0 else {
            throw n == Int(RIO_E_NO_MEMORY) ? RaftIOError(kind: .io, code: Int32(n), message: "write: out of memory")
                                        : RaftIOError.closed("connection is closed: cannot write")
        }
        return n
    }

    /// Queues bytes for writing; see ``write(_:)-(UnsafeRawBufferPointer)``.
    @discardableResult
    public func write(_ bytes: [UInt8]) throws(RaftIOError) -> Int {
        let result = bytes.withUnsafeBytes { b in Result { () throws(RaftIOError) in try write(b) } }
        return try result.get()
    }

    /// Bytes accepted by `write` and not yet handed to the kernel.
    public var queuedBytes: Int {
        guard let raw else { return 0 }
        return rio_conn_queued(raw)
    }

    /// Waits until fewer than `limit` bytes are queued: the back-pressure point for writers.
    /// - Throws: the connection's error (or ``RaftIOError/Kind/closed``) if it closes first.
    public func waitForQueue(below limit: Int) async throws {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
            let outcome: Result<Bool, RaftIOError> = shared.withLock { s in
                if s.closed { return .failure(s.closeError ?? .closed()) }
                if queuedBytes < limit { return .success(true) }
                s.queueWaiters.append((limit, .task(cont)))
                return .success(false)
            }
            switch outcome {
            case .success(true): cont.resume()
            case .success(false): break
            case .failure(let e): cont.resume(throwing: e)
            }
        }
    }

    /// Calls `callback` on the loop thread once fewer than `limit` bytes are queued (checked after
    /// each socket write), or with the connection's error (``RaftIOError/Kind/closed`` for a
    /// requested close) once it closes first. Returns false and registers nothing when fewer are
    /// queued already or the connection is closed: the caller acts at once, on its own thread.
    /// Any thread; it may hold its own locks (the callback never runs inside this call).
    public func onQueue(below limit: Int, _ callback: @escaping @Sendable (RaftIOError?) -> Void) -> Bool {
        shared.withLock { s in
            guard !s.closed, queuedBytes >= limit else { return false }
            s.queueWaiters.append((limit, .callback(callback)))
            return true
        }
    }

    /// After everything queued is written, ends our side (TLS close_notify, then TCP FIN).
    /// Reading continues. Any thread.
    public func shutdownOutput() {
        if let raw { rio_conn_shutdown(raw) }
    }

    /// Closes the connection. `graceful`: what is queued is written first (and TLS close_notify
    /// sent); otherwise it is dropped and the socket closed at once. Any thread; idempotent.
    public func close(graceful: Bool = true) {
        if let raw {
            rio_conn_close(raw, graceful ? 1 : 0)
        }
    }

    /// Waits until the connection is closed and returns its error (nil after a requested close).
    @discardableResult
    public func waitClosed() async -> RaftIOError? {
        await withCheckedContinuation { (cont: CheckedContinuation<RaftIOError?, Never>) in
            let done: RaftIOError?? = shared.withLock { s in
                if s.closed { return .some(s.closeError) }
                s.closeWaiters.append(cont)
                return .none
            }
            if let done { cont.resume(returning: done) }
        }
    }

    /// Whether the connection has closed.
    public var isClosed: Bool { shared.withLock { $0.closed } }

    // MARK: - reading from a task

    /// The next bytes read, or nil at end of stream. For connections without a handler.
    /// - Throws: the connection's error when it failed.
    public func read() async throws -> [UInt8]? {
        try await inbound.next(self)
    }

    // MARK: - information

    /// Counters of this connection.
    public struct Statistics: Sendable, Hashable {
        /// Bytes handed to the kernel (ciphertext under TLS).
        public var bytesWritten: UInt64
        /// Bytes received from the kernel.
        public var bytesRead: UInt64
        /// Socket write calls made: `appWrites / socketWrites` is the coalescing factor.
        public var socketWrites: UInt64
        /// Calls to `write`.
        public var appWrites: UInt64
    }

    /// This connection's counters. Any thread.
    public var statistics: Statistics {
        var s = rio_conn_stats_t()
        if let raw { rio_conn_stats(raw, &s) }
        return Statistics(bytesWritten: s.bytes_written, bytesRead: s.bytes_read,
                          socketWrites: s.write_calls, appWrites: s.app_writes)
    }

    /// The peer's address as `ip:port`; on a Unix socket the path the peer is bound to, or `@` for
    /// an unnamed one (every dialing client), as Go and so etcd print it. Loop thread only, while open.
    public var remoteAddress: String? {
        guard let raw else { return nil }
        var buf = [CChar](repeating: 0, count: 128)
        return rio_conn_peer_address(raw, &buf, buf.count) == 0 ? cString(buf) : nil
    }

    /// The negotiated TLS version and cipher (`("TLSv1.3", "TLS_AES_256_GCM_SHA384")`), or nil
    /// without TLS. Loop thread only, while open.
    public var tlsSession: (version: String, cipher: String)? {
        guard let raw else { return nil }
        var v = [CChar](repeating: 0, count: 32), c = [CChar](repeating: 0, count: 80)
        return rio_conn_tls_info(raw, &v, v.count, &c, c.count) == 0 ? (cString(v), cString(c)) : nil
    }

    // MARK: - accepted connections

    /// Wraps a connection the listener accepted; returns the C callback data to hand back.
    static func accepted(raw: OpaquePointer, loop: EventLoop,
                         onOpen: @escaping (Result<Connection, RaftIOError>) -> Void) -> UnsafeMutableRawPointer {
        // The listener took one reference for us (released in deinit); C's own belongs to the handle.
        let connection = Connection(loop: loop, raw: raw)
        connection.handler = connection.inbound
        connection.onOpen = onOpen
        return Unmanaged.passRetained(connection).toOpaque()
    }
}

/// The C callback table, built once: non-capturing closures reach the Swift object through `data`.
struct CallbackTable: @unchecked Sendable {
    // @unchecked Sendable: the table is written once at initialisation and only read afterwards.
    let pointer: UnsafeMutablePointer<rio_conn_callbacks_t>
}

let callbackTable: CallbackTable = {
    let p = UnsafeMutablePointer<rio_conn_callbacks_t>.allocate(capacity: 1)
    p.initialize(to: rio_conn_callbacks_t(
        on_open: { _, data, status, msg in
            guard let data else { return }
            Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue()
                .didOpen(status: status, message: msg.map { String(cString: $0) } ?? "")
        },
        on_read: { _, data, bytes, n in
            guard let data else { return }
            Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue()
                .didRead(UnsafeRawBufferPointer(start: bytes, count: n))
        },
        on_eof: { _, data in
            guard let data else { return }
            Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue().didReachEOF()
        },
        on_drain: { _, data, queued in
            guard let data else { return }
            Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue().didDrain(queued: queued)
        },
        on_close: { _, data, status, msg in
            guard let data else { return }
            let c = Unmanaged<Connection>.fromOpaque(data).takeRetainedValue()
            c.didClose(status: status, message: msg.map { String(cString: $0) } ?? "")
        }))
    return CallbackTable(pointer: p)
}()
