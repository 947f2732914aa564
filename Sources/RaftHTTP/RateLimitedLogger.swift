// Warnings that can repeat once per message (a full send buffer drops thousands of messages a
// second) go through this, so the log says it once per interval with a count instead of flooding
// (etcd issue 3462; etcd 3.4's capnslog merges such lines as "[merged N repeated lines in Xs]").
//
// Per key: the first call logs at once; calls within `interval` of the last logged line are only
// counted; the first call after the interval logs with " (N similar suppressed)" appended. `flush`
// logs the counts still pending (call it at stop, or from a periodic timer, so the last burst is
// not lost silently).
import Logging
import RaftIO

/// A swift-log `Logger` that lets through at most one line per key per interval.
///
/// Thread-safe: any thread. The per-key state is behind a pthread lock held only for a dictionary
/// update; the message and metadata autoclosures are evaluated, and the line logged, outside it and
/// only when a line is emitted, so a suppressed call allocates nothing.
final class RateLimitedLogger: Sendable {
    private struct Entry {
        var lastEmitted: ContinuousClock.Instant
        var suppressed: Int
        var level: Logger.Level
        var message: Logger.Message
        var metadata: Logger.Metadata?
    }

    // MARK: immutable, any thread
    /// The logger lines go to.
    let logger: Logger
    /// The shortest time between two lines of one key.
    let interval: Duration
    private let now: @Sendable () -> ContinuousClock.Instant

    // MARK: guarded by the lock
    private let entries = Locked<[String: Entry]>([:])

    /// Wraps `logger`. `interval` defaults to 5 s; `now` is the clock, injectable for tests.
    init(_ logger: Logger, interval: Duration = .seconds(5),
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.logger = logger
        self.interval = interval
        self.now = now
    }

    /// Logs a warning unless a line with the same `key` was logged less than `interval` ago.
    /// Keys name the event and its subject, such as `"dropped-send/8e9e05c52164694d/MsgApp"`.
    func warning(key: String, _ message: @autoclosure () -> Logger.Message,
                 metadata: @autoclosure () -> Logger.Metadata? = nil) {
        log(level: .warning, key: key, message(), metadata: metadata())
    }

    /// Logs at `level` unless a line with the same `key` was logged less than `interval` ago.
    func log(level: Logger.Level, key: String, _ message: @autoclosure () -> Logger.Message,
             metadata: @autoclosure () -> Logger.Metadata? = nil) {
        guard logger.logLevel <= level else { return }
        let time = now()
        // nil: suppressed; else the count suppressed since the previous line.
        let suppressedBefore: Int? = entries.withLock { entries in
            if var entry = entries[key], time - entry.lastEmitted < interval {
                entry.suppressed += 1
                entries[key] = entry
                return nil
            }
            let count = entries[key]?.suppressed ?? 0
            entries[key] = Entry(lastEmitted: time, suppressed: 0, level: level, message: "", metadata: nil)
            return count
        }
        guard let suppressedBefore else { return }
        let text = message()
        let fields = metadata()
        entries.withLock { entries in
            entries[key]?.message = text
            entries[key]?.metadata = fields
        }
        logger.log(level: level, Self.withCount(text, suppressedBefore), metadata: fields)
    }

    /// Logs, for every key with suppressed calls, its last logged line again with the count, and
    /// forgets keys that have been quiet for an interval.
    func flush() {
        let time = now()
        let pending: [(Entry, Int)] = entries.withLock { entries in
            var pending: [(Entry, Int)] = []
            for (key, entry) in entries {
                // An empty message: its first line is being logged on another thread right now.
                if entry.suppressed > 0, !entry.message.description.isEmpty {
                    pending.append((entry, entry.suppressed))
                    entries[key]?.suppressed = 0
                    entries[key]?.lastEmitted = time
                } else if time - entry.lastEmitted >= interval {
                    entries[key] = nil
                }
            }
            return pending
        }
        for (entry, count) in pending {
            logger.log(level: entry.level, Self.withCount(entry.message, count), metadata: entry.metadata)
        }
    }

    private static func withCount(_ message: Logger.Message, _ count: Int) -> Logger.Message {
        count == 0 ? message : "\(message) (\(count) similar suppressed)"
    }
}
