import Foundation
import RaftHTTP
import RaftIO
import RaftPB

/// A `Raft` that records what the transport tells it, and lets tests wait for a condition on it.
public final class RecordingRaft: Raft, Sendable {
    /// What the raft side has seen so far.
    public struct Record: Sendable {
        public var received: [Message] = []
        public var unreachable: [UInt64] = []
        public var snapshots: [(UInt64, SnapshotStatus)] = []

        public init(received: [Message] = [], unreachable: [UInt64] = [], snapshots: [(UInt64, SnapshotStatus)] = []) {
            self.received = received
            self.unreachable = unreachable
            self.snapshots = snapshots
        }
    }

    private let state = Locked<(record: Record, waiters: [(@Sendable (Record) -> Bool, CheckedContinuation<Void, Never>)])>((Record(), []))
    private let removed: Locked<Set<UInt64>>
    /// Thrown from `process` when set.
    package let processError = Locked<(any Error)?>(nil)

    public init(removed: Set<UInt64> = []) { self.removed = Locked(removed) }

    // A closed gate blocks `process` (on the transport's loop thread), as a stuck raft would:
    // the loop stops reading, and the sender's queue fills.
    private let gate = NSCondition()
    nonisolated(unsafe) private var gateClosed = false

    /// Makes `process` block until ``open()``.
    public func close() {
        gate.lock()
        gateClosed = true
        gate.unlock()
    }

    /// Lets blocked and later `process` calls through.
    public func open() {
        gate.lock()
        gateClosed = false
        gate.broadcast()
        gate.unlock()
    }

    private func passGate() {
        gate.lock()
        while gateClosed { gate.wait() }
        gate.unlock()
    }

    /// A copy of what was seen so far, in fresh buffers: a buffer shared with the recording side
    /// would be appended to in place once the reader let go of it, an order that only the Swift
    /// runtime's (uninstrumented) reference counts establish, so ThreadSanitizer reports a race.
    public var record: Record {
        state.withLock { s in
            Record(received: s.record.received.withUnsafeBufferPointer { Array($0) },
                   unreachable: s.record.unreachable.withUnsafeBufferPointer { Array($0) },
                   snapshots: s.record.snapshots.withUnsafeBufferPointer { Array($0) })
        }
    }

    public func markRemoved(_ id: UInt64) { removed.withLock { _ = $0.insert(id) } }

    private func update(_ change: (inout Record) -> Void) {
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { s in
            change(&s.record)
            var ready: [CheckedContinuation<Void, Never>] = []
            let record = s.record
            s.waiters.removeAll { w in
                guard w.0(record) else { return false }
                ready.append(w.1)
                return true
            }
            return ready
        }
        for r in ready { r.resume() }
    }

    public func process(_ message: Message) throws {
        passGate()
        if let error = processError.withLock({ $0 }) { throw error }
        update { $0.received.append(message) }
    }

    public func process(batch: [Message]) throws {
        passGate()
        update { $0.received.append(contentsOf: batch) }
    }

    public func isIDRemoved(_ id: UInt64) -> Bool { removed.withLock { $0.contains(id) } }

    public func reportUnreachable(_ id: UInt64) { update { $0.unreachable.append(id) } }

    public func reportSnapshot(_ id: UInt64, status: SnapshotStatus) { update { $0.snapshots.append((id, status)) } }

    /// Waits until `condition` holds, or throws after `timeout`.
    public func wait(timeout: Duration = .seconds(10), _ what: String = "condition",
                     until condition: @escaping @Sendable (Record) -> Bool) async throws {
        try await withDeadline(timeout, what) {
            await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                let done: Bool = self.state.withLock { s in
                    if condition(s.record) { return true }
                    s.waiters.append((condition, cont))
                    return false
                }
                if done { cont.resume() }
            }
        }
    }
}

/// The deadline passed before the awaited event happened.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public var description: String
}

/// Runs `body`; throws ``DeadlineExceeded`` if it has not returned within `timeout` (scaled by
/// ``timeBound(_:)`` under a sanitizer). The body keeps
/// running in the background in that case (its continuation is simply never awaited again).
public func withDeadline<T: Sendable>(_ timeout: Duration, _ what: String = "operation",
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let result = Locked<CheckedContinuation<T, any Error>?>(nil)
    return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
        result.withLock { $0 = cont }
        Task {
            do {
                let v = try await body()
                result.withLock { c in c?.resume(returning: v); c = nil }
            } catch {
                result.withLock { c in c?.resume(throwing: error); c = nil }
            }
        }
        Task {
            try? await Task.sleep(for: timeBound(timeout))
            result.withLock { c in c?.resume(throwing: DeadlineExceeded(description: "\(what): not within \(timeout)")); c = nil }
        }
    }
}

/// Polls `condition` after each turn of the cooperative pool until it holds or `timeout` (scaled
/// by ``timeBound(_:)`` under a sanitizer) passes.
/// For state that offers no event to wait on (counters of another component).
public func eventually(_ timeout: Duration = .seconds(10), _ what: String = "condition",
                       _ condition: @escaping @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeBound(timeout)
    while !condition() {
        if ContinuousClock.now > deadline { throw DeadlineExceeded(description: "\(what): not within \(timeout)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
