import Foundation
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

@Suite("Writes from other threads")
struct CrossThreadWriteTests {
    // A plain connection that has been quiet takes a write straight to the socket from the
    // writer's thread; a busy one queues for the loop; a large write may be cut between the two.
    // Whatever path each write takes, the bytes must arrive whole and in order.
    @Test("writes, single or gathered, that go straight to the socket, through the loop, or partly each, arrive in order", arguments: [false, true])
    func orderAcrossPaths(tls: Bool) async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let certs = TestCertificates.shared
            let serverTLS = tls ? try TLSContext(configuration: certs.server(clientAuth: .require), role: .server) : nil
            let clientTLS = tls ? try TLSContext(configuration: certs.client(), role: .client) : nil
            let listener = try await echoListener(on: loop, tls: serverTLS)
            let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop, tls: clientTLS)
            // Records of 1-200 bytes, every 97th 1 MiB, each filled with its own number.
            var records: [[UInt8]] = []
            for i in 0..<3000 {
                let size = i % 97 == 96 ? 1 << 20 : 1 + (i * 7919) % 200
                records.append([UInt8](repeating: UInt8(truncatingIfNeeded: i), count: size))
            }
            let expected = records.flatMap { $0 }
            let toWrite = records
            let writer = Thread {
                for (i, r) in toWrite.enumerated() {
                    if i % 3 == 0 {
                        // A gathered write: the record in three slices, in one call.
                        r.withUnsafeBytes { b in
                            let a = b.count / 3, c = 2 * b.count / 3
                            _ = try? conn.write(UnsafeRawBufferPointer(rebasing: b[..<a]), UnsafeRawBufferPointer(rebasing: b[a..<c]),
                                                UnsafeRawBufferPointer(rebasing: b[c...]))
                        }
                    } else {
                        _ = try? conn.write(r)
                    }
                    // Bursts (no pause), short pauses and quiet gaps longer than the direct-write idle time.
                    switch i % 5 {
                    case 0: usleep(50)
                    case 1: usleep(1)
                    default: break
                    }
                }
            }
            writer.start()
            let echoed = try await readExactly(expected.count, from: conn)
            #expect(echoed.count == expected.count)
            #expect(echoed == expected, "first difference at byte \(echoed.indices.first { echoed[$0] != expected[$0] } ?? -1)")
            let stats = conn.statistics
            #expect(stats.appWrites == UInt64(records.count))
            // With TLS the kernel gets ciphertext: records add their headers and tags.
            #expect(tls ? stats.bytesWritten > UInt64(expected.count) : stats.bytesWritten == UInt64(expected.count))
            conn.close()
            listener.close()
        }
    }
}
