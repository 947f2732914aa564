import RaftIO
import Testing
import TestSupport

@Suite("Scale: many connections, large transfers")
struct ScaleTests {
    @Test("512 concurrent connections through one loop each get their own echo")
    func manyConnections() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let listener = try await echoListener(on: loop)
            let connections = try await withThrowingTaskGroup(of: Connection.self) { tasks in
                for _ in 0..<512 {
                    tasks.addTask { try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop) }
                }
                return try await tasks.reduce(into: []) { $0.append($1) }
            }
            #expect(connections.count == 512)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for (i, c) in connections.enumerated() {
                    tasks.addTask {
                        let message = Array("connection \(i)".utf8)
                        try c.write(message)
                        let echoed = try await readExactly(message.count, from: c)
                        #expect(echoed == message)
                        c.close()
                        await c.waitClosed()
                    }
                }
                try await tasks.waitForAll()
            }
            listener.close()
        }
    }

    /// Sends `total` bytes in 1 MiB writes with back-pressure at 8 MiB queued, to a sink that
    /// checksums on the loop thread; returns (sent, received) checksums.
    func transfer(total: Int, server: TLSContext?, client: TLSContext?) async throws -> (StreamChecksum, StreamChecksum) {
        try await withEventLoop(loops: 2) { group in
            let sinkDone = AsyncStreamPair<StreamChecksum>()
            let listener = try await Listener.bind(host: "127.0.0.1", port: 0, tls: server, on: group.loops[0]) { connection in
                connection.setHandler(SinkHandler(expected: total) { sinkDone.send($0) })
            }
            let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: group.loops[1], tls: client)
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            var sent = StreamChecksum()
            var offset = 0
            while offset < total {
                for i in stride(from: 0, to: chunk.count, by: 4096) { chunk[i] = UInt8(truncatingIfNeeded: offset &+ i &* 31) }
                sent.update(chunk)
                try conn.write(chunk)
                try await conn.waitForQueue(below: 8 << 20)
                offset += chunk.count
            }
            let received = await sinkDone.next()
            conn.close()
            await conn.waitClosed()
            listener.close()
            return (sent, received)
        }
    }

    @Test("a 256 MiB transfer arrives intact over TCP")
    func bulkPlain() async throws {
        let (sent, received) = try await transfer(total: 256 << 20, server: nil, client: nil)
        #expect(received.count == 256 << 20)
        #expect(received == sent)
    }

    @Test("a 256 MiB transfer arrives intact over TLS")
    func bulkTLS() async throws {
        let certs = TestCertificates.shared
        let (sent, received) = try await transfer(
            total: 256 << 20,
            server: try TLSContext(configuration: certs.server(), role: .server),
            client: try TLSContext(configuration: certs.client(), role: .client))
        #expect(received.count == 256 << 20)
        #expect(received == sent)
    }
}
