// Drives HTTPParser over one input in every split a socket could produce and checks that all of
// them give the same events as the whole buffer: one piece, byte by byte, every two-piece split
// (for inputs up to 600 bytes) and 24 seeded random splits.
import HTTPWire
import Testing

/// An event with its bytes copied out, adjacent body events merged (their boundaries depend on
/// the read sizes; their bytes do not).
enum Recorded: Equatable, CustomStringConvertible {
    case request(HTTPRequestHead)
    case response(HTTPResponseHead)
    case body(String)
    case end(trailers: HTTPHeaders)
    case eof

    var description: String {
        switch self {
        case .request(let head): "request(\(head.method) \(head.target) \(head.version) \(head.headers.map { "\($0.name)=\($0.value)" }))"
        case .response(let head): "response(\(head.status) \(head.reason) \(head.version) \(head.headers.map { "\($0.name)=\($0.value)" }))"
        case .body(let text): "body(\(text.debugDescription))"
        case .end(let trailers): "end(\(trailers.map { "\($0.name)=\($0.value)" }))"
        case .eof: "eof"
        }
    }
}

/// Everything the parser produced for one input: its events and the error that stopped it.
struct Outcome: Equatable, CustomStringConvertible {
    var events: [Recorded] = []
    var error: HTTPParserError?
    /// The error's text, compared too: a split must not change what a user reads.
    var errorText: String?
    /// `framing` and `isKeepAlive` after each head, in order.
    var framings: [HTTPBodyFraming] = []
    var keepAlives: [Bool] = []

    var description: String { "\(events) error: \(errorText ?? "none")" }

    var requests: [HTTPRequestHead] { events.compactMap { if case .request(let h) = $0 { h } else { nil } } }
    var responses: [HTTPResponseHead] { events.compactMap { if case .response(let h) = $0 { h } else { nil } } }

    mutating func record(_ event: Recorded) {
        if case .body(let more) = event, case .body(let text)? = events.last {
            events[events.count - 1] = .body(text + more)
        } else {
            events.append(event)
        }
    }
}

/// How to drive one parse.
struct ParseSetup {
    var mode: HTTPParser.Mode = .request
    var limits = HTTPParser.Limits()
    /// Response mode: the method each response answers.
    var requestMethod = "GET"
    /// Set as `maxBodySize` after every head, as a server does per route.
    var maxBodySize: Int?
    /// Call `finish()` after the last byte (the peer closed).
    var eof = false
}

/// Parses `input` fed in `pieces` (sizes summing to the input's length).
func parse(_ input: [UInt8], pieces: [Int], _ setup: ParseSetup) -> Outcome {
    var parser = HTTPParser(mode: setup.mode, limits: setup.limits)
    parser.requestMethod = setup.requestMethod
    var outcome = Outcome()
    var start = 0
    do throws(HTTPParserError) {
        let fed = input.withUnsafeBytes { all in
            Result { () throws(HTTPParserError) in
                for size in pieces {
                    var rest = UnsafeRawBufferPointer(rebasing: all[start..<start + size])
                    start += size
                    while true {
                        let (consumed, event) = try parser.parse(rest)
                        rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
                        guard let event else { break }
                        handle(event, &parser, &outcome, setup)
                    }
                }
            }
        }
        try fed.get()
        if setup.eof {
            if let event = try parser.finish() { handle(event, &parser, &outcome, setup) }
            outcome.record(.eof)
        }
    } catch {
        outcome.error = error
        outcome.errorText = error.description
    }
    return outcome
}

private func handle(_ event: HTTPParser.Event, _ parser: inout HTTPParser, _ outcome: inout Outcome, _ setup: ParseSetup) {
    switch event {
    case .request(let head):
        outcome.record(.request(head))
    case .response(let head):
        outcome.record(.response(head))
    case .body(let bytes):
        #expect(!bytes.isEmpty, "body events are never empty")
        outcome.record(.body(String(decoding: bytes, as: UTF8.self)))
        return
    case .end(let trailers):
        outcome.record(.end(trailers: trailers))
        return
    }
    outcome.framings.append(parser.framing)
    outcome.keepAlives.append(parser.isKeepAlive)
    if let limit = setup.maxBodySize { parser.maxBodySize = limit }
}

/// Parses `input` in every split and expects each to match the whole-buffer outcome, which it
/// returns.
func parseAllSplits(_ input: String, _ setup: ParseSetup = ParseSetup(), sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
    parseAllSplits(Array(input.utf8), setup, sourceLocation: sourceLocation)
}

func parseAllSplits(_ bytes: [UInt8], _ setup: ParseSetup = ParseSetup(), sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
    let whole = parse(bytes, pieces: bytes.isEmpty ? [] : [bytes.count], setup)
    var splits: [[Int]] = [Array(repeating: 1, count: bytes.count)]
    if bytes.count <= 600 {
        for cut in stride(from: 1, to: bytes.count, by: 1) { splits.append([cut, bytes.count - cut]) }
    }
    var random = SplitMix64(seed: UInt64(bytes.count))
    for _ in 0..<24 {
        var pieces: [Int] = []
        var left = bytes.count
        while left > 0 {
            let size = min(left, Int(random.next() % 9) + 1)
            pieces.append(size)
            left -= size
        }
        splits.append(pieces)
    }
    for pieces in splits {
        let split = parse(bytes, pieces: pieces, setup)
        if split != whole {
            Issue.record("split \(pieces) gave \(split), whole buffer gave \(whole)", sourceLocation: sourceLocation)
            break
        }
    }
    return whole
}

/// A seeded generator so a failing split reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
