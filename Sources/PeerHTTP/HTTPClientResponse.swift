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
        var chunks: [[UInt8]] = []
        var next = 0
        var buffered = 0
        var paused = false
        var finished = false
        var error: HTTPClientError?
        var waiter: CheckedContinuation<[UInt8]?, any Error>?
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

    var isFinished: Bool { state.withLock { $0.finished && $0.next == $0.chunks.count } }

    func didReceiveHead(_ task: HTTPClientTask, _ head: HTTPResponseHead) {
        let cont = state.withLock { s in
            defer { s.head = nil }
            return s.head
        }
        cont?.resume(returning: HTTPClientResponse(head: head, body: .init(owner: BodyOwner(stream: self, task: task))))
    }

    func didReceiveBody(_ task: HTTPClientTask, _ bytes: UnsafeRawBufferPointer) {
        let chunk = [UInt8](bytes)
        let (waiter, pause): (CheckedContinuation<[UInt8]?, any Error>?, Bool) = state.withLock { s in
            if let w = s.waiter {
                s.waiter = nil
                return (w, false)
            }
            s.chunks.append(chunk)
            s.buffered += chunk.count
            if s.buffered >= Self.highWater && !s.paused {
                s.paused = true
                return (nil, true)
            }
            return (nil, false)
        }
        waiter?.resume(returning: chunk)
        if pause { task.pauseReading() }
    }

    func didFinish(_ task: HTTPClientTask, trailers: HTTPHeaders) { end(nil) }

    func didFail(_ task: HTTPClientTask, _ error: HTTPClientError) { end(error) }

    private func end(_ error: HTTPClientError?) {
        let (head, waiter) = state.withLock { s in
            s.finished = true
            s.error = error
            defer { s.head = nil; s.waiter = nil }
            return (s.head, s.waiter)
        }
        if let head {
            head.resume(throwing: error ?? HTTPClientError(.closedBeforeResponse, request: ""))
        }
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    func next() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<[UInt8]?, any Error>) in
            enum Outcome { case chunk([UInt8], resume: HTTPClientTask?), end(HTTPClientError?), wait }
            let outcome: Outcome = state.withLock { s in
                if s.next < s.chunks.count {
                    let chunk = s.chunks[s.next]
                    s.next += 1
                    if s.next == s.chunks.count {
                        s.chunks.removeAll(keepingCapacity: true)
                        s.next = 0
                    }
                    s.buffered -= chunk.count
                    var resume: HTTPClientTask?
                    if s.paused && s.buffered <= Self.highWater / 2 {
                        s.paused = false
                        resume = s.task
                    }
                    return .chunk(chunk, resume: resume)
                }
                if s.finished { return .end(s.error) }
                precondition(s.waiter == nil, "HTTPClientResponse.Body iterated concurrently")
                s.waiter = cont
                return .wait
            }
            switch outcome {
            case .chunk(let chunk, let resume):
                resume?.resumeReading()
                cont.resume(returning: chunk)
            case .end(let error):
                if let error { cont.resume(throwing: error) } else { cont.resume(returning: nil) }
            case .wait:
                break
            }
        }
    }
}
