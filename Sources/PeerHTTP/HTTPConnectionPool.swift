// Idle keep-alive connections per host:port (or Unix socket): a connection is in here only while
// no request uses it, so the pool never hands out one that is in use.
import RaftIO

final class HTTPConnectionPool: Sendable {
    struct Key: Hashable, Sendable {
        var host: String
        var port: Int
        var tls: Bool
        /// The Unix socket's path; nil for TCP.
        var unixSocketPath: String?

        init(_ url: HTTPURL) {
            host = url.host
            port = url.port
            tls = url.isTLS
            unixSocketPath = url.unixSocketPath
        }
    }

    private let maxIdlePerHost: Int
    private let idle = Locked<[Key: [HTTPClientConnection]]>([:])

    init(maxIdlePerHost: Int) { self.maxIdlePerHost = maxIdlePerHost }

    /// Takes an idle connection to `key` owned by `loop` (any loop when nil), most recent first.
    func take(_ key: Key, on loop: EventLoop?) -> HTTPClientConnection? {
        idle.withLock { all in
            guard var list = all[key] else { return nil }
            guard let i = list.lastIndex(where: { loop == nil || $0.loop === loop }) else { return nil }
            let conn = list.remove(at: i)
            all[key] = list.isEmpty ? nil : list
            return conn
        }
    }

    /// The loop of the most recent idle connection to `key`, if any.
    func peekLoop(_ key: Key) -> EventLoop? {
        idle.withLock { $0[key]?.last?.loop }
    }

    /// Parks `conn` (loop thread of `conn`). Returns false when the host has enough idle ones.
    func park(_ conn: HTTPClientConnection) -> Bool {
        guard conn.isUsable else { return false }
        let parked = idle.withLock { all in
            var list = all[conn.key] ?? []
            guard list.count < maxIdlePerHost else { return false }
            list.append(conn)
            all[conn.key] = list
            return true
        }
        if parked { conn.parked() }
        return parked
    }

    func remove(_ conn: HTTPClientConnection) {
        idle.withLock { all in
            guard var list = all[conn.key], let i = list.firstIndex(where: { $0 === conn }) else { return }
            list.remove(at: i)
            all[conn.key] = list.isEmpty ? nil : list
        }
    }

    /// Closes every idle connection.
    func closeAll() {
        let all = idle.withLock { all in
            defer { all = [:] }
            return all.values.flatMap { $0 }
        }
        for conn in all { conn.loop.executeSoon { conn.close() } }
    }

    /// Closes the idle connections to `key`.
    func closeAll(_ key: Key) {
        let list = idle.withLock { $0.removeValue(forKey: key) } ?? []
        for conn in list { conn.loop.executeSoon { conn.close() } }
    }
}
