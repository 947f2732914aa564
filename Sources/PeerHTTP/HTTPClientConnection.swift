// One client connection: parses responses for one request at a time; parked in the pool between
// requests, where an idle timer closes it and any byte or EOF from the server retires it.
import HTTPWire
import RaftIO

final class HTTPClientConnection: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: the mutable state is touched on `loop`'s thread alone (connection
    // callbacks, timers, jobs); the pool hands the object between threads but calls nothing on it
    // off the loop except `isUsable`, which only reads a flag set before it is parked.

    let key: HTTPConnectionPool.Key
    let loop: EventLoop
    private let core: HTTPClient.Core

    // MARK: loop thread only
    var connection: Connection?
    // Loop thread only, no overlapping access: unchecked, as the check cost a runtime call per read.
    @exclusivity(unchecked) private var parser: HTTPParser
    private var task: HTTPClientTask?
    private var receivedAny = false
    private var reused = false
    private var interim = false
    private var closed = false
    private var wasOpen = false
    private var idleTimer: LoopTimer?

    init(key: HTTPConnectionPool.Key, loop: EventLoop, core: HTTPClient.Core) {
        self.key = key
        self.loop = loop
        self.core = core
        self.parser = HTTPParser(mode: .response, limits: core.configuration.limits)
    }

    /// Whether the connection can carry a request (open, not closing).
    var isUsable: Bool { !closed && !(connection?.isClosed ?? true) }

    func begin(_ task: HTTPClientTask, method: String, reused: Bool) {
        idleTimer?.stop()
        self.task = task
        self.reused = reused
        receivedAny = false
        interim = false
        parser.requestMethod = method
    }

    /// The dial succeeded: counted open until it closes.
    func opened() {
        wasOpen = true
        core.connectionStatistics.withLock { $0.open += 1 }
    }

    /// The request is over (ended or failed): detach it.
    func end() { task = nil }

    /// Parked in the pool: close after the idle timeout.
    func parked() {
        let ms = core.configuration.idleTimeout.timerMilliseconds
        if let idleTimer {
            idleTimer.start(after: ms)
        } else {
            idleTimer = loop.scheduleTimer(after: ms) { [weak self] in self?.close() }
        }
    }

    func close(graceful: Bool = true) {
        connection?.close(graceful: graceful)
    }

    // MARK: ConnectionHandler

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        guard var current = task else {
            close(graceful: false) // bytes nobody asked for: the connection is not reusable
            return
        }
        receivedAny = true
        var rest = bytes
        // Whether the task was handed body bytes in this read and has not yet heard the read end.
        var bodyPending = false
        func endRead() {
            if bodyPending { task?.didEndRead() }
            bodyPending = false
        }
        // The task is bound once, not once per event (a stream's read carries hundreds of chunks),
        // and bound again only when an event changed it (an end, a cancel).
        while true {
            if task !== current {
                guard let next = task else { break }
                current = next
            }
            // `current` is used as it is: a `let` copy of it was a retain and a release for every
            // event, and a stream's read has one event per message.
            let event: HTTPParser.Event?
            do {
                let (consumed, next) = try parser.parse(rest)
                rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
                event = next
            } catch {
                endRead()
                current.didFailParsing(error)
                return
            }
            guard let event else {
                endRead()
                return
            }
            if case .body = event {} else { endRead() }
            switch event {
            case .response(let head):
                if (100..<200).contains(head.status) && head.status != 101 {
                    interim = true
                } else {
                    current.didReceiveHead(head)
                }
            case .body(let chunk):
                bodyPending = true
                current.didReceiveBody(chunk)
            case .end(let trailers):
                if interim {
                    interim = false
                    continue
                }
                current.didEnd(trailers: trailers, reusable: parser.isKeepAlive && rest.isEmpty)
            case .request:
                break
            }
        }
        endRead()
        if !rest.isEmpty { close(graceful: false) }
    }

    func connectionDidReachEOF(_ connection: Connection) {
        if let task {
            do {
                if case .end(let trailers)? = try parser.finish() {
                    task.didEnd(trailers: trailers, reusable: false)
                }
            } catch {
                // Truncated: the close callback reports it.
            }
        }
        close()
    }

    func connectionDidClose(_ connection: Connection, error: RaftIOError?) {
        closed = true
        if wasOpen {
            core.connectionStatistics.withLock { s in
                s.open -= 1
                if let error {
                    s.closedWithError += 1
                    s.lastError = error
                }
            }
        }
        idleTimer?.cancel()
        idleTimer = nil
        core.pool.remove(self)
        if let task {
            self.task = nil
            task.connectionClosed(self, error: error, receivedAny: receivedAny, reused: reused)
        }
    }
}
