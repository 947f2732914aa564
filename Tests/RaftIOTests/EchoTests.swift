import RaftIO
import Testing
import TestSupport

@Suite("Echo round trips over loopback")
struct EchoTests {
    @Test("a TCP echo round trip returns the same bytes, on a port the kernel picked")
    func tcpEcho() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let listener = try await echoListener(on: loop)
            #expect(listener.port > 0)
            let client = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop)
            let message = Array("hello, raft".utf8)
            try client.write(message)
            #expect(try await readExactly(message.count, from: client) == message)
            client.close()
            #expect(await client.waitClosed() == nil)
            listener.close()
            await listener.waitClosed()
        }
    }

    @Test("IPv6 listeners accept and a host name resolves through the resolver")
    func ipv6AndNames() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let v6 = try await echoListener(on: loop, host: "::1")
            let c6 = try await Connection.connect(host: "::1", port: v6.port, on: loop)
            try c6.write([1, 2, 3])
            #expect(try await readExactly(3, from: c6) == [1, 2, 3])
            c6.close()
            let v4 = try await echoListener(on: loop)
            // "localhost" may resolve to ::1 first; the dialer must fall through to 127.0.0.1.
            let named = try await Connection.connect(host: "localhost", port: v4.port, on: loop)
            try named.write([9])
            #expect(try await readExactly(1, from: named) == [9])
            named.close()
            v6.close()
            v4.close()
        }
    }

    @Test("a mutual-TLS echo works and negotiates TLS 1.3 without ALPN")
    func tlsEcho() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let certs = TestCertificates.shared
            let server = try TLSContext(configuration: certs.server(clientAuth: .require), role: .server)
            let client = try TLSContext(configuration: certs.client(), role: .client)
            let listener = try await echoListener(on: loop, tls: server)
            let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop, tls: client)
            let session = try await loop.submit { conn.tlsSession.map { [$0.version, $0.cipher] } ?? [] }
            #expect(session.first == "TLSv1.3")
            let message = [UInt8](repeating: 0x5a, count: 100_000)
            try conn.write(message)
            #expect(try await readExactly(message.count, from: conn) == message)
            conn.close()
            #expect(await conn.waitClosed() == nil)
            listener.close()
        }
    }

    @Test("many small writes from another thread are coalesced into few socket writes")
    func coalescing() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let listener = try await echoListener(on: loop)
            let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop)
            let frame = [UInt8](repeating: 7, count: 64)
            for _ in 0..<10_000 { try conn.write(frame) }
            _ = try await readExactly(64 * 10_000, from: conn)
            let stats = conn.statistics
            #expect(stats.appWrites == 10_000)
            #expect(stats.bytesWritten == 640_000)
            #expect(stats.socketWrites < 1_000, "10,000 writes should take far fewer than 1,000 syscalls, took \(stats.socketWrites)")
            conn.close()
            listener.close()
        }
    }
}
