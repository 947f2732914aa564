import HTTPTypes
import PeerHTTP
import RaftIO
import Testing
import TestSupport

@Suite("curl talks to our server")
struct ServerCurlTests {
    @Test("curl GET gets 200 and the body")
    func get() async throws {
        try await withEventLoop { group in
            let (server, port) = try await startTestServer(on: group.next())
            let r = try await runDetached("curl", ["-sS", "-i", "http://127.0.0.1:\(port)/hello"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(r.stdout.contains("Content-Length: 2\r\n"))
            #expect(r.stdout.hasSuffix("\r\n\r\nhi"))
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("curl POST with Content-Length is echoed back")
    func postContentLength() async throws {
        try await withEventLoop { group in
            let (server, port) = try await startTestServer(on: group.next())
            let r = try await runDetached("curl", ["-sS", "--data-binary", "hello raft", "http://127.0.0.1:\(port)/echo"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == "hello raft")
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("curl POST chunked (100 KB) is read through to its end")
    func postChunked() async throws {
        try await withEventLoop { group in
            let (server, port) = try await startTestServer(on: group.next())
            let file = TestCertificates.shared.directory + "/body-\(port).bin"
            _ = try await runDetached("sh", ["-c", "head -c 100000 /dev/zero > \(file)"])
            let r = try await runDetached("curl", ["-sS", "-H", "Transfer-Encoding: chunked", "--data-binary", "@\(file)",
                                                   "http://127.0.0.1:\(port)/count"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == "100000")
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("curl with two URLs reuses one keep-alive connection")
    func keepAlive() async throws {
        try await withEventLoop { group in
            let (server, port) = try await startTestServer(on: group.next())
            let url = "http://127.0.0.1:\(port)/hello"
            let r = try await runDetached("curl", ["-sS", "-v", url, url])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == "hihi")
            #expect(r.stderr.contains("Re-using existing connection") || r.stderr.contains("Reusing existing"))
            #expect(server.statistics.acceptedConnections == 1)
            #expect(server.statistics.requestsServed == 2)
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("curl over TLS with a client certificate, and without one the handshake fails")
    func mutualTLS() async throws {
        try await withEventLoop { group in
            let certs = TestCertificates.shared
            let tls = try TLSContext(configuration: certs.server(clientAuth: .require), role: .server)
            let (server, port) = try await startTestServer(on: group.next(), tls: tls)
            let url = "https://127.0.0.1:\(port)/hello"
            let ok = try await runDetached("curl", ["-sS", "--cacert", certs.path("ca.pem"), "--cert", certs.path("client.pem"),
                                                    "--key", certs.path("client.key"), url])
            #expect(ok.status == 0, "\(ok.stderr)")
            #expect(ok.stdout == "hi")
            let refused = try await runDetached("curl", ["-sS", "--cacert", certs.path("ca.pem"), url])
            #expect(refused.status != 0)
            await server.shutdown(deadline: .seconds(1))
        }
    }
}
