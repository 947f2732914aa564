@testable import RaftHTTP
import Logging
import RaftIO
import Testing
import TestSupport

@Suite("rate-limited warnings")
struct RateLimitedLoggerTests {
    /// A logger over a manual clock that starts at an arbitrary instant.
    private func make(interval: Duration = .seconds(5), level: Logger.Level = .trace)
        -> (RateLimitedLogger, CapturingLogHandler.Store, Locked<Duration>) {
        let (logger, store) = CapturingLogHandler.logger(level: level)
        let origin = ContinuousClock.now
        let offset = Locked<Duration>(.zero)
        let limited = RateLimitedLogger(logger, interval: interval) { origin + offset.withLock { $0 } }
        return (limited, store, offset)
    }

    @Test("the first warning of a key is logged at once, with its metadata")
    func first() {
        let (logger, store, _) = make()
        logger.warning(key: "drop/1", "dropped internal Raft message since sending buffer is full (overloaded network)",
                       metadata: ["remote-peer-id": "1"])
        #expect(store.messages == ["dropped internal Raft message since sending buffer is full (overloaded network)"])
        #expect(store.lines.first?.level == .warning)
        #expect(store.lines.first?.metadata["remote-peer-id"] == "1")
    }

    @Test("repeats within the interval are counted, and the next line says how many were suppressed, the message unchanged")
    func suppressed() {
        let (logger, store, clock) = make()
        for _ in 0 ..< 100 { logger.warning(key: "drop/1", "dropped") }
        clock.withLock { $0 = .seconds(4) }
        logger.warning(key: "drop/1", "dropped")
        #expect(store.messages == ["dropped"])
        clock.withLock { $0 = .seconds(5) }
        logger.warning(key: "drop/1", "dropped")
        logger.warning(key: "drop/1", "dropped")
        #expect(store.messages == ["dropped", "dropped"])
        #expect(store.lines.map { $0.metadata["suppressed"] } == [nil, "100"])
    }

    @Test("keys are limited independently")
    func keys() {
        let (logger, store, _) = make()
        logger.warning(key: "a", "a")
        logger.warning(key: "b", "b")
        logger.warning(key: "a", "a")
        #expect(store.messages == ["a", "b"])
    }

    @Test("flush logs the pending counts and forgets quiet keys")
    func flush() {
        let (logger, store, clock) = make()
        logger.warning(key: "a", "a")
        logger.warning(key: "a", "a")
        logger.warning(key: "a", "a")
        logger.warning(key: "b", "b")
        logger.flush()
        #expect(store.messages == ["a", "b", "a"])
        #expect(store.lines.map { $0.metadata["suppressed"] } == [nil, nil, "2"])
        logger.flush()
        #expect(store.messages.count == 3)
        clock.withLock { $0 = .seconds(60) }
        logger.flush()
        #expect(logger.trackedKeys == 0, "quiet keys forgotten")
        logger.warning(key: "a", "a")
        #expect(store.messages == ["a", "b", "a", "a"])
    }

    @Test("bounded: a flood of new keys within one interval tracks at most the capacity, the rest share one overflow line per interval")
    func bounded() {
        let (logger, store) = CapturingLogHandler.logger(level: .trace)
        let origin = ContinuousClock.now
        let offset = Locked<Duration>(.zero)
        let limited = RateLimitedLogger(logger, interval: .seconds(1), capacity: 4) { origin + offset.withLock { $0 } }
        for n in 0 ..< 10_000 { limited.warning(key: "unknown-\(n)", "failed to find remote peer in cluster") }
        #expect(limited.trackedKeys == 4)
        #expect(store.lines.count == 5, "four keys and one overflow line")
        #expect(store.lines.last?.metadata[RateLimitedLogger.overflowKey] == "true")
        // An interval later the quiet keys make room again; the overflow's count is owed.
        offset.withLock { $0 = .seconds(1) }
        limited.warning(key: "fresh", "fresh")
        #expect(limited.trackedKeys == 1)
        #expect(store.messages.last == "fresh")
        limited.warning(key: "more", "x")
        limited.flush()
        #expect(store.lines.contains { $0.metadata[RateLimitedLogger.overflowKey] == "true" && $0.metadata["suppressed"] == "9995" })
    }

    @Test("a warning below the logger's level costs nothing and is not counted")
    func belowLevel() {
        let (logger, store, clock) = make(level: .error)
        logger.warning(key: "a", "a")
        clock.withLock { $0 = .seconds(10) }
        logger.log(level: .error, key: "a", "a")
        #expect(store.messages == ["a"])
    }
}
