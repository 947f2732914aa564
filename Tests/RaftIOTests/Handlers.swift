import RaftIO
import TestSupport

/// Writes every byte it reads straight back, from the loop thread.
final class EchoHandler: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: used on the loop thread only.
    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        _ = try? connection.write(bytes)
    }
    func connectionDidReachEOF(_ connection: Connection) { connection.close() }
}

/// Counts and checksums what it reads; reports when `expected` bytes arrived or the stream ended.
final class SinkHandler: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: `checksum` is touched on the loop thread only, and handed over through
    // the continuation, which orders it.
    private var checksum = StreamChecksum()
    private let expected: Int
    private let done: @Sendable (StreamChecksum) -> Void
    private var reported = false

    init(expected: Int, done: @escaping @Sendable (StreamChecksum) -> Void) {
        self.expected = expected
        self.done = done
    }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        checksum.update(bytes)
        if checksum.count >= expected { report() }
    }
    func connectionDidReachEOF(_ connection: Connection) { report() }
    func connectionDidClose(_ connection: Connection, error: RaftIOError?) { report() }

    private func report() {
        guard !reported else { return }
        reported = true
        done(checksum)
    }
}

/// Starts an echo listener on 127.0.0.1 with an optional TLS context.
func echoListener(on loop: EventLoop, host: String = "127.0.0.1", tls: TLSContext? = nil,
                  onError: (@Sendable (RaftIOError) -> Void)? = nil) async throws -> Listener {
    try await Listener.bind(host: host, port: 0, tls: tls, on: loop, onError: onError) { connection in
        connection.setHandler(EchoHandler())
    }
}

/// Reads from `connection` until `count` bytes arrived (or the stream ended).
func readExactly(_ count: Int, from connection: Connection) async throws -> [UInt8] {
    var out: [UInt8] = []
    while out.count < count, let chunk = try await connection.read() { out += chunk }
    return out
}

/// A one-shot value handed from a callback to a waiting task.
final class AsyncStreamPair<T: Sendable>: Sendable {
    private let stream: AsyncStream<T>
    private let continuation: AsyncStream<T>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: T.self) }

    func send(_ value: T) { continuation.yield(value) }

    func next() async -> T {
        var it = stream.makeAsyncIterator()
        guard let v = await it.next() else { fatalError("stream finished without a value") }
        return v
    }
}
