// Warnings that can repeat once per message (a full send buffer drops thousands of messages a
// second) or once per request of a hostile peer go through this, so the log says it once per
// interval with a count instead of flooding (etcd issue 3462; etcd 3.4's capnslog merges such
// lines as "[merged N repeated lines in Xs]").
//
// Per key: the first call logs at once; calls within `interval` of the last logged line are only
// counted; the first call after the interval logs again, with the count in the `suppressed`
// metadata field (the message itself stays the same, so operators' queries keep matching).
// `flush` logs the counts still pending (at stop, so the last burst is not lost silently).
//
// Bounded: keys may carry what a peer sent (a member ID from a header), so at most `capacity`
// keys are tracked. A new key when the table is full first evicts the keys quiet for an interval
// (their pending counts are logged); if none is quiet (a flood of new keys within one interval)
// it shares one overflow entry, itself limited to a line per interval.
import Logging
import RaftIO

/// A swift-log `Logger` that lets through at most one line per key per interval, with bounded
/// memory whatever the keys. Package-wide: the transport and the member's raft (RaftHTTPPeer) use it.
///
/// Thread-safe: any thread. The per-key state is behind a pthread lock held only for a dictionary
/// update; the message and metadata autoclosures are evaluated, and the line logged, outside it and
/// only when a line is emitted, so a suppressed call allocates nothing.
package final class RateLimitedLogger: Sendable {
    private struct Entry {
        var lastEmitted: ContinuousClock.Instant
        var suppressed: Int
        var level: Logger.Level
        var message: Logger.Message
        var metadata: Logger.Metadata?
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Calls whose key found the table full: one shared entry.
        var overflow: Entry?
        var lastSweep: ContinuousClock.Instant?
    }

    /// The metadata key that carries how many lines of a key were suppressed before this one.
    static let suppressedKey = "suppressed"
    /// The metadata key set on a line logged for a key that found the table full.
    static let overflowKey = "rate-limited-keys-full"

    // MARK: immutable, any thread
    /// The logger lines go to.
    let logger: Logger
    /// The shortest time between two lines of one key.
    let interval: Duration
    /// The most keys tracked at once.
    let capacity: Int
    private let now: @Sendable () -> ContinuousClock.Instant

    // MARK: guarded by the lock
    private let state = Locked(State())

    /// Wraps `logger`. `interval` defaults to 1 s; `capacity` bounds the keys tracked; `now` is
    /// the clock, injectable for tests.
    package init(_ logger: Logger, interval: Duration = .seconds(1), capacity: Int = 1024,
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.logger = logger
        self.interval = interval
        self.capacity = max(1, capacity)
        self.now = now
    }

    /// How many keys are tracked now (at most ``capacity``).
    var trackedKeys: Int { state.withLock { $0.entries.count } }

    /// Logs a warning unless a line with the same `key` was logged less than `interval` ago.
    /// Keys name the event and its subject, such as `"dropped-send/8e9e05c52164694d"`.
    package func warning(key: String, _ message: @autoclosure () -> Logger.Message,
                 metadata: @autoclosure () -> Logger.Metadata? = nil) {
        log(level: .warning, key: key, message(), metadata: metadata())
    }

    /// Logs at `level` unless a line with the same `key` was logged less than `interval` ago.
    func log(level: Logger.Level, key: String, _ message: @autoclosure () -> Logger.Message,
             metadata: @autoclosure () -> Logger.Metadata? = nil) {
        guard logger.logLevel <= level else { return }
        let time = now()
        // Lines of keys evicted to make room, logged outside the lock.
        var evicted: [(Entry, Int)] = []
        // nil: suppressed; else the count suppressed since the previous line, and whether the
        // call went to the overflow entry.
        let decision: (suppressed: Int, overflow: Bool)? = state.withLock { s in
            if var entry = s.entries[key] {
                if time - entry.lastEmitted < interval {
                    entry.suppressed += 1
                    s.entries[key] = entry
                    return nil
                }
                s.entries[key] = Entry(lastEmitted: time, suppressed: 0, level: level, message: "", metadata: nil)
                return (entry.suppressed, false)
            }
            if s.entries.count >= capacity, s.lastSweep.map({ time - $0 >= interval }) ?? true {
                s.lastSweep = time
                evicted = Self.sweep(&s.entries, at: time, interval: interval)
            }
            if s.entries.count < capacity {
                s.entries[key] = Entry(lastEmitted: time, suppressed: 0, level: level, message: "", metadata: nil)
                return (0, false)
            }
            if var overflow = s.overflow, time - overflow.lastEmitted < interval {
                overflow.suppressed += 1
                s.overflow = overflow
                return nil
            }
            let count = s.overflow?.suppressed ?? 0
            s.overflow = Entry(lastEmitted: time, suppressed: 0, level: level, message: "", metadata: nil)
            return (count, true)
        }
        for (entry, count) in evicted { emit(entry.level, entry.message, entry.metadata, suppressed: count) }
        guard let decision else { return }
        let text = message()
        var fields = metadata()
        if decision.overflow { fields = (fields ?? [:]).merging([Self.overflowKey: "true"]) { $1 } }
        state.withLock { s in
            if decision.overflow {
                s.overflow?.message = text
                s.overflow?.metadata = fields
            } else {
                s.entries[key]?.message = text
                s.entries[key]?.metadata = fields
            }
        }
        emit(level, text, fields, suppressed: decision.suppressed)
    }

    /// Logs, for every key with suppressed calls, its last logged line again with the count, and
    /// forgets keys that have been quiet for an interval.
    package func flush() {
        let time = now()
        let pending: [(Entry, Int)] = state.withLock { s in
            var pending: [(Entry, Int)] = []
            for (key, entry) in s.entries {
                // An empty message: its first line is being logged on another thread right now.
                if entry.suppressed > 0, !entry.message.description.isEmpty {
                    pending.append((entry, entry.suppressed))
                    s.entries[key]?.suppressed = 0
                    s.entries[key]?.lastEmitted = time
                } else if time - entry.lastEmitted >= interval {
                    s.entries[key] = nil
                }
            }
            if let overflow = s.overflow, overflow.suppressed > 0, !overflow.message.description.isEmpty {
                pending.append((overflow, overflow.suppressed))
                s.overflow?.suppressed = 0
                s.overflow?.lastEmitted = time
            }
            return pending
        }
        for (entry, count) in pending { emit(entry.level, entry.message, entry.metadata, suppressed: count) }
    }

    /// Removes the keys quiet for an interval; returns the lines their pending counts owe.
    private static func sweep(_ entries: inout [String: Entry], at time: ContinuousClock.Instant,
                              interval: Duration) -> [(Entry, Int)] {
        var owed: [(Entry, Int)] = []
        for (key, entry) in entries where time - entry.lastEmitted >= interval {
            if entry.suppressed > 0, !entry.message.description.isEmpty { owed.append((entry, entry.suppressed)) }
            entries[key] = nil
        }
        return owed
    }

    private func emit(_ level: Logger.Level, _ message: Logger.Message, _ metadata: Logger.Metadata?, suppressed: Int) {
        guard suppressed > 0 else {
            logger.log(level: level, message, metadata: metadata)
            return
        }
        var fields = metadata ?? [:]
        fields[Self.suppressedKey] = "\(suppressed)"
        logger.log(level: level, message, metadata: fields)
    }
}
