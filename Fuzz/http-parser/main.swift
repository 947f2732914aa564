// libFuzzer target for the HTTP/1.1 parser and serializer of the HTTPWire module. Input layout:
// | offset | bytes | meaning                                                              |
// |--------|-------|----------------------------------------------------------------------|
// | 0      | 1     | bit 0: request (0) or response (1) mode; bit 1: response to HEAD;    |
// |        |       | bit 2: call finish() at the end; bits 3-7: split seed                |
// | 1      | rest  | the bytes a peer sent                                                |
// Checks, beyond "no crash": the same input fed whole and fed in seeded pieces gives the same
// events and error; a body event is never empty and never outlives its input; every parsed head
// serializes and parses back to itself.
import HTTPWire

private enum Seen: Equatable {
    case request(HTTPRequestHead)
    case response(HTTPResponseHead)
    case body([UInt8])
    case end(HTTPHeaders)
}

private func run(_ bytes: UnsafeRawBufferPointer, mode: HTTPParser.Mode, head: Bool, eof: Bool, pieces: (Int) -> Int) -> ([Seen], HTTPParserError?) {
    var parser = HTTPParser(mode: mode, limits: HTTPParser.Limits(maxStartLineLength: 256, maxHeaderBytes: 1024, maxHeaderCount: 16, maxChunkLineLength: 64, maxBodySize: 4096))
    if head { parser.requestMethod = "HEAD" }
    var seen: [Seen] = []
    func record(_ event: HTTPParser.Event) {
        switch event {
        case .request(let h): seen.append(.request(h))
        case .response(let h): seen.append(.response(h))
        case .body(let b):
            precondition(!b.isEmpty, "empty body event")
            if case .body(let previous)? = seen.last { seen[seen.count - 1] = .body(previous + Array(b)) } else { seen.append(.body(Array(b))) }
        case .end(let t): seen.append(.end(t))
        }
    }
    var offset = 0
    var index = 0
    do throws(HTTPParserError) {
        while offset < bytes.count {
            let size = min(bytes.count - offset, pieces(index))
            index += 1
            var rest = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size])
            offset += size
            while true {
                let (consumed, event) = try parser.parse(rest)
                precondition(consumed >= 0 && consumed <= rest.count, "consumed out of range")
                rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
                guard let event else { precondition(rest.isEmpty, "no event but input left"); break }
                if case .body(let b) = event, let base = b.baseAddress, let start = bytes.baseAddress {
                    precondition(base >= start && base + b.count <= start + bytes.count, "body outside input")
                }
                record(event)
            }
        }
        if eof, let event = try parser.finish() { record(event) }
        return (seen, nil)
    } catch {
        return (seen, error)
    }
}

private func roundTrip(_ seen: [Seen], eof: Bool) {
    for event in seen {
        var wire: [UInt8] = []
        switch event {
        case .request(let h):
            HTTPSerializer.appendRequestHead(h, body: .none, to: &wire)
            var parser = HTTPParser(mode: .request)
            let again = wire.withUnsafeBytes { try? parser.parse($0) }
            guard case .request(let back)?? = again.map(\.event) else { preconditionFailure("request head did not parse back") }
            precondition(back == h, "request head changed in a round trip")
        case .response(let h):
            HTTPSerializer.appendResponseHead(h, body: .none, to: &wire)
            var parser = HTTPParser(mode: .response)
            let again = wire.withUnsafeBytes { try? parser.parse($0) }
            guard case .response(let back)?? = again.map(\.event) else { preconditionFailure("response head did not parse back") }
            // An empty reason is written as the standard phrase; everything else must survive.
            precondition(back.status == h.status && back.version == h.version && back.headers == h.headers, "response head changed in a round trip")
        default:
            break
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let control = data[0]
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let mode: HTTPParser.Mode = control & 1 == 0 ? .request : .response
    let head = control & 2 != 0
    let eof = control & 4 != 0
    let whole = run(bytes, mode: mode, head: head, eof: eof) { _ in Int.max }
    var seed = UInt64(control >> 3) &+ 1
    let split = run(bytes, mode: mode, head: head, eof: eof) { _ in
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return Int(seed >> 59) + 1
    }
    precondition(whole.0 == split.0, "events differ between whole and split input")
    precondition(whole.1 == split.1 && whole.1?.description == split.1?.description, "errors differ between whole and split input")
    roundTrip(whole.0, eof: eof)
    return 0
}
