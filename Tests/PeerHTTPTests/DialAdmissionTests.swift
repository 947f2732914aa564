import HTTPTypes
import PeerHTTP
import RaftIO
import Testing
import TestSupport

@Suite("Client dial admission and closing one host's idle connections")
struct DialAdmissionTests {
    @Test("dialAdmission is asked before each new connection and never for a reused one; a refusal fails as dialRefused with nothing dialed")
    func admission() async throws {
        try await withEventLoop { group in
            let (server, port) = try await startTestServer(on: group.next())
            let client = HTTPClient(eventLoopGroup: group)
            let asked = Locked(0)
            let allowOnce: @Sendable () -> Bool = { asked.withLock { $0 += 1; return $0 == 1 } }
            let url = "http://127.0.0.1:\(port)/hello"
            // First: admitted, dials; the connection is kept alive.
            let first = try await client.execute(HTTPClientRequest(url: url, dialAdmission: allowOnce))
            #expect(first.status == .ok)
            _ = try await first.body.collect(upTo: 1024)
            // Second: the pooled connection, admission not asked.
            let second = try await client.execute(HTTPClientRequest(url: url, dialAdmission: allowOnce))
            _ = try await second.body.collect(upTo: 1024)
            #expect(asked.withLock { $0 } == 1)
            // Third, with the idle connection closed: a dial is needed and refused.
            client.closeIdleConnections(to: "http://127.0.0.1:\(port)")
            try await eventually(.seconds(10), "the idle connection closed") { server.statistics.openConnections == 0 }
            let error = await #expect(throws: HTTPClientError.self) {
                _ = try await client.execute(HTTPClientRequest(url: url, dialAdmission: allowOnce))
            }
            #expect(error?.code == .dialRefused)
            #expect(error?.description == "GET \(url): dial refused by the caller's admission")
            #expect(asked.withLock { $0 } == 2)
            #expect(server.statistics.acceptedConnections == 1, "the refused request dialed nothing")
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("closeIdleConnections(to:) closes the idle connections to that host and port only")
    func closeOneHost() async throws {
        try await withEventLoop { group in
            let (a, portA) = try await startTestServer(on: group.next())
            let (b, portB) = try await startTestServer(on: group.next())
            let client = HTTPClient(eventLoopGroup: group)
            for port in [portA, portB] {
                let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/hello"))
                _ = try await response.body.collect(upTo: 1024)
            }
            #expect(a.statistics.openConnections == 1 && b.statistics.openConnections == 1)
            client.closeIdleConnections(to: "http://127.0.0.1:\(portA)/anything")
            try await eventually(.seconds(10), "A's idle connection closed") { a.statistics.openConnections == 0 }
            // B's is still pooled: the next request reuses it.
            let again = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(portB)/hello"))
            _ = try await again.body.collect(upTo: 1024)
            #expect(b.statistics.acceptedConnections == 1 && b.statistics.openConnections == 1)
            client.closeIdleConnections()
            await a.shutdown(deadline: .seconds(1))
            await b.shutdown(deadline: .seconds(1))
        }
    }
}
