/// The bytes a loop thread reads for one async reader: chunks in order, bounded by a high-water
/// mark. Past the mark the producer is told to pause its socket; once the reader has taken the
/// queue down to half of it, to resume. Shared by ``Connection/read()`` and PeerHTTP's response
/// bodies, each of which keeps one behind its lock and carries out what the methods return.
///
/// A value type with no lock of its own: its owner serialises every call.
package struct ChunkQueue<Failure: Error>: Sendable {
    package typealias Waiter = CheckedContinuation<[UInt8]?, any Error>

    /// What ``pop(orWait:)`` found.
    package enum Popped {
        /// The next chunk; `resume` says the producer should resume reading now.
        case chunk([UInt8], resume: Bool)
        /// The end: nil for a clean end, else the failure.
        case end(Failure?)
        /// Nothing yet: the continuation was kept and is resumed by a later push or finish.
        case waiting
    }

    private var chunks: [[UInt8]] = []
    private var head = 0
    private var buffered = 0
    private var paused = false
    private var waiter: Waiter?
    private(set) package var isFinished = false
    private var failure: Failure?
    /// Buffered bytes at which the producer pauses; it resumes at half.
    package let highWater: Int

    package init(highWater: Int) { self.highWater = highWater }

    /// Whether the end was reached and every chunk taken.
    package var isDrained: Bool { isFinished && head == chunks.count }

    /// Adds a chunk. Returns the waiting reader to hand it to directly (then nothing is queued),
    /// and whether the producer should pause reading now.
    package mutating func push(_ chunk: [UInt8]) -> (handTo: Waiter?, pause: Bool) {
        if let w = waiter {
            waiter = nil
            return (w, false)
        }
        chunks.append(chunk)
        buffered += chunk.count
        if buffered >= highWater && !paused {
            paused = true
            return (nil, true)
        }
        return (nil, false)
    }

    /// Ends the queue (the first call wins). Returns the waiting reader, to be resumed with the
    /// end (nil: none waits, or the queue had ended already).
    package mutating func finish(_ error: Failure?) -> Waiter? {
        guard !isFinished else { return nil }
        isFinished = true
        failure = error
        defer { waiter = nil }
        return waiter
    }

    /// Takes the next chunk, or the end, or keeps `continuation` until one arrives.
    /// - Precondition: no other reader waits (one reader at a time).
    package mutating func pop(orWait continuation: Waiter) -> Popped {
        if head < chunks.count {
            let chunk = chunks[head]
            head += 1
            if head == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                head = 0
            }
            buffered -= chunk.count
            let resume = paused && buffered <= highWater / 2
            if resume { paused = false }
            return .chunk(chunk, resume: resume)
        }
        if isFinished { return .end(failure) }
        precondition(waiter == nil, "a chunk queue read by two readers at once")
        waiter = continuation
        return .waiting
    }
}

extension CheckedContinuation where T == [UInt8]?, E == any Error {
    /// Resumes a chunk reader with the end: nil for a clean end, else the error.
    package func resume<Failure: Error>(ending failure: Failure?) {
        if let failure { resume(throwing: failure) } else { resume(returning: nil) }
    }
}
