/// The default handler of a connection read from a task with ``Connection/read()``: it keeps at
/// most `highWater` bytes, then pauses the socket until the reader catches up to half of that.
final class InboundBuffer: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is in `queue`, behind its lock.
    private let queue: Locked<ChunkQueue<RaftIOError>>

    init(highWater: Int) { queue = Locked(ChunkQueue(highWater: highWater)) }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        let chunk = [UInt8](bytes)
        let (handTo, pause) = queue.withLock { $0.push(chunk) }
        handTo?.resume(returning: chunk)
        if pause { connection.pauseReading() }
    }

    func connectionDidReachEOF(_ connection: Connection) { finish(nil) }

    func connectionDidClose(_ connection: Connection, error: RaftIOError?) { finish(error) }

    private func finish(_ error: RaftIOError?) {
        queue.withLock { $0.finish(error) }?.resume(ending: error)
    }

    func next(_ connection: Connection) async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<[UInt8]?, any Error>) in
            switch queue.withLock({ $0.pop(orWait: cont) }) {
            case .chunk(let chunk, let resume):
                if resume { connection.resumeReading() }
                cont.resume(returning: chunk)
            case .end(let error):
                cont.resume(ending: error)
            case .waiting:
                break
            }
        }
    }
}
