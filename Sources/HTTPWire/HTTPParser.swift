// Incremental HTTP/1.1 parser for requests and responses. Part of HTTPWire, the HTTP/1.1 wire format
// with no dependencies (the fuzzer and the benchmarks link it alone), so nothing here may import
// anything.
//
// Happy path (request mode): bytes arrive from a read callback in any split → `parse` consumes
// them and hands back one event at a time: `.request(head)` as soon as the empty line after the
// headers is seen, then `.body(slice)` for each run of body bytes, then `.end(trailers)`. The next
// pipelined request follows in the same buffer. The caller loops until `parse` returns no event.
//
// Failure modes: any malformed byte → `HTTPParserError` naming the check; the parser stays failed
// (every later call throws the same error) and the caller answers `error.status` and closes.
// A body over `maxBodySize` fails before any of its bytes is returned: at the head's
// Content-Length, at a chunk's size line, or at the first byte past the limit for a body read to
// EOF. EOF in the middle of a message → `finish()` throws `truncatedMessage`.
//
// Allocation: the head's strings and field array (one per message); a line split across reads is
// carried in one reused buffer. Body bytes are never copied: `.body` points into the caller's input.

/// An incremental, strict HTTP/1.1 parser for one connection's inbound bytes.
///
/// Drive it from the thread that reads the connection:
/// ```swift
/// var rest = input                       // UnsafeRawBufferPointer from the read callback
/// while true {
///     let (consumed, event) = try parser.parse(rest)
///     rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
///     guard let event else { break }     // everything consumed; wait for the next read
///     switch event { ... }               // may set parser.maxBodySize after a head
/// }
/// ```
/// `parse` never blocks, never calls out and copies no body byte. It is a value type with no
/// thread affinity: it may be created anywhere and moved to the loop thread that drives it.
public struct HTTPParser: Sendable {
    /// Whether the parser reads requests (a server) or responses (a client).
    public enum Mode: Hashable, Sendable {
        /// Reads requests, as a server does. Pipelined requests follow each other.
        case request
        /// Reads responses, as a client does. Set ``HTTPParser/requestMethod`` before each one.
        case response
    }

    /// Size limits that bound the memory one connection can make the parser hold.
    ///
    /// The defaults are Go net/http's and etcd's: a peer never comes near them, an attacker hits
    /// them before the parser holds more than ~64 KiB for a head.
    public struct Limits: Hashable, Sendable {
        /// Longest request or status line, without its CRLF. Default 8 KiB. Over it:
        /// ``HTTPParserError/startLineTooLong``.
        public var maxStartLineLength: Int
        /// Most bytes of header fields (each line with its CRLF), and separately of trailer
        /// fields. Default 64 KiB. Over it: ``HTTPParserError/headersTooLarge``.
        public var maxHeaderBytes: Int
        /// Most header fields, and separately trailer fields. Default 100. Over it:
        /// ``HTTPParserError/tooManyHeaders``.
        public var maxHeaderCount: Int
        /// Longest chunk size line (size and extensions), without its CRLF. Default 4 KiB. Over
        /// it: ``HTTPParserError/chunkLineTooLong``.
        public var maxChunkLineLength: Int
        /// The body limit each message starts with (``HTTPParser/maxBodySize``); default no limit.
        public var maxBodySize: Int

        /// Creates limits; each argument defaults to the value documented on its property.
        public init(
            maxStartLineLength: Int = 8 * 1024,
            maxHeaderBytes: Int = 64 * 1024,
            maxHeaderCount: Int = 100,
            maxChunkLineLength: Int = 4 * 1024,
            maxBodySize: Int = .max
        ) {
            self.maxStartLineLength = maxStartLineLength
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxChunkLineLength = maxChunkLineLength
            self.maxBodySize = maxBodySize
        }
    }

    /// What the parser found in the bytes it consumed.
    public enum Event {
        /// A complete request head (request mode). No body byte has been consumed yet:
        /// ``HTTPParser/framing`` tells what follows and ``HTTPParser/maxBodySize`` may be set now.
        case request(HTTPRequestHead)
        /// A complete response head (response mode); as for `request`. A 1xx other than 101 is
        /// followed by `end` and then the final response's head.
        case response(HTTPResponseHead)
        /// Body bytes: a slice of the input given to this `parse` call, valid as long as that
        /// input is. Chunk framing is already removed; never empty.
        case body(UnsafeRawBufferPointer)
        /// The message is complete; the trailer fields of a chunked body (usually none).
        case end(trailers: HTTPHeaders)
    }

    // MARK: configuration

    /// Whether this parser reads requests or responses.
    public let mode: Mode
    /// The limits this parser was created with.
    public let limits: Limits
    /// Response mode: the method of the request the next response answers. A response to `HEAD`
    /// has no body whatever its headers say. Set it before that response's head is parsed;
    /// defaults to `GET`.
    public var requestMethod: String = "GET"
    /// The most body bytes the current message may carry; exceeding it throws
    /// ``HTTPParserError/bodyTooLarge`` before the excess is returned. Reset to
    /// `limits.maxBodySize` at each head, so set it after a head event, before the next `parse`
    /// call: a larger Content-Length is then refused without consuming a body byte.
    public var maxBodySize: Int

    // MARK: current message, readable after its head

    /// How the current message's body is delimited; valid after its head event.
    public internal(set) var framing: HTTPBodyFraming = .none
    /// Whether the connection may carry another message after the current one: the head's
    /// keep-alive semantics, and never for a response read to EOF or a 101. Valid after its head
    /// event. After the `end` of a message that is not keep-alive the parser discards all input.
    public internal(set) var isKeepAlive: Bool = true
    /// Body bytes returned so far for the current message.
    public internal(set) var bodyBytesReceived: Int = 0

    // MARK: parse state

    enum State {
        case startLine
        case headerLine
        case sizedBody(remaining: Int)
        case chunkSizeLine
        case chunkData(remaining: Int)
        case chunkDataCR
        case chunkDataLF
        case trailerLine
        case untilClose
        /// The message is complete; the next call returns `.end` with these trailers.
        case messageEnd(HTTPHeaders)
        case closed
        case failed(HTTPParserError)
    }

    var state: State = .startLine
    /// A line split across `parse` calls, without its LF; reused so steady state allocates nothing.
    var lineBuffer: [UInt8] = []
    /// The head (or trailers) being assembled.
    var startLine: StartLine = .empty
    var fields: [HTTPHeaders.Field] = []
    /// The fields of the previous head. A keep-alive connection carries the same fields head after
    /// head (a peer's cluster ID, versions, content type): one that matches, byte for byte, the
    /// field at the same position last time is taken from here, a retain instead of a string
    /// allocation and copy for each name and value longer than 15 bytes.
    var previousFields: [HTTPHeaders.Field] = []
    var fieldBytes = 0
    var contentLength: Int?
    var transferEncoding: String?
    /// Response mode: the current response is 1xx (not 101), so another head follows.
    var isInterim = false

    enum StartLine {
        case empty
        case request(method: String, target: String, version: HTTPVersion)
        case response(version: HTTPVersion, status: Int, reason: String)
    }

    /// Creates a parser for one connection.
    public init(mode: Mode, limits: Limits = Limits()) {
        self.mode = mode
        self.limits = limits
        self.maxBodySize = limits.maxBodySize
    }

    /// Consumes a prefix of `input` and returns at most one event.
    ///
    /// When `event` is nil all of `input` was consumed (buffered or discarded) and the parser
    /// needs more; otherwise call again with the rest, even if the rest is empty (a head may be
    /// followed by `.end` with no further byte). Throws ``HTTPParserError`` on the first byte that
    /// breaks a rule; the parser then stays failed.
    public mutating func parse(
        _ input: UnsafeRawBufferPointer
    ) throws(HTTPParserError) -> (consumed: Int, event: Event?) {
        if case .failed(let error) = state { throw error }
        do {
            return try step(input)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// Parses all of `input`, handing each event to `onEvent` in order.
    ///
    /// A shorthand for the `parse` loop when nothing needs doing between a head and its body:
    /// `onEvent` cannot touch the parser, so ``maxBodySize`` keeps the value from ``Limits``.
    public mutating func feed(
        _ input: UnsafeRawBufferPointer, _ onEvent: (Event) -> Void
    ) throws(HTTPParserError) {
        var rest = input
        while true {
            let (consumed, event) = try parse(rest)
            rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
            guard let event else { return }
            onEvent(event)
        }
    }

    /// Tells the parser the peer closed its sending side (read EOF).
    ///
    /// Returns `.end` for a response read until EOF (and a pending end), nil at a message
    /// boundary. Throws ``HTTPParserError/truncatedMessage`` in the middle of a head or a body
    /// that has a length. The parser accepts no input afterwards.
    public mutating func finish() throws(HTTPParserError) -> Event? {
        switch state {
        case .failed(let error):
            throw error
        case .closed:
            return nil
        case .startLine where lineBuffer.isEmpty:
            state = .closed
            return nil
        case .untilClose:
            state = .closed
            return .end(trailers: HTTPHeaders())
        case .messageEnd(let trailers):
            state = .closed
            return .end(trailers: trailers)
        case .startLine, .headerLine:
            throw fail(.truncatedMessage.with("in the head"))
        case .sizedBody(let remaining):
            throw fail(.truncatedMessage.with("\(remaining) body bytes missing"))
        case .chunkSizeLine, .chunkData, .chunkDataCR, .chunkDataLF, .trailerLine:
            throw fail(.truncatedMessage.with("in a chunked body"))
        }
    }

    private mutating func fail(_ error: HTTPParserError) -> HTTPParserError {
        state = .failed(error)
        return error
    }

    // MARK: the state machine

    private mutating func step(
        _ input: UnsafeRawBufferPointer
    ) throws(HTTPParserError) -> (consumed: Int, event: Event?) {
        var offset = 0
        while true {
            switch state {
            case .startLine:
                let limit = limits.maxStartLineLength
                guard let line = try takeLine(input, &offset, limit: limit) else {
                    return (offset, nil)
                }
                try withLine(line, input) { (parser, bytes) throws(HTTPParserError) in try parser.parseStartLine(bytes) }

            case .headerLine, .trailerLine:
                // Each field line costs its length plus CRLF; the empty line ending the section is free.
                let limit = max(limits.maxHeaderBytes - fieldBytes - 2, 0)
                guard let line = try takeLine(input, &offset, limit: limit) else {
                    return (offset, nil)
                }
                let isEnd = try withLine(line, input) { (parser, bytes) throws(HTTPParserError) in try parser.parseFieldLine(bytes) }
                if isEnd, case .headerLine = state {
                    return (offset, try headComplete())
                }
                if isEnd {
                    state = .messageEnd(HTTPHeaders(fields: fields))
                    fields = []
                }

            case .sizedBody(let remaining):
                if case .contentLength(let length) = framing, length > maxBodySize {
                    throw HTTPParserError.bodyTooLarge.with("Content-Length \(length), limit \(maxBodySize)")
                }
                guard offset < input.count else { return (offset, nil) }
                let n = min(remaining, input.count - offset)
                bodyBytesReceived += n
                state = n == remaining ? .messageEnd(HTTPHeaders()) : .sizedBody(remaining: remaining - n)
                return (offset + n, .body(UnsafeRawBufferPointer(rebasing: input[offset..<offset + n])))

            case .chunkSizeLine:
                let limit = limits.maxChunkLineLength
                guard let line = try takeLine(input, &offset, limit: limit) else {
                    return (offset, nil)
                }
                try withLine(line, input) { (parser, bytes) throws(HTTPParserError) in try parser.parseChunkSizeLine(bytes) }

            case .chunkData(let remaining):
                guard offset < input.count else { return (offset, nil) }
                let n = min(remaining, input.count - offset)
                bodyBytesReceived += n
                state = n == remaining ? .chunkDataCR : .chunkData(remaining: remaining - n)
                return (offset + n, .body(UnsafeRawBufferPointer(rebasing: input[offset..<offset + n])))

            case .chunkDataCR:
                guard offset < input.count else { return (offset, nil) }
                let byte = input[offset]
                guard byte == ASCII.cr else {
                    throw byte == ASCII.lf ? HTTPParserError.bareLineFeed.with("after chunk data") : .invalidChunkTerminator
                }
                offset += 1
                state = .chunkDataLF

            case .chunkDataLF:
                guard offset < input.count else { return (offset, nil) }
                guard input[offset] == ASCII.lf else { throw HTTPParserError.invalidChunkTerminator }
                offset += 1
                state = .chunkSizeLine

            case .untilClose:
                guard offset < input.count else { return (offset, nil) }
                // Up to the limit, then fail: the same bytes come out whatever the read sizes.
                let allowed = maxBodySize - bodyBytesReceived
                guard allowed > 0 else { throw HTTPParserError.bodyTooLarge.with("limit \(maxBodySize)") }
                let n = min(input.count - offset, allowed)
                bodyBytesReceived += n
                return (offset + n, .body(UnsafeRawBufferPointer(rebasing: input[offset..<offset + n])))

            case .messageEnd(let trailers):
                if mode == .response && isInterim {
                    state = .startLine
                } else {
                    state = isKeepAlive ? .startLine : .closed
                }
                return (offset, .end(trailers: trailers))

            case .closed:
                return (input.count, nil)

            case .failed(let error):
                throw error
            }
        }
    }

    // MARK: lines

    enum Line {
        /// The line is `input[range]`, CR and LF excluded: the zero-copy path.
        case input(Range<Int>)
        /// The line is in `lineBuffer`, CR and LF already removed.
        case buffered
    }

    /// Finds the next CRLF-terminated line from `offset`, advancing `offset` past what it consumed.
    /// Returns nil (all input consumed into `lineBuffer`) when the LF has not arrived yet.
    private mutating func takeLine(
        _ input: UnsafeRawBufferPointer, _ offset: inout Int, limit: Int
    ) throws(HTTPParserError) -> Line? {
        let start = offset
        var lf = start
        let end = input.count
        while lf < end && input[lf] != ASCII.lf { lf += 1 }
        if lf == end {
            // +1: the CR of a line of exactly `limit` bytes may already be here.
            if lineBuffer.count + (end - start) > limit + 1 { throw tooLongError() }
            lineBuffer.append(contentsOf: input[start..<end])
            offset = end
            return nil
        }
        offset = lf + 1
        // The same length check as above first, so an over-long line is reported as such
        // whether its LF came in the same read or a later one.
        if lineBuffer.count + (lf - start) > limit + 1 { throw tooLongError() }
        if lineBuffer.isEmpty {
            guard lf > start && input[lf - 1] == ASCII.cr else { throw lineFeedError() }
            guard lf - 1 - start <= limit else { throw tooLongError() }
            return .input(start..<lf - 1)
        }
        lineBuffer.append(contentsOf: input[start..<lf])
        guard lineBuffer.last == ASCII.cr else { throw lineFeedError() }
        lineBuffer.removeLast()
        guard lineBuffer.count <= limit else { throw tooLongError() }
        return .buffered
    }

    /// Built only when thrown: formatting the detail on every line would cost more than parsing it.
    private func tooLongError() -> HTTPParserError {
        switch state {
        case .startLine: .startLineTooLong.with("limit \(limits.maxStartLineLength) bytes")
        case .headerLine, .trailerLine: .headersTooLarge.with("limit \(limits.maxHeaderBytes) bytes")
        default: .chunkLineTooLong.with("limit \(limits.maxChunkLineLength) bytes")
        }
    }

    private func lineFeedError() -> HTTPParserError {
        switch state {
        case .startLine: .bareLineFeed.with(mode == .request ? "in the request line" : "in the status line")
        case .headerLine: .bareLineFeed.with("in the header section")
        case .trailerLine: .bareLineFeed.with("in the trailer section")
        default: .bareLineFeed.with("in a chunk size line")
        }
    }

    /// Runs `body` on the line's bytes wherever they are, then empties the line buffer.
    private mutating func withLine<R>(
        _ line: Line, _ input: UnsafeRawBufferPointer,
        _ body: (inout HTTPParser, UnsafeRawBufferPointer) throws(HTTPParserError) -> R
    ) throws(HTTPParserError) -> R {
        switch line {
        case .input(let range):
            return try body(&self, UnsafeRawBufferPointer(rebasing: input[range]))
        case .buffered:
            // Moved out (not copied) so `body` may mutate `self` while reading the bytes.
            var buffer: [UInt8] = []
            swap(&buffer, &lineBuffer)
            defer {
                buffer.removeAll(keepingCapacity: true)
                swap(&buffer, &lineBuffer)
            }
            let result = buffer.withUnsafeBytes { bytes in
                Result { () throws(HTTPParserError) in try body(&self, bytes) }
            }
            switch result {
            case .success(let value): return value
            case .failure(let error): throw error
            }
        }
    }
}

extension HTTPHeaders {
    /// Fields as they are, for the parser and PeerHTTP's `HTTPFields` conversion.
    package init(fields: [Field]) { self.fields = fields }
}

/// A String from bytes, without going through `Sequence` iteration; invalid UTF-8 is repaired.
@inline(__always)
/// Whether `string`'s UTF-8 is exactly `bytes`.
func utf8Equals(_ string: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
    let utf8 = string.utf8
    guard utf8.count == bytes.count else { return false }
    return utf8.withContiguousStorageIfAvailable { stored in
        for i in 0 ..< bytes.count where stored[i] != bytes[i] { return false }
        return true
    } ?? utf8.elementsEqual(bytes)
}

func makeString(_ bytes: UnsafeRawBufferPointer) -> String {
    String(unsafeUninitializedCapacity: bytes.count) { buffer in
        UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
        return bytes.count
    }
}
