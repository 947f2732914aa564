import Foundation
import HTTPTypes
import PeerHTTP
import RaftIO
import Testing
import TestSupport

/// A value set once from another thread and awaited by a test.
final class Box<T: Sendable>: Sendable {
    private let value = Locked<(T?, [CheckedContinuation<T, Never>])>((nil, []))
    func set(_ v: T) {
        let waiters = value.withLock { s in
            s.0 = v
            defer { s.1 = [] }
            return s.1
        }
        for w in waiters { w.resume(returning: v) }
    }
    func get() async -> T {
        await withCheckedContinuation { cont in
            let v: T? = value.withLock { s in
                if let v = s.0 { return v }
                s.1.append(cont)
                return nil
            }
            if let v { cont.resume(returning: v) }
        }
    }
}

@Suite("Our client talks to real servers and to ours")
struct ClientTests {
    @Test("GET from Python's http.server (HTTP/1.0, body to the declared length)")
    func pythonHTTPServer() async throws {
        try await withEventLoop { group in
            let dir = NSTemporaryDirectory() + "pyhttp-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) } // after the server below is stopped
            let payload = String(repeating: "raft ", count: 20_000)
            try payload.write(toFile: dir + "/file.txt", atomically: true, encoding: .utf8)
            let port = freePort()
            let python = try ChildProcess("python3", ["-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, "\(port)"])
            defer { python.stop() }
            #expect(await waitForPort(port), "python http.server did not start: \(python.log)")
            let client = HTTPClient(eventLoopGroup: group)
            let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/file.txt"))
            #expect(response.status == .ok)
            #expect(response.head.version == .http1_0)
            let body = try await response.body.collect(upTo: 1 << 20)
            #expect(String(decoding: body, as: UTF8.self) == payload)
            let missing = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/nope"))
            #expect(missing.status == .notFound)
            _ = try await missing.body.collect(upTo: 1 << 20)
        }
    }

    @Test("POST to our server over mutual TLS, and keep-alive reuses the connection")
    func mutualTLSAndReuse() async throws {
        try await withEventLoop { group in
            let certs = TestCertificates.shared
            let serverTLS = try TLSContext(configuration: certs.server(clientAuth: .require), role: .server)
            let (server, port) = try await startTestServer(on: group.next(), tls: serverTLS)
            let clientTLS = try TLSContext(configuration: certs.client(), role: .client)
            let client = HTTPClient(configuration: .init(tls: clientTLS), eventLoopGroup: group)
            for i in 0..<3 {
                let response = try await client.execute(HTTPClientRequest(method: .post, url: "https://127.0.0.1:\(port)/echo",
                                                                          body: .bytes(Array("message \(i)".utf8))))
                #expect(response.status == .ok)
                #expect(String(decoding: try await response.body.collect(upTo: 1024), as: UTF8.self) == "message \(i)")
            }
            #expect(server.statistics.acceptedConnections == 1)
            #expect(server.statistics.requestsServed == 3)
            client.closeIdleConnections()
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("unix:// and unixs:// URLs, as etcd's: the socket file host:port, Host host:port, the certificate checked against the host")
    func unixSocketURLs() async throws {
        try await withEventLoop { group in
            let certs = TestCertificates.shared
            let server = HTTPServer()
            server.route(.get, "/where") { request, response in
                response.respond(HTTPResponse(status: .ok), body: Array("\(request.request.authority ?? "-") \(request.path)".utf8))
            }
            // etcd's URLs name a file in the working directory: unix://localhost:<n> is "localhost:<n>".
            let plain = "localhost:\(freePort())", secure = "localhost:\(freePort())"
            try await server.start(unixSocket: plain, on: group.next())
            try await server.start(unixSocket: secure, tls: try TLSContext(configuration: certs.server(clientAuth: .require), role: .server),
                                   on: group.next())
            #expect(server.ports == [0, 0])
            let clientTLS = try TLSContext(configuration: certs.client(), role: .client)
            let client = HTTPClient(configuration: .init(tls: clientTLS), eventLoopGroup: group)
            for _ in 0..<2 {
                let response = try await client.execute(HTTPClientRequest(url: "unix://\(plain)/where"))
                #expect(String(decoding: try await response.body.collect(upTo: 1024), as: UTF8.self) == "\(plain) /where")
            }
            let tls = try await client.execute(HTTPClientRequest(url: "unixs://\(secure)/where"))
            #expect(String(decoding: try await tls.body.collect(upTo: 1024), as: UTF8.self) == "\(secure) /where")
            #expect(server.statistics.acceptedConnections == 2, "keep-alive reuses the unix connection")
            // The name checked is the URL's host: a certificate for localhost and 127.0.0.1 does not
            // pass for unixs://127.0.0.2:<n>, though the socket file is the same server's.
            let misnamed = "127.0.0.2:\(freePort())"
            try await server.start(unixSocket: misnamed, tls: try TLSContext(configuration: certs.server(), role: .server),
                                   on: group.next())
            do {
                _ = try await client.execute(HTTPClientRequest(url: "unixs://\(misnamed)/where"))
                Issue.record("a certificate without the URL's host passed")
            } catch let error as HTTPClientError {
                #expect(error.code == .connectFailed)
                #expect("\(error)".contains("certificate verify failed"), "\(error)")
            }
            let noTLS = HTTPClient(eventLoopGroup: group)
            do {
                _ = try await noTLS.execute(HTTPClientRequest(url: "unixs://\(secure)/where"))
                Issue.record("unixs without a TLS context was sent")
            } catch let error as HTTPClientError {
                #expect(error.code == .invalidURL)
                #expect("\(error)".contains("unixs needs a TLS context in the configuration"), "\(error)")
            }
            client.closeIdleConnections()
            await server.shutdown(deadline: .seconds(1))
            #expect(![plain, secure, misnamed].contains { FileManager.default.fileExists(atPath: $0) })
        }
    }

    @Test("IPv6 URL in brackets, and a chunked request body streamed from a producer")
    func ipv6AndStreamedBody() async throws {
        try await withEventLoop { group in
            let server = HTTPServer()
            server.route(.post, "/count") { request, response in
                var count = 0
                request.consume(onBody: { count += $0.count }, onEnd: { _ in
                    response.respond(HTTPResponse(status: .ok), body: Array("\(count)".utf8))
                })
            }
            let port = try await server.start(host: "::1", port: 0, on: group.next())
            let client = HTTPClient(eventLoopGroup: group)
            for length in [nil, 3_000_000] as [Int?] {
                let request = HTTPClientRequest(method: .post, url: "http://[::1]:\(port)/count",
                                                body: .stream(length: length) { writer in
                    let block = [UInt8](repeating: 7, count: 30_000)
                    for _ in 0..<100 {
                        writer.write(block)
                        try await writer.waitForQueue(below: 256 * 1024)
                    }
                })
                let response = try await client.execute(request)
                #expect(String(decoding: try await response.body.collect(upTo: 100), as: UTF8.self) == "3000000")
            }
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("a streaming response is read frame by frame while the server is still writing")
    func streamingFrameByFrame() async throws {
        try await withEventLoop { group in
            let writerBox = Box<HTTPResponseWriter>()
            let server = HTTPServer()
            server.route(.get, "/raft/stream/") { _, response in
                response.writeHead(HTTPResponse(status: .ok, headerFields: [.contentType: "application/octet-stream"]), body: .chunked)
                response.write(Array("frame 1".utf8))
                writerBox.set(response)
            }
            let port = try await server.start(host: "127.0.0.1", port: 0, on: group.next())
            let client = HTTPClient(eventLoopGroup: group)
            let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/raft/stream/msgapp/1"))
            #expect(response.status == .ok)
            var frames = response.body.makeAsyncIterator()
            #expect(try await frames.next() == Array("frame 1".utf8))
            // Only now, from this task's thread (not the loop), does the server write frame 2.
            let writer = await writerBox.get()
            #expect(writer.write(Array("frame 2".utf8)))
            #expect(try await frames.next() == Array("frame 2".utf8))
            writer.end()
            #expect(try await frames.next() == nil)
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("loop-thread API: handler calls on the loop, 404 read to its end")
    func loopThreadAPI() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop)
            let client = HTTPClient()
            let done = Box<String>()
            loop.execute {
                var status = 0
                var body: [UInt8] = []
                client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/missing"), on: loop,
                               onHead: { status = $0.status; precondition(loop.inEventLoop) },
                               onBody: { body += $0 },
                               onEnd: { result in
                                   done.set("\(status) \(String(decoding: body, as: UTF8.self))\((try? result.get()) == nil ? "failed" : "")")
                               })
            }
            #expect(await done.get() == "404 404 page not found\n")
            await server.shutdown(deadline: .seconds(1))
        }
    }

    // The server's FIN reaches the idle connection first, so the pool retires it and the second
    // request dials: no redial happens here (replayOnDeadPooledConnection covers the redial).
    @Test("a keep-alive connection the server closed while idle is not reused")
    func redialDeadConnection() async throws {
        try await withEventLoop { group in
            let config = HTTPServer.Configuration(idleTimeout: .milliseconds(100))
            let (server, port) = try await startTestServer(on: group.next(), configuration: config)
            let client = HTTPClient(eventLoopGroup: group)
            let url = "http://127.0.0.1:\(port)/hello"
            _ = try await client.execute(HTTPClientRequest(url: url)).body.collect(upTo: 10)
            // Wait (with a deadline) until the server's idle timeout closed that connection.
            let clock = ContinuousClock()
            let end = clock.now + .seconds(5)
            while server.statistics.openConnections > 0 && clock.now < end { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.statistics.openConnections == 0)
            let second = try await client.execute(HTTPClientRequest(url: url))
            #expect(try await second.body.collect(upTo: 10) == Array("hi".utf8))
            #expect(server.statistics.acceptedConnections == 2)
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("a GET on a pooled connection that dies before any response byte is replayed once on a fresh connection")
    func replayOnDeadPooledConnection() async throws {
        try await withEventLoop { group in
            let server = try await DeadKeepAliveServer()
            defer { server.stop() }
            let client = HTTPClient(eventLoopGroup: group)
            let url = "http://127.0.0.1:\(server.port)/version"
            let alive = Array(DeadKeepAliveServer.body.utf8)
            #expect(try await client.execute(HTTPClientRequest(url: url)).body.collect(upTo: 64) == alive)
            // The second GET takes the pooled connection; the server closes it under the request.
            let second = try await client.execute(HTTPClientRequest(url: url))
            #expect(try await second.body.collect(upTo: 64) == alive)
            #expect(server.killedConnections == 1)
            #expect(server.acceptedConnections == 2)
            // Only once: when the fresh connection dies too, the caller hears of it.
            server.answersFreshConnections = false
            await #expect { try await client.execute(HTTPClientRequest(url: url)) } throws: {
                let e = $0 as? HTTPClientError
                return e?.code == .closedBeforeResponse
                    && e?.description.hasPrefix("GET \(url): connection closed before the response") == true
            }
            #expect(server.killedConnections == 3)
            #expect(server.acceptedConnections == 3)
        }
    }

    @Test("a POST on a pooled connection that dies before any response byte is not sent again (the server may have processed it): the caller hears closedBeforeResponse, and the server saw it once")
    func noReplayOfPost() async throws {
        try await withEventLoop { group in
            let server = try await DeadKeepAliveServer()
            defer { server.stop() }
            let client = HTTPClient(eventLoopGroup: group)
            let url = "http://127.0.0.1:\(server.port)/raft"
            let post = HTTPClientRequest(method: .post, url: url, body: .bytes(Array("message".utf8)))
            let alive = Array(DeadKeepAliveServer.body.utf8)
            #expect(try await client.execute(post).body.collect(upTo: 64) == alive)
            // The second POST takes the pooled connection, which the server closes under it.
            await #expect { try await client.execute(post) } throws: {
                let e = $0 as? HTTPClientError
                return e?.code == .closedBeforeResponse
                    && e?.description.hasPrefix("POST \(url): connection closed before the response") == true
            }
            #expect(server.killedConnections == 1)
            #expect(server.acceptedConnections == 1, "no second connection: the POST was not replayed")
        }
    }

    @Test("errors a user sees: refused, invalid URL, https without TLS, invalid response, cancelled")
    func errors() async throws {
        try await withEventLoop { group in
            let client = HTTPClient(eventLoopGroup: group)
            let refusedPort = freePort()
            await #expect { try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(refusedPort)/")) } throws: {
                let e = $0 as? HTTPClientError
                return e?.code == .connectFailed && e?.ioError?.kind == .connectionRefused
                    && e?.description.hasPrefix("GET http://127.0.0.1:\(refusedPort)/: connect failed: ") == true
            }
            await #expect { try await client.execute(HTTPClientRequest(url: "ftp://x/")) } throws: {
                ($0 as? HTTPClientError)?.code == .invalidURL
            }
            // A dumb server that answers garbage, and one that never answers.
            let loop = group.next()
            let garbage = try await Listener.bind(host: "127.0.0.1", port: 0, on: loop) { c in
                _ = try? c.write(Array("HTTP/1.1 2000 OK\r\n\r\n".utf8))
            }
            await #expect { try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(garbage.port)/")) } throws: {
                let e = $0 as? HTTPClientError
                return e?.code == .invalidResponse && e?.parserError == .invalidStatusLine
            }
            await #expect { try await client.execute(HTTPClientRequest(url: "https://127.0.0.1:\(garbage.port)/")) } throws: {
                ($0 as? HTTPClientError)?.code == .invalidURL
            }
            let silent = try await Listener.bind(host: "127.0.0.1", port: 0, on: loop) { _ in }
            let request = Task { try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(silent.port)/")) }
            try await Task.sleep(for: .milliseconds(50)) // let it connect; cancellation works either way
            request.cancel()
            await #expect { try await request.value } throws: { ($0 as? HTTPClientError)?.code == .cancelled }
            garbage.close()
            silent.close()
        }
    }
}
