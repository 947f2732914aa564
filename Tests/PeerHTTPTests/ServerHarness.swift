import HTTPTypes
import PeerHTTP
import RaftIO
import TestSupport

/// A server on 127.0.0.1 with the routes the server tests use:
/// - `GET /hello` → 200 `hi`
/// - `POST /echo` → 200 with the request body (limit 1 KiB)
/// - `POST /count` → 200 with the body length in decimal, streamed through (default limit)
func startTestServer(on loop: EventLoop, configuration: HTTPServer.Configuration = HTTPServer.Configuration(),
                     tls: TLSContext? = nil,
                     extra: (HTTPServer) -> Void = { _ in }) async throws -> (HTTPServer, Int) {
    let server = HTTPServer(configuration: configuration)
    server.route(.get, "/hello") { _, response in
        response.respond(HTTPResponse(status: .ok), body: Array("hi".utf8))
    }
    server.route(.post, "/echo", bodyLimit: 1024) { request, response in
        request.collect { result in
            switch result {
            case .success(let body): response.respond(HTTPResponse(status: .ok), body: body)
            case .failure(let error): response.respond(status: .badRequest, text: "\(error)\n")
            }
        }
    }
    server.route(.post, "/count") { request, response in
        var count = 0
        request.consume(onBody: { count += $0.count }, onEnd: { _ in
            response.respond(HTTPResponse(status: .ok), body: Array("\(count)".utf8))
        })
    }
    extra(server)
    let port = try await server.start(host: "127.0.0.1", port: 0, tls: tls, on: loop)
    return (server, port)
}

/// A raw TCP client that sends hand-made bytes and reads whatever comes back.
struct DumbPeer {
    let connection: Connection

    static func connect(port: Int, on loop: EventLoop) async throws -> DumbPeer {
        DumbPeer(connection: try await Connection.connect(host: "127.0.0.1", port: port, on: loop))
    }

    func send(_ text: String) throws { try connection.write(Array(text.utf8)) }

    /// Reads until the server closes the connection; returns everything read, as text.
    func readToEnd() async throws -> String {
        var out: [UInt8] = []
        while let chunk = try await connection.read() { out += chunk }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads until the text read contains `marker` (or the connection ends).
    func read(until marker: String) async throws -> String {
        var out: [UInt8] = []
        while !String(decoding: out, as: UTF8.self).contains(marker), let chunk = try await connection.read() { out += chunk }
        return String(decoding: out, as: UTF8.self)
    }

    func close() { connection.close() }
}
