// A server whose kept-alive connections die under the next request: it answers the first request
// on each connection with a keep-alive 200 and closes the connection as soon as the next request
// head arrives, without a byte of answer. That is what a client sees when it reuses a pooled
// connection that the server closed an instant before the request reached it (an idle timeout, as
// etcd's 5 s read timeout on peer connections, racing the request), made deterministic. With
// `answersFreshConnections` off it closes every connection under its first request too.
import RaftIO

/// Answers one request per connection, then closes the connection on the next one unanswered.
public final class DeadKeepAliveServer: @unchecked Sendable {
    // @unchecked Sendable: `group`, `listener` and `port` are set in init and immutable; the
    // counters are behind their lock; the per-connection handlers run on the loop only.
    private let group: EventLoopGroup
    private let listener: Listener
    private let counts = Locked<Counts>(Counts())
    /// The port it listens on, on 127.0.0.1.
    public let port: Int
    /// The body of each answer.
    public static let body = "alive"

    public init() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        self.group = group
        let counts = self.counts
        listener = try await Listener.bind(host: "127.0.0.1", port: 0, on: group.next()) { connection in
            counts.withLock { $0.accepted += 1 }
            connection.setHandler(OneAnswer(counts: counts))
        }
        port = listener.port
    }

    /// Connections accepted so far.
    public var acceptedConnections: Int { counts.withLock { $0.accepted } }
    /// Requests answered so far (one per connection at most).
    public var answeredRequests: Int { counts.withLock { $0.answered } }
    /// Connections closed under an unanswered request so far.
    public var killedConnections: Int { counts.withLock { $0.killed } }
    /// Whether the first request on a connection is answered (default true); when false, every
    /// request finds its connection closed under it.
    public var answersFreshConnections: Bool {
        get { counts.withLock { $0.answersFresh } }
        set { counts.withLock { $0.answersFresh = newValue } }
    }

    public func stop() {
        listener.close()
        group.shutdown()
    }
}

private struct Counts {
    var accepted = 0
    var answered = 0
    var killed = 0
    var answersFresh = true
}

/// One connection: answers the first request head, closes on the second.
private final class OneAnswer: ConnectionHandler {
    // Loop thread only: a ConnectionHandler's calls run on its connection's loop.
    private let counts: Locked<Counts>
    private var buffer: [UInt8] = []
    private var answered = false

    init(counts: Locked<Counts>) { self.counts = counts }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        buffer += bytes
        while let end = headEnd() {
            buffer.removeFirst(end + 4)
            let answer = counts.withLock { c in
                let answer = !answered && c.answersFresh
                if answer { c.answered += 1 } else { c.killed += 1 }
                return answer
            }
            guard answer else {
                connection.close(graceful: false)
                return
            }
            answered = true
            let body = DeadKeepAliveServer.body
            _ = try? connection.write(Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
        }
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}
