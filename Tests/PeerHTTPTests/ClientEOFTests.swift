import HTTPTypes
import PeerHTTP
import RaftIO
import Testing
import TestSupport

@Suite("A client's EOF (half-close) while a response is in flight")
struct ClientEOFTests {
    @Test("during a streamed response (a chunk writer was taken): the client went away, the connection closes and onClose runs at once")
    func streamedResponseEndsOnEOF() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let closed = Locked<Int>(0)
            let (server, port) = try await startTestServer(on: loop) { server in
                server.route(.get, "/stream") { _, response in
                    response.writeHead(HTTPResponse(status: .ok), body: .chunked)
                    guard let chunks = response.chunkWriter() else { return }
                    _ = chunks.write(size: 5) { $0.copyBytes(from: Array("hello".utf8)) }
                    response.onClose { _ in closed.withLock { $0 += 1 } }
                }
            }
            let peer = try await DumbPeer.connect(port: port, on: loop)
            try peer.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try await peer.read(until: "hello")
            #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n") && head.contains("hello"))
            peer.connection.shutdownOutput()
            _ = try await peer.readToEnd() // the server closes its side too
            try await eventually(.seconds(10), "onClose ran") { closed.withLock { $0 } == 1 }
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("during an ordinary response still being prepared: the answer goes out, then the connection closes (readToEnd returns)")
    func ordinaryResponseStillAnswered() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let pending = Locked<HTTPResponseWriter?>(nil)
            let (server, port) = try await startTestServer(on: loop) { server in
                server.route(.get, "/later") { _, response in pending.withLock { $0 = response } }
            }
            let peer = try await DumbPeer.connect(port: port, on: loop)
            try peer.send("GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
            try await eventually(.seconds(10), "request handed to the handler") { pending.withLock { $0 } != nil }
            // The EOF and the answer race to the server's loop: in either order the answer goes out
            // (the half-close only means the client sent everything), then the connection closes.
            peer.connection.shutdownOutput()
            pending.withLock { $0 }?.respond(HTTPResponse(status: .ok), body: Array("done".utf8))
            let answer = try await peer.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix("done"), "\(answer)")
            await server.shutdown(deadline: .seconds(1))
        }
    }
}
