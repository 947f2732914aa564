import Foundation
import HTTPTypes
import PeerHTTP
import RaftIO
import Testing
import TestSupport

/// `HTTPChunkWriter.append` grows the last chunk while it is still unsent, so that a stream's
/// receiver parses a chunk per socket write rather than one per send; every byte still arrives, in
/// order, in chunks any HTTP/1.1 reader (Go's included) takes.
@Suite("Chunked bodies: appends grow the unsent last chunk")
struct ChunkGrowthTests {
    /// The chunks of a raw chunked body (the bytes after the head), as (size line, data) pairs, up
    /// to the last chunk. Bytes, not Characters: "\r\n" is one Character.
    private func chunks(of body: [UInt8]) -> [(line: String, data: String)] {
        var at = 0
        var out: [(String, String)] = []
        while let cr = body[at...].firstIndex(of: UInt8(ascii: "\r")) {
            let line = String(decoding: body[at ..< cr], as: UTF8.self)
            guard let size = Int(line, radix: 16), size > 0, cr + 2 + size <= body.count else { break }
            out.append((line, String(decoding: body[(cr + 2) ..< (cr + 2 + size)], as: UTF8.self)))
            at = cr + 2 + size + 2
        }
        return out
    }

    @Test("appends while bytes are queued grow one chunk (fixed-width size); after the loop sent it, the next append starts another")
    func growsUntilSent() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let (server, port) = try await startTestServer(on: loop) { server in
                server.route(.get, "/stream") { _, response in
                    response.writeHead(HTTPResponse(status: .ok), body: .chunked)
                    guard var chunks = response.chunkWriter() else { return }
                    // An idle connection takes a write straight to the socket. 16 MiB is more than
                    // the socket takes while the client (on this loop) cannot read: the rest
                    // stays queued, and the loop cannot send it before this handler returns.
                    let big = 16 << 20
                    let filler = [UInt8](repeating: UInt8(ascii: "x"), count: big)
                    let first = chunks.append(size: big) { $0.copyBytes(from: filler) }
                    #expect(first == 10 + big + 2)
                    var grown: [Int?] = []
                    for word in ["one", "two", "three"] {
                        grown.append(chunks.append(size: word.utf8.count) { $0.copyBytes(from: Array(word.utf8)) })
                    }
                    // Part of the big chunk left the buffer: the next append opens a chunk, the
                    // others grow it.
                    #expect(grown == [10 + 3 + 2, 3, 5])
                    let writer = chunks
                    // Once all of it is written, an append opens a new chunk; then the response ends.
                    _ = chunks.onQueue(below: 1) { _ in
                        var next = writer
                        let four = next.append(size: 4) { $0.copyBytes(from: Array("four".utf8)) }
                        #expect(four == 10 + 4 + 2)
                        response.end()
                    }
                }
            }
            let peer = try await DumbPeer.connect(port: port, on: loop)
            try peer.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try await peer.read(until: "\r\n0\r\n\r\n")
            let bytes = Array(answer.utf8)
            let headEnd = try #require(answer.utf8.firstRange(of: Array("\r\n\r\n".utf8)))
            let parsed = chunks(of: Array(bytes[answer.utf8.distance(from: answer.utf8.startIndex, to: headEnd.upperBound)...]))
            #expect(parsed.map(\.line) == ["01000000", "0000000b", "00000004"])
            #expect(parsed.dropFirst().map(\.data).joined() == "onetwothreefour")
            #expect(parsed.first?.data == String(repeating: "x", count: 16 << 20))
            peer.close()
            await server.shutdown(deadline: .seconds(1))
        }
    }

    @Test("a chunked stream of many appends from another thread arrives whole, whatever the chunking, through the client")
    func manyAppendsArriveWhole() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let total = 20_000
            let (server, port) = try await startTestServer(on: loop) { server in
                server.route(.get, "/stream") { _, response in
                    response.writeHead(HTTPResponse(status: .ok), body: .chunked)
                    guard let first = response.chunkWriter() else { return }
                    Thread.detachNewThread {
                        var chunks = first
                        for i in 0 ..< total {
                            let text = Array("\(i),".utf8)
                            _ = chunks.append(size: text.count) { $0.copyBytes(from: text) }
                        }
                        response.end()
                    }
                }
            }
            let client = HTTPClient(eventLoopGroup: group)
            let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/stream"))
            let body = try await response.body.collect(upTo: 1 << 20)
            #expect(String(decoding: body, as: UTF8.self) == (0 ..< total).map { "\($0)," }.joined())
            await server.shutdown(deadline: .seconds(1))
        }
    }
}
