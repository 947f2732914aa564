// Parser: ns per request head of 6 headers (issue 4's speed record). Compiled straight from the
// stdlib-only parser core with -O, like the fuzz target: see run.sh.
// One iteration = a fresh message on a kept-alive parser: request line, 6 fields, empty line,
// parsed from one buffer into an HTTPRequestHead (its strings and field array allocated), then
// the `.end` event. This is what a server pays per pipelined GET.

let head = Array((
    "GET /raft/stream/msgappv2/8e9e05c52164694d HTTP/1.1\r\n"
        + "Host: 10.0.0.2:2380\r\n"
        + "User-Agent: Go-http-client/1.1\r\n"
        + "X-Server-From: 8e9e05c52164694d\r\n"
        + "X-Server-Version: 3.5.17\r\n"
        + "X-Raft-To: 91bc3c398fb3c146\r\n"
        + "X-Etcd-Cluster-Id: cdf818194e3a8c32\r\n"
        + "\r\n"
).utf8)

@inline(never)
func parseOnce(_ parser: inout HTTPParser, _ bytes: UnsafeRawBufferPointer) -> Int {
    var rest = bytes
    var fields = 0
    while true {
        guard let (consumed, event) = try? parser.parse(rest) else { fatalError("benchmark input must parse") }
        rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
        guard let event else { return fields }
        if case .request(let h) = event { fields += h.headers.count }
    }
}

let iterations = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1_000_000 : 1_000_000
var parser = HTTPParser(mode: .request)
var total = 0
head.withUnsafeBytes { bytes in
    for _ in 0..<10_000 { total &+= parseOnce(&parser, bytes) }  // warm-up
    var best = Double.infinity
    for _ in 0..<5 {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<iterations { total &+= parseOnce(&parser, bytes) }
        let elapsed = clock.now - start
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        best = min(best, ns / Double(iterations))
    }
    print("parse request head, 6 headers (\(head.count) bytes): \(Int(best + 0.5)) ns/head (best of 5 x \(iterations)) [\(total)]")
}
