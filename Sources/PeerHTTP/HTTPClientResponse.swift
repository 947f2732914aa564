// The async client's response: the head at once, the body as an AsyncSequence of chunks read as
// the server writes them. The chunks are buffered up to a high-water mark, then the socket is
// paused until the reader catches up (so a slow reader of an hours-long stream costs the kernel's
// window, not our memory).
import HTTPTypes
import HTTPWire
import RaftIO

/// A response from ``HTTPClient/execute(_:)``.
public struct HTTPClientResponse: Sendable {
    /// The response body: chunks of bytes in order, framing removed, ending when the response
    /// does. Iterate it once. Dropping it before its end closes the connection.
    public struct Body: AsyncSequence, Sendable {
        /// A run of body bytes as they arrived, framing removed.
        public typealias Element = [UInt8]

        let owner: BodyOwner

        /// Reads the body's chunks.
        public struct AsyncIterator: AsyncIteratorProtocol {
            let owner: BodyOwner
            /// The next chunk, or nil at the end. Throws ``HTTPClientError`` if the response failed.
            public mutating func next() async throws -> [UInt8]? { try await owner.stream.next() }
        }

        /// An iterator over the chunks; make one only (the body is read once).
        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(owner: owner) }

        /// Reads the whole body, failing with ``HTTPClientError/Code/invalidResponse`` beyond `limit` bytes.
        public func collect(upTo limit: Int) async throws -> [UInt8] {
            var out: [UInt8] = []
            for try await chunk in self {
                out += chunk
                if out.count > limit {
                    owner.task.cancel()
                    throw HTTPClientError(.invalidResponse, request: "", parserError: .bodyTooLarge.with("limit \(limit)"))
                }
            }
            return out
        }
    }

    /// The head as received (status, reason, version, fields in wire order).
    public let head: HTTPResponseHead
    /// The body, read as a stream.
    public let body: Body

    /// The status.
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: head.status, reasonPhrase: head.reason) }

    /// The head as a swift-http-types response.
    public var response: HTTPResponse {
        (try? head.httpResponse()) ?? HTTPResponse(status: status)
    }
}

/// Cancels the request when the last copy of a body is dropped before its end.
final class BodyOwner: Sendable {
    let stream: ResponseStream
    let task: HTTPClientTask
    init(stream: ResponseStream, task: HTTPClientTask) {
        self.stream = stream
        self.task = task
    }
    deinit {
        if !stream.isFinished { task.cancel() }
    }
}

/// Bridges the loop-thread handler to the async response.
final class ResponseStream: HTTPClientResponseHandler, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is in `state`, behind its lock.
    private struct State {
        var head: CheckedContinuation<HTTPClientResponse, any Error>?
        var task: HTTPClientTask?
        var body = ChunkQueue<HTTPClientError>(highWater: ResponseStream.highWater)
    }
    private let state = Locked(State())
    /// Buffered bytes at which the socket is paused; it resumes at half.
    static let highWater = 1 << 20

    func start(task: HTTPClientTask, continuation: CheckedContinuation<HTTPClientResponse, any Error>) {
        state.withLock { s in
            s.task = task
            s.head = continuation
        }
    }

    var isFinished: Bool { state.withLock { $0.body.isDrained } }

    func didReceiveHead(_ task: HTTPClientTask, _ head: HTTPResponseHead) {
        let cont = state.withLock { s in
            defer { s.head = nil }
            return s.head
        }
        cont?.resume(returning: HTTPClientResponse(head: head, body: .init(owner: BodyOwner(stream: self, task: task))))
    }

    func didReceiveBody(_ task: HTTPClientTask, _ bytes: UnsafeRawBufferPointer) {
        let chunk = [UInt8](bytes)
        let (handTo, pause) = state.withLock { $0.body.push(chunk) }
        handTo?.resume(returning: chunk)
        if pause { task.pauseReading() }
    }

    func didFinish(_ task: HTTPClientTask, trailers: HTTPHeaders) { end(nil) }

    func didFail(_ task: HTTPClientTask, _ error: HTTPClientError) { end(error) }

    private func end(_ error: HTTPClientError?) {
        let (head, waiter) = state.withLock { s in
            defer { s.head = nil }
            return (s.head, s.body.finish(error))
        }
        head?.resume(throwing: error ?? HTTPClientError(.closedBeforeResponse, request: ""))
        waiter?.resume(ending: error)
    }

    func next() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<[UInt8]?, any Error>) in
            let (popped, task) = state.withLock { s in (s.body.pop(orWait: cont), s.task) }
            switch popped {
            case .chunk(let chunk, let resume):
                if resume { task?.resumeReading() }
                cont.resume(returning: chunk)
            case .end(let error):
                cont.resume(ending: error)
            case .waiting:
                break
            }
        }
    }
}
