// A request as a handler sees it: the head at once, the body as it arrives, on the loop thread.
//
// Body bytes are pulled, not pushed: until the handler registers a consumer (or while it has
// paused), the connection stops parsing and pauses its socket, so an unread body costs the
// kernel's window, not our memory.
import HTTPTypes
import HTTPWire

/// A request received by an ``HTTPServer``: its head, and its body read on the loop thread.
///
/// Every method must be called on the loop thread of the request's connection (in
/// ``HTTPHandler/handle(_:_:)`` or a later loop callback). The body callbacks run there too,
/// with no task hop.
public final class HTTPServerRequest {
    /// Why a request body could not be read to its end.
    public struct BodyError: Error, Sendable, Hashable, CustomStringConvertible {
        private enum Code: Hashable, Sendable { case invalid, tooLarge, closed, timedOut }
        private let code: Code
        /// What happened, for a log.
        public let description: String

        private init(_ code: Code, _ description: String) {
            self.code = code
            self.description = description
        }

        /// The body broke HTTP framing rules (the parser's error is in the description).
        public static let invalid = BodyError(.invalid, "invalid request body")
        /// The body was longer than the route's limit or the `collect` limit.
        public static let tooLarge = BodyError(.tooLarge, "request body larger than the limit")
        /// The connection closed before the body ended.
        public static let closed = BodyError(.closed, "connection closed before the request body ended")
        /// The body did not arrive within the server's request read timeout.
        public static let timedOut = BodyError(.timedOut, "request body read timed out")

        static func invalid(_ error: HTTPParserError) -> BodyError {
            BodyError(error == .bodyTooLarge ? .tooLarge : .invalid, error.description)
        }

        /// Whether both errors are of the same kind; the description is ignored.
        public static func == (lhs: BodyError, rhs: BodyError) -> Bool { lhs.code == rhs.code }
        /// Hashes the kind only, consistent with `==`.
        public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    }

    /// The head as received: method, target, version and fields in wire order.
    public let head: HTTPRequestHead
    /// Whether a body follows the head (`Content-Length` above 0 or chunked).
    public let hasBody: Bool
    /// The declared `Content-Length`, or nil for a chunked body or none.
    public let contentLength: Int?
    /// The body limit of the route that matched.
    public let bodyLimit: Int

    // MARK: loop thread only
    private var onBody: ((UnsafeRawBufferPointer) -> Void)?
    private var onEnd: ((Result<HTTPHeaders, BodyError>) -> Void)?
    /// ``collect(limit:_:)``'s state, kept here rather than captured by body closures: those
    /// closures and the boxes of the variables they share were four allocations per request.
    private var collected: [UInt8] = []
    private var collectLimit = 0
    private var onCollected: ((Result<[UInt8], BodyError>) -> Void)?
    /// The collected body crossed its limit: the rest is read and dropped.
    private var discarding = false
    private var paused = false
    private(set) var finished = false
    /// The connection: asked to pull again after a consumer is set or a pause ends, and to stop
    /// its request read timer. Weak: a handler may keep the request past the connection.
    weak var owner: (any HTTPServerRequestOwner)?

    init(head: HTTPRequestHead, framing: HTTPBodyFraming, bodyLimit: Int) {
        self.head = head
        switch framing {
        case .none, .untilClose:
            hasBody = false
            contentLength = nil
        case .contentLength(let n):
            hasBody = true
            contentLength = n
        case .chunked:
            hasBody = true
            contentLength = nil
        }
        self.bodyLimit = bodyLimit
    }

    /// The head as a swift-http-types request: `authority` from `Host`, `path` from the target,
    /// no scheme. Built on each access: keep it if you need it twice.
    public var request: HTTPRequest {
        if let request = try? head.httpRequest() { return request }
        // Unreachable for a parsed head (the parser checked the method and field names).
        return HTTPRequest(method: .get, scheme: nil, authority: nil, path: head.target)
    }

    /// The target's path, without the query.
    public var path: Substring {
        let target = head.target
        return target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
    }

    /// Reads the body as it arrives: `onBody` for each run of bytes (valid only during the call),
    /// then `onEnd` once, with the trailers or the reason the body could not be read to its end.
    /// For a request without a body `onEnd` follows at once. Call once; loop thread only.
    public func consume(onBody: @escaping (UnsafeRawBufferPointer) -> Void,
                        onEnd: @escaping (Result<HTTPHeaders, BodyError>) -> Void) {
        precondition(self.onEnd == nil && onCollected == nil && !discarding, "HTTPServerRequest body consumed twice")
        self.onBody = onBody
        self.onEnd = onEnd
        owner?.requestWantsInput()
    }

    /// Collects the whole body (at most `limit` bytes) and hands it to `done` on the loop thread.
    /// A longer body fails with ``BodyError/tooLarge`` as soon as it crosses the limit.
    public func collect(limit: Int? = nil, _ done: @escaping (Result<[UInt8], BodyError>) -> Void) {
        precondition(onEnd == nil && onCollected == nil && !discarding, "HTTPServerRequest body consumed twice")
        collectLimit = min(limit ?? bodyLimit, bodyLimit)
        if let contentLength { collected.reserveCapacity(min(contentLength, collectLimit)) }
        onCollected = done
        owner?.requestWantsInput()
    }

    /// Stops body delivery (and pauses the socket) until ``resume()``. Loop thread only.
    public func pause() { paused = true }

    /// Lifts the server's fixed request read timeout
    /// (``HTTPServer/Configuration/requestReadTimeout``) for this request's body, for a handler
    /// that enforces its own progress-based deadline (a multi-GiB upload that is slow but moving).
    /// The handler then owns the deadline: a body that never ends holds the connection until the
    /// handler answers or the client closes. Loop thread only.
    public func disableReadTimeout() {
        owner?.requestStopsReadTimer()
    }

    /// Resumes body delivery after ``pause()``. Loop thread only.
    public func resume() {
        guard paused else { return }
        paused = false
        owner?.requestWantsInput()
    }

    // MARK: driven by the connection (loop thread)

    /// Whether body events can be delivered now.
    var isReadyForBody: Bool { (onEnd != nil || onCollected != nil || discarding) && !paused }

    func deliver(_ bytes: UnsafeRawBufferPointer) {
        if discarding { return }
        if let onCollected {
            guard collected.count + bytes.count <= collectLimit else {
                // Past the limit: fail now; what follows is read and ignored.
                self.onCollected = nil
                discarding = true
                collected = []
                onCollected(.failure(.tooLarge))
                return
            }
            collected.append(contentsOf: bytes)
        } else {
            onBody?(bytes)
        }
    }

    func finish(_ result: Result<HTTPHeaders, BodyError>) {
        guard !finished else { return }
        finished = true
        let end = onEnd
        let collectedEnd = onCollected
        onBody = nil
        onEnd = nil
        onCollected = nil
        owner = nil
        if let collectedEnd {
            let body = collected
            collected = []
            collectedEnd(result.map { _ in body })
        }
        end?(result)
    }
}

/// What a request asks of its connection (loop thread).
protocol HTTPServerRequestOwner: AnyObject {
    /// A consumer is set or a pause ended: deliver what is buffered and read on.
    func requestWantsInput()
    /// The handler took over the body's deadline: stop the request read timer.
    func requestStopsReadTimer()
}
