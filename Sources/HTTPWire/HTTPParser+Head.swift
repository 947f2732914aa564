// The head of a message: start line, field lines, and the framing decision at the empty line.
// Part of HTTPWire, which imports nothing.
//
// Strictness, and why (RFC 9112 unless noted):
// - Request line is exactly `method SP target SP HTTP/1.d`: one space each, no bare LF (§3). A
//   lenient split here is how two parsers come to disagree on where a request ends.
// - Field names are tokens, no whitespace before the colon (§5.1: MUST reject with 400), no
//   obs-fold (§5.2: a server may reject; we do, in both modes, since Go's peers never fold).
// - Field values: no control character but HTAB (RFC 9110 §5.5); CR, LF and NUL are the dangerous ones.
// - Framing (§6.3): Content-Length and Transfer-Encoding together are refused (smuggling);
//   differing Content-Lengths are refused, identical repeats accepted as Go does; the only
//   Transfer-Encoding we take is one `chunked`, and none on HTTP/1.0.

extension HTTPParser {
    /// Parses a request or status line (CRLF removed).
    mutating func parseStartLine(_ line: UnsafeRawBufferPointer) throws(HTTPParserError) {
        switch mode {
        case .request:
            // RFC 9112 §2.2: a server SHOULD ignore empty lines before a request line.
            if line.isEmpty { return }
            startLine = try parseRequestLine(line)
        case .response:
            startLine = try parseStatusLine(line)
        }
        state = .headerLine
        fieldBytes = 0
        contentLength = nil
        transferEncoding = nil
        fields = []
        fields.reserveCapacity(16)
    }

    private func parseRequestLine(_ line: UnsafeRawBufferPointer) throws(HTTPParserError) -> StartLine {
        guard let firstSpace = line.firstIndex(of: ASCII.space) else {
            throw HTTPParserError.invalidRequestLine.with("no space")
        }
        let method = UnsafeRawBufferPointer(rebasing: line[..<firstSpace])
        guard !method.isEmpty else { throw HTTPParserError.invalidRequestLine.with("empty method") }
        for byte in method where !ASCII.isToken(byte) {
            throw HTTPParserError.invalidMethod.with("byte 0x\(hex(byte))")
        }
        let afterMethod = firstSpace + 1
        guard let secondSpace = line[afterMethod...].firstIndex(of: ASCII.space) else {
            throw HTTPParserError.invalidRequestLine.with("no version")
        }
        let target = UnsafeRawBufferPointer(rebasing: line[afterMethod..<secondSpace])
        guard !target.isEmpty else { throw HTTPParserError.invalidTarget.with("empty") }
        for byte in target where !ASCII.isTargetByte(byte) {
            throw HTTPParserError.invalidTarget.with("byte 0x\(hex(byte))")
        }
        let version = try parseVersion(UnsafeRawBufferPointer(rebasing: line[(secondSpace + 1)...]))
        return .request(method: makeString(method), target: makeString(target), version: version)
    }

    private func parseStatusLine(_ line: UnsafeRawBufferPointer) throws(HTTPParserError) -> StartLine {
        // `HTTP/1.1 200 OK`; Go also accepts `HTTP/1.1 200` without the space, and so do we.
        guard line.count >= 12, line[8] == ASCII.space, line.count == 12 || line[12] == ASCII.space else {
            if line.count >= 8, (try? parseVersion(UnsafeRawBufferPointer(rebasing: line[..<8]))) == nil {
                throw HTTPParserError.invalidVersion.with("\(printable(UnsafeRawBufferPointer(rebasing: line[..<8])))")
            }
            throw HTTPParserError.invalidStatusLine.with("\(printable(line))")
        }
        let version = try parseVersion(UnsafeRawBufferPointer(rebasing: line[..<8]))
        var status = 0
        for byte in line[9..<12] {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                throw HTTPParserError.invalidStatusCode.with("\(printable(UnsafeRawBufferPointer(rebasing: line[9..<12])))")
            }
            status = status * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard (100...599).contains(status) else { throw HTTPParserError.invalidStatusCode.with("\(status)") }
        let reason = line.count > 13 ? UnsafeRawBufferPointer(rebasing: line[13...]) : UnsafeRawBufferPointer(start: nil, count: 0)
        for byte in reason where !ASCII.isFieldValue(byte) {
            throw HTTPParserError.invalidStatusLine.with("byte 0x\(hex(byte)) in reason phrase")
        }
        return .response(version: version, status: status, reason: makeString(reason))
    }

    private func parseVersion(_ bytes: UnsafeRawBufferPointer) throws(HTTPParserError) -> HTTPVersion {
        // Exactly `HTTP/1.d`: case-sensitive (RFC 9112 §2.3), one digit each side.
        guard bytes.count == 8,
            bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"), bytes[2] == UInt8(ascii: "T"),
            bytes[3] == UInt8(ascii: "P"), bytes[4] == UInt8(ascii: "/"), bytes[5] == UInt8(ascii: "1"),
            bytes[6] == UInt8(ascii: "."), bytes[7] >= UInt8(ascii: "0"), bytes[7] <= UInt8(ascii: "9")
        else {
            throw HTTPParserError.invalidVersion.with(printable(bytes))
        }
        return HTTPVersion(major: 1, minor: bytes[7] - UInt8(ascii: "0"))
    }

    /// Parses one header or trailer line (CRLF removed); returns true for the empty line that ends
    /// the section.
    mutating func parseFieldLine(_ line: UnsafeRawBufferPointer) throws(HTTPParserError) -> Bool {
        guard let first = line.first else { return true }
        guard first != ASCII.space && first != ASCII.tab else {
            throw HTTPParserError.obsoleteLineFolding
        }
        fieldBytes += line.count + 2
        guard fields.count < limits.maxHeaderCount else {
            throw HTTPParserError.tooManyHeaders.with("limit \(limits.maxHeaderCount)")
        }
        guard let colon = line.firstIndex(of: ASCII.colon) else {
            throw HTTPParserError.invalidHeaderName.with("no colon in \(printable(line))")
        }
        let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
        guard let last = name.last else { throw HTTPParserError.invalidHeaderName.with("empty name") }
        if last == ASCII.space || last == ASCII.tab {
            throw HTTPParserError.whitespaceBeforeColon.with(printable(name))
        }
        for byte in name where !ASCII.isToken(byte) {
            throw HTTPParserError.invalidHeaderName.with("byte 0x\(hex(byte))")
        }
        let value = UnsafeRawBufferPointer(rebasing: trimmingOWS(line[(colon + 1)...]))
        for byte in value where !ASCII.isFieldValue(byte) {
            throw HTTPParserError.invalidHeaderValue.with("byte 0x\(hex(byte)) in \(printable(name))")
        }
        if case .headerLine = state {
            try noteFraming(name: name, value: value)
        }
        let position = fields.count
        if position < previousFields.count,
           utf8Equals(previousFields[position].name, name), utf8Equals(previousFields[position].value, value)
        {
            fields.append(previousFields[position])
        } else {
            fields.append(HTTPHeaders.Field(name: makeString(name), value: makeString(value)))
        }
        return false
    }

    /// Records Content-Length and Transfer-Encoding as they pass, so the head needs no second scan.
    private mutating func noteFraming(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(HTTPParserError) {
        if name.count == 14 && asciiCaseInsensitiveEquals(name, "content-length".utf8) {
            var length = 0
            for byte in value {
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                    throw HTTPParserError.invalidContentLength.with(printable(value))
                }
                let (times10, o1) = length.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                guard !o1 && !o2 else { throw HTTPParserError.invalidContentLength.with("\(printable(value)) overflows") }
                length = sum
            }
            guard !value.isEmpty else { throw HTTPParserError.invalidContentLength.with("empty") }
            if let previous = contentLength, previous != length {
                throw HTTPParserError.conflictingContentLength.with("\(previous) and \(length)")
            }
            contentLength = length
        } else if name.count == 17 && asciiCaseInsensitiveEquals(name, "transfer-encoding".utf8) {
            guard transferEncoding == nil, asciiCaseInsensitiveEquals(value, "chunked".utf8) else {
                let all = transferEncoding.map { "\($0), " } ?? ""
                throw HTTPParserError.unsupportedTransferEncoding.with(all + printable(value))
            }
            transferEncoding = makeString(value)
        }
    }

    /// At the empty line: decides the framing, publishes the head and moves to the body.
    mutating func headComplete() throws(HTTPParserError) -> Event {
        if transferEncoding != nil && contentLength != nil {
            throw HTTPParserError.contentLengthWithChunked
        }
        let headers = HTTPHeaders(fields: fields)
        previousFields = fields
        fields = []
        let event: Event
        let chunkedOr: (HTTPBodyFraming) -> HTTPBodyFraming = { [transferEncoding] in transferEncoding != nil ? .chunked : $0 }
        let lengthFraming: HTTPBodyFraming? = contentLength.map { $0 == 0 ? .none : .contentLength($0) }
        isInterim = false
        switch startLine {
        case .request(let method, let target, let version):
            if transferEncoding != nil && version.minor == 0 {
                throw HTTPParserError.unsupportedTransferEncoding.with("on an HTTP/1.0 message")
            }
            let head = HTTPRequestHead(method: method, target: target, version: version, headers: headers)
            framing = chunkedOr(lengthFraming ?? .none)
            isKeepAlive = head.isKeepAlive
            event = .request(head)
        case .response(let version, let status, let reason):
            if transferEncoding != nil && version.minor == 0 {
                throw HTTPParserError.unsupportedTransferEncoding.with("on an HTTP/1.0 message")
            }
            let head = HTTPResponseHead(status: status, reason: reason, version: version, headers: headers)
            if status < 200 || status == 204 || status == 304 || requestMethod == "HEAD" {
                framing = .none
            } else {
                framing = chunkedOr(lengthFraming ?? .untilClose)
            }
            isInterim = status < 200 && status != 101
            isKeepAlive = head.isKeepAlive && framing != .untilClose && status != 101
            event = .response(head)
        case .empty:
            throw HTTPParserError.invalidRequestLine
        }
        startLine = .empty
        maxBodySize = limits.maxBodySize
        bodyBytesReceived = 0
        switch framing {
        case .none: state = .messageEnd(HTTPHeaders())
        case .contentLength(let length): state = .sizedBody(remaining: length)
        case .chunked: state = .chunkSizeLine
        case .untilClose: state = .untilClose
        }
        return event
    }
}

func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF".utf8)
    return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
}

/// The bytes for an error message: at most 64, non-printable ones as `\xNN`, or "empty".
func printable(_ bytes: UnsafeRawBufferPointer) -> String {
    if bytes.isEmpty { return "empty" }
    var out = ""
    for byte in bytes.prefix(64) {
        if byte >= 0x20 && byte < 0x7F {
            out.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            out += "\\x" + hex(byte)
        }
    }
    return bytes.count > 64 ? out + "..." : out
}
