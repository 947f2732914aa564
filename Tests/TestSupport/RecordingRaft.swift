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
        /// Congestion reports, in the order they came.
        public var congestion: [(UInt64, PeerCongestion)] = []
        /// Removal reports (``Raft/reportRemoved(_:)``), in the order they came.
        public var removals: [RaftHTTPError] = []
        /// Where the sink stored each received MsgSnap's database (`process(snapshot:storedAt:)`).
        public var snapshotPaths: [String?] = []

        public init(received: [Message] = [], unreachable: [UInt64] = [], snapshots: [(UInt64, SnapshotStatus)] = [],
                    congestion: [(UInt64, PeerCongestion)] = [], removals: [RaftHTTPError] = [], snapshotPaths: [String?] = []) {
            self.congestion = congestion
            self.removals = removals
            self.snapshotPaths = snapshotPaths
            self.received = received
            self.unreachable = unreachable
            self.snapshots = snapshots
        }
    }

    private struct Waiter {
        var id: UInt64
        var condition: @Sendable (Record) -> Bool
        var continuation: CheckedContinuation<Void, Never>
    }
    private let state = Locked<(record: Record, waiters: [Waiter], nextWaiter: UInt64)>((Record(), [], 0))
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
                   snapshots: s.record.snapshots.withUnsafeBufferPointer { Array($0) },
                   congestion: s.record.congestion.withUnsafeBufferPointer { Array($0) },
                   removals: s.record.removals.withUnsafeBufferPointer { Array($0) },
                   snapshotPaths: s.record.snapshotPaths.withUnsafeBufferPointer { Array($0) })
        }
    }

    public func markRemoved(_ id: UInt64) { removed.withLock { _ = $0.insert(id) } }

    private func update(_ change: (inout Record) -> Void) {
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { s in
            change(&s.record)
            var ready: [CheckedContinuation<Void, Never>] = []
            let record = s.record
            s.waiters.removeAll { w in
                guard w.condition(record) else { return false }
                ready.append(w.continuation)
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

    public func reportRemoved(_ error: RaftHTTPError) { update { $0.removals.append(error) } }

    /// Records where the database is, then processes the MsgSnap as ``process(_:)`` does.
    public func process(snapshot message: Message, storedAt: String?) throws {
        update { $0.snapshotPaths.append(storedAt) }
        try process(message)
    }

    public func reportUnreachable(_ id: UInt64) { update { $0.unreachable.append(id) } }

    public func reportSnapshot(_ id: UInt64, status: SnapshotStatus) { update { $0.snapshots.append((id, status)) } }

    /// Recorded, and ``onCongestion`` (if set) called after, outside the record's lock.
    public func reportCongestion(_ id: UInt64, state: PeerCongestion) {
        update { $0.congestion.append((id, state)) }
        congestionHook.withLock { $0 }?(id, state)
    }

    /// Called by ``reportCongestion(_:state:)`` after recording, on the reporting thread.
    public let congestionHook = Locked<(@Sendable (UInt64, PeerCongestion) -> Void)?>(nil)

    /// Waits until `condition` holds, or throws after `timeout` (a hang guard). A cancelled wait
    /// returns at once and leaves no waiter behind.
    public func wait(timeout: Duration = .seconds(10), _ what: String = "condition",
                     until condition: @escaping @Sendable (Record) -> Bool) async throws {
        try await withDeadline(timeout, what) {
            let id: UInt64 = self.state.withLock { s in
                s.nextWaiter += 1
                return s.nextWaiter
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                    let done: Bool = self.state.withLock { s in
                        if condition(s.record) || Task.isCancelled { return true }
                        s.waiters.append(Waiter(id: id, condition: condition, continuation: cont))
                        return false
                    }
                    if done { cont.resume() }
                }
            } onCancel: {
                let cancelled = self.state.withLock { s -> Waiter? in
                    guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return s.waiters.remove(at: i)
                }
                cancelled?.continuation.resume()
            }
            try Task.checkCancellation()
        }
    }
}

/// The deadline passed before the awaited event happened.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public var description: String
}

/// Runs `body`; throws ``DeadlineExceeded`` if it has not returned within `timeout` (scaled by
/// ``timeBound(_:)`` under a sanitizer). At the deadline the body's task is cancelled, so waits
/// that honour cancellation (``RecordingRaft/wait(timeout:_:until:)``, `Task.sleep`, the async
/// socket reads) end instead of lingering, and a failed test leaves no waiter behind.
public func withDeadline<T: Sendable>(_ timeout: Duration, _ what: String = "operation",
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let result = Locked<CheckedContinuation<T, any Error>?>(nil)
    let tasks = Locked<(body: Task<Void, Never>?, timer: Task<Void, Never>?)>((nil, nil))
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            result.withLock { $0 = cont }
            let bodyTask = Task {
                let outcome: Result<T, any Error>
                do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
                result.withLock { c in c?.resume(with: outcome); c = nil }
                tasks.withLock { $0.timer }?.cancel()
            }
            tasks.withLock { $0.body = bodyTask }
            let timer = Task {
                try? await Task.sleep(for: timeBound(timeout))
                guard !Task.isCancelled else { return }
                let expired: Bool = result.withLock { c in
                    guard let pending = c else { return false }
                    pending.resume(throwing: DeadlineExceeded(description: "\(what): not within \(timeout)"))
                    c = nil
                    return true
                }
                if expired { bodyTask.cancel() }
            }
            tasks.withLock { $0.timer = timer }
        }
    } onCancel: {
        let (body, timer) = tasks.withLock { $0 }
        body?.cancel()
        timer?.cancel()
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
