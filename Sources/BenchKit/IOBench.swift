import EphemeralPKI
import RaftIO

/// Loopback workloads for the I/O core: bulk one-way throughput, small frames written one call
/// each, and ping-pong round trips driven from loop-thread handlers. Each runs a server loop and a
/// client loop in this process and returns what it measured.
public enum IOBench {
    /// What one workload measured.
    public struct Result: Sendable {
        /// The workload's name, e.g. `bulk 1 MiB writes (TLS)`.
        public var name: String
        /// Payload bytes delivered to the receiver.
        public var bytes: Int
        /// Application writes (frames) or round trips completed.
        public var operations: Int
        /// Wall-clock seconds from the first write to the last byte received.
        public var seconds: Double
        /// Socket writes the sender made (coalescing: operations per socket write).
        public var socketWrites: UInt64

        /// Payload gigabytes (10^9 bytes) per second.
        public var gigabytesPerSecond: Double { Double(bytes) / seconds / 1e9 }
        /// Operations per second.
        public var operationsPerSecond: Double { Double(operations) / seconds }
    }

    /// Sends `total` bytes in writes of `writeSize` with back-pressure at 16 MiB queued.
    public static func bulk(total: Int, writeSize: Int, tls: TLSPair?) async throws -> Result {
        try await oneWay(name: "bulk \(writeSize >> 10) KiB writes\(tls == nil ? "" : " (TLS)")",
                         total: total, writeSize: writeSize, tls: tls)
    }

    /// Sends `count` frames of `frameSize` bytes, one `write` call each, from a task (another
    /// thread than the loop), with back-pressure checked every 4096 frames.
    public static func frames(count: Int, frameSize: Int = 64, tls: TLSPair?) async throws -> Result {
        try await oneWay(name: "\(frameSize) B frames, one write call each\(tls == nil ? "" : " (TLS)")",
                         total: count * frameSize, writeSize: frameSize, tls: tls)
    }

    private static func oneWay(name: String, total: Int, writeSize: Int, tls: TLSPair?) async throws -> Result {
        let group = try EventLoopGroup(loopCount: 2)
        defer { group.shutdown() }
        let done = Signal<Void>()
        let listener = try await Listener.bind(host: "127.0.0.1", port: 0, tls: tls?.server, on: group.loops[0]) { c in
            c.setHandler(CountingSink(expected: total) { done.fire(()) })
        }
        let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: group.loops[1], tls: tls?.client)
        let payload = [UInt8](repeating: 0xab, count: writeSize)
        let batch = max(1, (1 << 20) / writeSize) // check back-pressure about once per MiB
        let start = ContinuousClock.now
        var sent = 0
        while sent < total {
            try payload.withUnsafeBytes { bytes in
                for _ in 0..<batch where sent < total {
                    try conn.write(bytes)
                    sent += writeSize
                }
            }
            if conn.queuedBytes >= 16 << 20 { try await conn.waitForQueue(below: 8 << 20) }
        }
        await done.wait()
        let seconds = (ContinuousClock.now - start).seconds
        let stats = conn.statistics
        conn.close()
        await conn.waitClosed()
        listener.close()
        return Result(name: name, bytes: total, operations: total / writeSize, seconds: seconds, socketWrites: stats.socketWrites)
    }

    /// Bounces a `size`-byte message `count` times between two loop-thread handlers.
    public static func pingPong(count: Int, size: Int = 64, tls: TLSPair?) async throws -> Result {
        let group = try EventLoopGroup(loopCount: 2)
        defer { group.shutdown() }
        let listener = try await Listener.bind(host: "127.0.0.1", port: 0, tls: tls?.server, on: group.loops[0]) { c in
            c.setHandler(Echo())
        }
        let done = Signal<Void>()
        let player = PingPongPlayer(size: size, count: count) { done.fire(()) }
        let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: group.loops[1],
                                                tls: tls?.client, handler: player)
        let start = ContinuousClock.now
        group.loops[1].execute { player.serve(conn) }
        await done.wait()
        let seconds = (ContinuousClock.now - start).seconds
        let stats = conn.statistics
        conn.close()
        await conn.waitClosed()
        listener.close()
        return Result(name: "\(size) B ping-pong on loop handlers\(tls == nil ? "" : " (TLS)")",
                      bytes: count * size, operations: count, seconds: seconds, socketWrites: stats.socketWrites)
    }
}

/// A server and a client TLS context that trust each other.
public struct TLSPair: Sendable {
    public var server: TLSContext
    public var client: TLSContext

    /// Makes fresh certificates with `openssl` and loads them.
    public static func ephemeral() throws -> TLSPair {
        let certs = try EphemeralCertificates()
        defer { certs.remove() }
        return TLSPair(server: try TLSContext(configuration: certs.server(clientAuth: .require), role: .server),
                       client: try TLSContext(configuration: certs.client(), role: .client))
    }
}

/// A one-shot event a task can wait for.
final class Signal<T: Sendable>: Sendable {
    private let state = Locked<(value: T?, waiters: [CheckedContinuation<T, Never>])>((nil, []))

    func fire(_ value: T) {
        let waiters = state.withLock { s in
            s.value = value
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: value) }
    }

    @discardableResult
    func wait() async -> T {
        await withCheckedContinuation { cont in
            let v: T? = state.withLock { s in
                if let v = s.value { return v }
                s.waiters.append(cont)
                return nil
            }
            if let v { cont.resume(returning: v) }
        }
    }
}

/// Counts bytes on the loop thread and fires once `expected` arrived.
private final class CountingSink: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: used on the loop thread only.
    private var received = 0
    private let expected: Int
    private let done: @Sendable () -> Void

    init(expected: Int, done: @escaping @Sendable () -> Void) {
        self.expected = expected
        self.done = done
    }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        received += bytes.count
        if received >= expected, received - bytes.count < expected { done() }
    }
}

private final class Echo: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: used on the loop thread only.
    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        _ = try? connection.write(bytes)
    }
}

/// Sends a message, waits for its echo on the loop thread, sends the next.
private final class PingPongPlayer: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: used on the loop thread only.
    private let message: [UInt8]
    private let count: Int
    private var completed = 0
    private var pending = 0
    private let done: @Sendable () -> Void

    init(size: Int, count: Int, done: @escaping @Sendable () -> Void) {
        message = [UInt8](repeating: 0x42, count: size)
        self.count = count
        self.done = done
    }

    func serve(_ connection: Connection) {
        _ = try? connection.write(message)
    }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        pending += bytes.count
        while pending >= message.count {
            pending -= message.count
            completed += 1
            if completed == count {
                done()
                return
            }
            _ = try? connection.write(message)
        }
    }
}
