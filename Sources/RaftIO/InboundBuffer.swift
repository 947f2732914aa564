/// The default handler of a connection read from a task with ``Connection/read()``: it keeps at
/// most `highWater` bytes, then pauses the socket until the reader catches up to half of that.
final class InboundBuffer: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is in `state`, behind its lock.
    private struct State {
        var chunks: [[UInt8]] = []
        var head = 0
        var buffered = 0
        var paused = false
        var finished = false
        var error: RaftIOError?
        var waiter: CheckedContinuation<[UInt8]?, any Error>?
    }
    private let state = Locked(State())
    private let highWater: Int

    init(highWater: Int) { self.highWater = highWater }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        let chunk = [UInt8](bytes)
        let (waiter, pause): (CheckedContinuation<[UInt8]?, any Error>?, Bool) = state.withLock { s in
            if let w = s.waiter {
                s.waiter = nil
                return (w, false)
            }
            s.chunks.append(chunk)
            s.buffered += chunk.count
            if s.buffered >= highWater && !s.paused {
                s.paused = true
                return (nil, true)
            }
            return (nil, false)
        }
        waiter?.resume(returning: chunk)
        if pause { connection.pauseReading() }
    }

    func connectionDidReachEOF(_ connection: Connection) { finish(nil) }

    func connectionDidClose(_ connection: Connection, error: RaftIOError?) { finish(error) }

    private func finish(_ error: RaftIOError?) {
        let waiter: CheckedContinuation<[UInt8]?, any Error>? = state.withLock { s in
            guard !s.finished else { return nil }
            s.finished = true
            s.error = error
            defer { s.waiter = nil }
            return s.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
    }

    func next(_ connection: Connection) async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<[UInt8]?, any Error>) in
            enum Outcome { case chunk([UInt8], resume: Bool), end(RaftIOError?), wait }
            let outcome: Outcome = state.withLock { s in
                if s.head < s.chunks.count {
                    let chunk = s.chunks[s.head]
                    s.head += 1
                    if s.head == s.chunks.count {
                        s.chunks.removeAll(keepingCapacity: true)
                        s.head = 0
                    }
                    s.buffered -= chunk.count
                    let resume = s.paused && s.buffered <= highWater / 2
                    if resume { s.paused = false }
                    return .chunk(chunk, resume: resume)
                }
                if s.finished { return .end(s.error) }
                precondition(s.waiter == nil, "Connection.read() called concurrently")
                s.waiter = cont
                return .wait
            }
            switch outcome {
            case .chunk(let chunk, let resume):
                if resume { connection.resumeReading() }
                cont.resume(returning: chunk)
            case .end(let error):
                if let error { cont.resume(throwing: error) } else { cont.resume(returning: nil) }
            case .wait:
                break
            }
        }
    }
}
