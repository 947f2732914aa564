import HTTPTypes
import PeerHTTP
import RaftIO
import Testing
import TestSupport

/// Asserts the server still answers a fresh connection after a rejection.
func expectStillServing(port: Int, on loop: EventLoop) async throws {
    // A blocking exchange: connect and send with no task hop between them, so the servers with a
    // short header timeout here cannot time out a request that was only waiting to be scheduled.
    let answer = try await blockingExchange(port: port, request: "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix("\r\n\r\nhi"), "\(answer)")
}

@Suite("The server refuses bad requests with the status a client sees, and keeps serving")
struct ServerRejectionTests {
    @Test("malformed requests get 400 with Connection: close, then the connection closes",
          arguments: [
              "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
              "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
              "GET /hello HTTP/1.1\nHost: x\r\n\r\n",
              "GET /hello HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n",
              "GET /hello HTTP/1.1\r\nHost: x\r\nX: a\u{01}b\r\n\r\n",
              "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n",
              "POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
          ])
    func malformed(request: String) async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop)
            let peer = try await DumbPeer.connect(port: port, on: loop)
            try peer.send(request)
            let answer = try await peer.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
            #expect(answer.contains("Connection: close\r\n"))
            #expect(answer.contains("invalid HTTP message: "))
            #expect(server.statistics.rejected[400] == 1)
            try await expectStillServing(port: port, on: loop)
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("unknown path → 404, wrong method → 405 with Allow; the connection stays usable")
    func notFoundAndMethodNotAllowed() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop)
            let peer = try await DumbPeer.connect(port: port, on: loop)
            try peer.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nPUT /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let answer = try await peer.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 404 Not Found\r\n"), "\(answer)")
            #expect(answer.contains("\r\n\r\n404 page not found\nHTTP/1.1 405 Method Not Allowed\r\n"))
            #expect(answer.contains("Allow: GET\r\n"))
            #expect(answer.hasSuffix("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"), "\(answer)")
            #expect(server.statistics.rejected == [404: 1, 405: 1])
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("a Content-Length over the route's limit → 413 before any body byte is read, then close")
    func contentLengthTooLarge() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop)
            let peer = try await DumbPeer.connect(port: port, on: loop)
            // The head alone: the server must answer without waiting for the 2000 body bytes.
            try peer.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n")
            let answer = try await peer.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(answer)")
            #expect(answer.contains("Connection: close\r\n"))
            #expect(answer.contains("Content-Length 2000, limit 1024"))
            try await expectStillServing(port: port, on: loop)
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("a chunked body crossing the route's limit → 413 at that chunk, then close")
    func chunkedTooLarge() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop)
            let peer = try await DumbPeer.connect(port: port, on: loop)
            try peer.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + String(repeating: "a", count: 1024) + "\r\n10\r\n")
            let answer = try await peer.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(answer)")
            #expect(answer.contains("body larger than the limit"))
            try await expectStillServing(port: port, on: loop)
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("collect(limit:) below the route's limit: tooLarge once, the rest of the body read and dropped, the connection serves on")
    func collectLimitBelowRoute() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let calls = Locked(0)
            let (server, port) = try await startTestServer(on: loop) { server in
                server.route(.post, "/small") { request, response in
                    request.collect(limit: 10) { result in
                        calls.withLock { $0 += 1 }
                        switch result {
                        case .success(let body): response.respond(HTTPResponse(status: .ok), body: body)
                        case .failure(let error): response.respond(status: .contentTooLarge, text: "\(error)\n")
                        }
                    }
                }
            }
            let peer = try await DumbPeer.connect(port: port, on: loop)
            // 30 bytes against a limit of 10, then a request on the same connection that fits.
            try peer.send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n" + String(repeating: "a", count: 30)
                + "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            let answer = try await peer.read(until: "\r\n\r\nhello")
            #expect(answer.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(answer)")
            #expect(answer.contains("body larger than the limit"))
            #expect(answer.contains("HTTP/1.1 200 OK\r\n"), "\(answer)")
            #expect(calls.withLock { $0 } == 2)
            peer.close()
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("header limits: request line → 414, header bytes and count → 431")
    func headLimits() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let limits = HTTPParser.Limits(maxStartLineLength: 100, maxHeaderBytes: 200, maxHeaderCount: 5)
            let (server, port) = try await startTestServer(on: loop, configuration: .init(limits: limits))
            let cases: [(String, String)] = [
                ("GET /" + String(repeating: "a", count: 200) + " HTTP/1.1\r\n\r\n", "414 URI Too Long"),
                ("GET / HTTP/1.1\r\nX: " + String(repeating: "b", count: 300) + "\r\n\r\n", "431 Request Header Fields Too Large"),
                ("GET / HTTP/1.1\r\n" + String(repeating: "A: 1\r\n", count: 6) + "\r\n", "431 Request Header Fields Too Large"),
            ]
            for (request, status) in cases {
                let peer = try await DumbPeer.connect(port: port, on: loop)
                try peer.send(request)
                let answer = try await peer.readToEnd()
                #expect(answer.hasPrefix("HTTP/1.1 \(status)\r\n"), "\(answer)")
            }
            try await expectStillServing(port: port, on: loop)
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("slowloris (one header byte every 100 ms) is cut off at the header timeout with 408")
    func slowloris() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop, configuration: .init(headerReadTimeout: timeBound(.seconds(1))))
            let peer = try await DumbPeer.connect(port: port, on: loop)
            let head = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + String(repeating: "z", count: 100)
            let sent = Locked(0)
            let trickle = Task {
                for byte in head {
                    guard (try? peer.send(String(byte))) != nil else { return }
                    sent.withLock { $0 += 1 }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            let answer = try await withDeadline(.seconds(60), "the server cuts the trickle off") { try await peer.readToEnd() }
            let sentBeforeAnswer = sent.withLock { $0 }
            trickle.cancel()
            #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(answer)")
            // Ordering, not a stopwatch: the whole trickle takes at least 14 s, whatever the
            // machine; the answer came while it was still dripping, so the header timeout cut it.
            #expect(sentBeforeAnswer < head.count, "answered after all \(sentBeforeAnswer) bytes")
            #expect(server.statistics.rejected[408] == 1)
            try await expectStillServing(port: port, on: loop)
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("an idle keep-alive connection is closed at the idle timeout")
    func idleTimeout() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            // Every other timeout far beyond the hang guard: only the idle timeout can close it.
            let (server, port) = try await startTestServer(on: loop, configuration: .init(headerReadTimeout: .seconds(600), idleTimeout: .milliseconds(200),
                                                                                         requestReadTimeout: .seconds(600)))
            let peer = try await DumbPeer.connect(port: port, on: loop)
            let clock = ContinuousClock()
            let started = clock.now
            try peer.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try await withDeadline(.seconds(30), "the idle connection closed") { try await peer.readToEnd() }
            let elapsed = clock.now - started
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix("hi"))
            #expect(elapsed >= .milliseconds(150), "closed after \(elapsed), before the idle timeout")
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("a request body that stalls is cut off at the request read timeout with 408")
    func requestReadTimeout() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop, configuration: .init(requestReadTimeout: .milliseconds(200)))
            let peer = try await DumbPeer.connect(port: port, on: loop)
            try peer.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            let answer = try await peer.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(answer)")
            try await expectStillServing(port: port, on: loop)
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("beyond maxConnections a new connection gets 503 and is closed; the open ones keep working")
    func connectionCap() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop, configuration: .init(maxConnections: 2))
            let a = try await DumbPeer.connect(port: port, on: loop)
            let b = try await DumbPeer.connect(port: port, on: loop)
            // Make sure both are registered before the third arrives.
            for peer in [a, b] {
                try peer.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try await peer.read(until: "\r\n\r\nhi")
            }
            let c = try await DumbPeer.connect(port: port, on: loop)
            let refused = try await c.readToEnd()
            #expect(refused.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(refused)")
            #expect(server.statistics.rejected[503] == 1)
            try a.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try await a.readToEnd().hasSuffix("\r\n\r\nhi"))
            b.close()
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("pipelined requests are answered in order, and HTTP/1.0 closes after its answer")
    func pipeliningAndHTTP10() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop)
            let peer = try await DumbPeer.connect(port: port, on: loop)
            try peer.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none" +
                          "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n" +
                          "GET /hello HTTP/1.0\r\n\r\n")
            let answer = try await peer.readToEnd()
            let bodies = answer.components(separatedBy: "\r\n\r\n").dropFirst().map { $0.prefix(3) }
            #expect(bodies == ["one", "two", "hi"], "\(answer)")
            #expect(answer.hasSuffix("Connection: close\r\nContent-Length: 2\r\n\r\nhi"), "\(answer)")
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("shutdown with a streaming response in flight completes within its deadline and closes the stream")
    func shutdownWithStream() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let closed = Box<Bool>()
            let (server, port) = try await startTestServer(on: loop) { server in
                server.route(.get, "/stream") { _, response in
                    response.writeHead(HTTPResponse(status: .ok), body: .chunked)
                    response.write(Array("frame".utf8))
                    response.onClose { _ in closed.set(true) }
                    // Keeps writing from a loop timer for as long as the connection lives.
                    var timer: LoopTimer?
                    timer = loop.scheduleTimer(after: 10, repeating: 10) {
                        if !response.write(Array("tick".utf8)) { timer?.cancel() }
                    }
                }
            }
            let client = HTTPClient(eventLoopGroup: group)
            let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/stream"))
            var frames = response.body.makeAsyncIterator()
            #expect(try await frames.next() != nil)
            // Without the deadline the endless stream would keep the server open forever: that
            // shutdown returns at all (the hang guard is 100x the deadline) is the check, and it
            // waited for the deadline before cutting the stream off.
            let clock = ContinuousClock()
            let started = clock.now
            try await withDeadline(.seconds(30), "shutdown with an endless stream") {
                await server.shutdown(deadline: .milliseconds(300))
            }
            #expect(clock.now - started >= .milliseconds(300), "cut off before the deadline")
            #expect(await closed.get())
            #expect(server.statistics.openConnections == 0)
            await #expect(throws: HTTPClientError.self) { while try await frames.next() != nil {} }
        }
    }
}
