import Foundation
import RaftIO
import Testing
import TestSupport

@Suite("TCP liveness: keepalive and user timeout on every socket")
struct TCPLivenessTests {
    @Test("dialed and accepted sockets carry their configured keepalive and user timeout, as the kernel reports them")
    func setOnBothEnds() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let served = TCPLiveness(keepAliveIdle: .seconds(7), keepAliveInterval: .seconds(2), keepAliveCount: 4,
                                     userTimeout: .milliseconds(15_500))
            let dialed = TCPLiveness(keepAliveIdle: .seconds(3), keepAliveInterval: .seconds(1), keepAliveCount: 6,
                                     userTimeout: .milliseconds(9_000))
            let accepted = Locked<Result<TCPLiveness, RaftIOError>?>(nil)
            let listener = try await Listener.bind(host: "127.0.0.1", port: 0, liveness: served, on: loop) { connection in
                accepted.withLock { $0 = Result { () throws(RaftIOError) in try connection.tcpLivenessInEffect() } }
                connection.close()
            }
            let client = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop, liveness: dialed)
            let onClient = try await loop.submit { try client.tcpLivenessInEffect() }
            #expect(onClient == dialed)
            try await eventually(.seconds(10), "the accepted side read its options") { accepted.withLock { $0 != nil } }
            #expect(try accepted.withLock { $0 }?.get() == served)
            client.close()
            _ = await client.waitClosed()
            listener.close()
            await listener.waitClosed()
        }
    }

    @Test("a socket given no settings keeps the 30 s keepalive of Go's dialer")
    func defaultKeepalive() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let listener = try await Listener.bind(host: "127.0.0.1", port: 0, on: loop) { $0.close() }
            let client = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop)
            let onClient = try await loop.submit { try client.tcpLivenessInEffect() }
            #expect(onClient.keepAliveIdle == .seconds(30))
            client.close()
            _ = await client.waitClosed()
            listener.close()
            await listener.waitClosed()
        }
    }

    @Test("settings derived from etcd's 5 s read timeout: probes after 5 s, every 1 s, five of them, dropped at 10 s")
    func derivedFromReadTimeout() {
        let l = TCPLiveness(readTimeout: .seconds(5))
        #expect(l == TCPLiveness(keepAliveIdle: .seconds(5), keepAliveInterval: .seconds(1), keepAliveCount: 5,
                                 userTimeout: .seconds(10)))
        #expect(l.idleDetectionBound == .seconds(11))
        #expect(l.detectionBound == .seconds(21))
        // A long read timeout scales the interval with it; a short one keeps the 1 s floor.
        #expect(TCPLiveness(readTimeout: .seconds(30)).keepAliveInterval == .seconds(6))
        #expect(TCPLiveness(readTimeout: .seconds(2)).userTimeout == .seconds(7))
    }
}
