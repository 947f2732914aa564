// HTTP/1.1 wire benchmarks (the HTTPWire module, under PeerHTTP's server and client): the parser on
// what a raft peer receives (a stream GET's head, a chunked stream body) and the serializer on what
// it sends back (a stream response head). Each parse runs on one kept-alive parser, as a connection
// does: the figures include the per-message allocations (the field array and every string longer
// than 15 bytes), not parser construction.
import Benchmark
import HTTPWire

/// The GET that opens an etcd msgapp v2 stream: request line, 6 fields, empty line (233 bytes).
let streamRequest = Array((
    "GET /raft/stream/msgappv2/8e9e05c52164694d HTTP/1.1\r\n"
        + "Host: 10.0.0.2:2380\r\n"
        + "User-Agent: Go-http-client/1.1\r\n"
        + "X-Server-From: 8e9e05c52164694d\r\n"
        + "X-Server-Version: 3.5.17\r\n"
        + "X-Raft-To: 91bc3c398fb3c146\r\n"
        + "X-Etcd-Cluster-Id: cdf818194e3a8c32\r\n"
        + "\r\n"
).utf8)

/// A response with a 64 KiB chunked body in 64 chunks of 1 KiB (a stream writer flushes about
/// once per message), behind the shortest head that declares it.
let chunkedResponse: [UInt8] = {
    var bytes = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
    let chunk = [UInt8](repeating: 0x5a, count: 1024)
    for _ in 0..<64 { HTTPSerializer.appendChunk(chunk, to: &bytes) }
    HTTPSerializer.appendLastChunk(to: &bytes)
    return bytes
}()

/// The head an etcd member answers a stream GET with.
let streamResponseHead = HTTPResponseHead(status: 200, headers: [
    "Content-Type": "application/octet-stream",
    "X-Server-Version": "3.5.17",
    "X-Etcd-Cluster-Id": "cdf818194e3a8c32",
])

/// Parses one whole message from `bytes`; returns the field count and body bytes seen.
@inline(__always)
func parseMessage(_ parser: inout HTTPParser, _ bytes: UnsafeRawBufferPointer) -> Int {
    var rest = bytes
    var seen = 0
    while true {
        guard let (consumed, event) = try? parser.parse(rest) else { fatalError("benchmark input must parse") }
        rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
        switch event {
        case nil: return seen
        case .request(let head)?: seen += head.headers.count
        case .response(let head)?: seen += head.headers.count
        case .body(let body)?: seen += body.count
        case .end?: return seen
        }
    }
}

// Computed: Benchmark.Configuration is not Sendable, so it cannot be a global constant.
var small: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .nanoseconds, scalingFactor: .kilo,
        maxDuration: .seconds(2))
}
var large: Benchmark.Configuration {
    .init(metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .nanoseconds, maxDuration: .seconds(2))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("parse request head 6 headers (\(streamRequest.count) B)", configuration: small) { benchmark in
        var parser = HTTPParser(mode: .request)
        streamRequest.withUnsafeBytes { raw in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(parseMessage(&parser, raw)) }
            benchmark.stopMeasurement()
        }
    }

    Benchmark("parse chunked body 64KiB (64 x 1KiB chunks, 2-line head)", configuration: large) { benchmark in
        var parser = HTTPParser(mode: .response)
        chunkedResponse.withUnsafeBytes { raw in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(parseMessage(&parser, raw)) }
            benchmark.stopMeasurement()
        }
    }

    Benchmark("baseline: copy 64KiB", configuration: large) { benchmark in
        let source = [UInt8](repeating: 0x5a, count: 64 * 1024)
        var target = [UInt8](repeating: 0, count: source.count)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            source.withUnsafeBytes { from in target.withUnsafeMutableBytes { $0.copyMemory(from: from) } }
            blackHole(target)
        }
        benchmark.stopMeasurement()
    }

    Benchmark("serialize response head (3 fields + chunked, reused buffer)", configuration: small) { benchmark in
        var buffer: [UInt8] = []
        buffer.reserveCapacity(512)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.removeAll(keepingCapacity: true)
            HTTPSerializer.appendResponseHead(streamResponseHead, body: .chunked, to: &buffer)
            blackHole(buffer)
        }
        benchmark.stopMeasurement()
    }
}
