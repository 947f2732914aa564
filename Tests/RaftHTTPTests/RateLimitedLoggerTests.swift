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

    @Test("repeats within the interval are counted, and the next line says how many were suppressed")
    func suppressed() {
        let (logger, store, clock) = make()
        for _ in 0 ..< 100 { logger.warning(key: "drop/1", "dropped") }
        clock.withLock { $0 = .seconds(4) }
        logger.warning(key: "drop/1", "dropped")
        #expect(store.messages == ["dropped"])
        clock.withLock { $0 = .seconds(5) }
        logger.warning(key: "drop/1", "dropped")
        logger.warning(key: "drop/1", "dropped")
        #expect(store.messages == ["dropped", "dropped (100 similar suppressed)"])
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
        #expect(store.messages == ["a", "b", "a (2 similar suppressed)"])
        logger.flush()
        #expect(store.messages.count == 3)
        clock.withLock { $0 = .seconds(60) }
        logger.flush()
        logger.warning(key: "a", "a")
        #expect(store.messages == ["a", "b", "a (2 similar suppressed)", "a"])
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
