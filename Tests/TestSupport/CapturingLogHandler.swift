import Logging
import RaftIO

/// One line a `CapturingLogHandler` received.
public struct CapturedLogLine: Sendable, Equatable {
    public var level: Logger.Level
    public var message: String
    public var metadata: [String: String]
}

/// A swift-log handler that keeps every line, so tests can assert texts verbatim. Thread-safe.
public struct CapturingLogHandler: LogHandler {
    public final class Store: Sendable {
        private let storage = Locked<[CapturedLogLine]>([])
        public init() {}
        /// Every line so far, oldest first.
        public var lines: [CapturedLogLine] { storage.withLock { $0 } }
        /// The messages so far.
        public var messages: [String] { lines.map(\.message) }
        fileprivate func append(_ line: CapturedLogLine) { storage.withLock { $0.append(line) } }
    }

    public let store: Store
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(store: Store) { self.store = store }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        for (key, value) in event.metadata ?? [:] { merged[key] = value }
        store.append(CapturedLogLine(level: event.level, message: event.message.description,
                                     metadata: merged.mapValues { $0.description }))
    }

    /// A logger whose lines land in a new store, at `level` and above.
    public static func logger(level: Logger.Level = .trace) -> (Logger, Store) {
        let store = Store()
        var logger = Logger(label: "test") { _ in CapturingLogHandler(store: store) }
        logger.logLevel = level
        return (logger, store)
    }
}
