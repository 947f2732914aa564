// The PeerHTTP server under wrk: one event loop, GET / → 200 with a 2-byte body, keep-alive.
//   http-server PORT
import HTTPTypes
import PeerHTTP
import RaftIO

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8080 : 8080
let group = try EventLoopGroup(loopCount: 1)
let server = HTTPServer(configuration: .init(maxConnections: 4096))
let ok = HTTPResponse(status: .ok, headerFields: [.contentType: "text/plain"])
let body: [UInt8] = Array("ok".utf8)
server.route(.get, "/") { _, response in
    response.respond(ok, body: body)
}
let bound = try await server.start(host: "127.0.0.1", port: port, on: group.next())
print("listening on 127.0.0.1:\(bound)")
while true { try await Task.sleep(for: .seconds(3600)) }
