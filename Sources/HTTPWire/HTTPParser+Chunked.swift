// Transfer-Encoding: chunked (RFC 9112 §7.1). Part of HTTPWire.
//
// | part        | bytes                                   | meaning                              |
// |-------------|-----------------------------------------|--------------------------------------|
// | size line   | 1*HEXDIG [BWS ";" ext...] CRLF          | size of the data that follows        |
// | data        | size bytes, then CRLF                   | returned as `.body` slices           |
// | last chunk  | 1*"0" [ext] CRLF                        | no more data                         |
// | trailers    | *(field-line CRLF) CRLF                 | returned with `.end(trailers:)`      |
//
// Extensions are checked for control characters and otherwise ignored: nothing we talk to sends
// them and no extension changes framing. The body limit is checked at each size line, so an
// oversized chunk is refused before any of its data is returned.

extension HTTPParser {
    /// Parses a chunk size line (CRLF removed) and moves to its data, or to the trailers.
    mutating func parseChunkSizeLine(_ line: UnsafeRawBufferPointer) throws(HTTPParserError) {
        var size = 0
        var index = 0
        while index < line.count, let digit = ASCII.hexValue(line[index]) {
            // 15 hex digits keep the size below 2^60: no overflow, and no real chunk is bigger.
            guard index < 15 else { throw HTTPParserError.invalidChunkSize.with("too large: \(printable(line))") }
            size = size << 4 | digit
            index += 1
        }
        guard index > 0 else { throw HTTPParserError.invalidChunkSize.with(printable(line)) }
        var rest = index
        while rest < line.count && (line[rest] == ASCII.space || line[rest] == ASCII.tab) { rest += 1 }
        if rest < line.count {
            guard line[rest] == ASCII.semicolon else { throw HTTPParserError.invalidChunkSize.with(printable(line)) }
            for byte in line[rest...] where !ASCII.isFieldValue(byte) {
                throw HTTPParserError.invalidChunkSize.with("byte 0x\(hex(byte)) in extension")
            }
        } else if rest != index {
            // Whitespace is allowed only before an extension (BWS ";").
            throw HTTPParserError.invalidChunkSize.with(printable(line))
        }
        if size == 0 {
            state = .trailerLine
            fieldBytes = 0
            fields = []
            return
        }
        guard size <= maxBodySize - bodyBytesReceived else {
            throw HTTPParserError.bodyTooLarge.with("chunk of \(size) after \(bodyBytesReceived) bytes, limit \(maxBodySize)")
        }
        state = .chunkData(remaining: size)
    }
}
