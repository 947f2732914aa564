// Writes HTTP/1.1 heads and chunk framing into a byte buffer. Part of HTTPWire.
//
// | piece         | bytes                                        |
// |---------------|----------------------------------------------|
// | request line  | method SP target SP HTTP/1.d CRLF            |
// | status line   | HTTP/1.d SP 3DIGIT SP reason CRLF            |
// | field line    | name ": " value CRLF, then the framing field |
// | end of head   | CRLF                                         |
// | chunk         | hex-size CRLF data CRLF                      |
// | last chunk    | "0" CRLF *(field-line CRLF) CRLF             |
//
// Everything appends to the caller's `[UInt8]`, so a connection can reuse one write buffer; no
// String is built. Bytes that would let a value break out of its line (CR, LF, NUL and the other
// controls) are written as spaces, as swift-http-types does for lenient values: a caller's mistake
// must not become response splitting.

/// Appends HTTP/1.1 message heads and chunked framing to a byte buffer.
///
/// All functions only append to `buffer`; they never fail and may be called from any thread.
public enum HTTPSerializer {
    /// Appends a request line, the head's fields, the framing field and the empty line.
    public static func appendRequestHead(_ head: HTTPRequestHead, body: HTTPBodyFraming, to buffer: inout [UInt8]) {
        appendRequestLine(method: head.method, target: head.target, version: head.version, to: &buffer)
        for field in head.headers {
            appendField(name: field.name, value: field.value, skippingFramingFor: body, to: &buffer)
        }
        appendFraming(body, to: &buffer)
    }

    /// Appends a status line (the standard reason phrase when the head's is empty), the head's
    /// fields, the framing field and the empty line.
    public static func appendResponseHead(_ head: HTTPResponseHead, body: HTTPBodyFraming, to buffer: inout [UInt8]) {
        appendStatusLine(status: head.status, reason: head.reason, version: head.version, to: &buffer)
        for field in head.headers {
            appendField(name: field.name, value: field.value, skippingFramingFor: body, to: &buffer)
        }
        appendFraming(body, to: &buffer)
    }

    /// Appends one chunk: `<hex size>\r\n<data>\r\n`. Empty data appends nothing, since an empty
    /// chunk would end the body.
    public static func appendChunk(_ data: some Collection<UInt8>, to buffer: inout [UInt8]) {
        guard !data.isEmpty else { return }
        appendChunkHeader(size: data.count, to: &buffer)
        buffer.append(contentsOf: data)
        appendCRLF(to: &buffer)
    }

    /// Appends only the size line of a chunk, `<hex size>\r\n`, for a caller that writes the
    /// `size` data bytes itself (without copying them here) and then ``appendChunkEnd(to:)``.
    /// `size` must be positive.
    public static func appendChunkHeader(size: Int, to buffer: inout [UInt8]) {
        precondition(size > 0, "a chunk of size 0 is the last chunk")
        var shift = (Int.bitWidth - size.leadingZeroBitCount - 1) / 4 * 4
        while shift >= 0 {
            let digit = (size >> shift) & 0xF
            buffer.append(UInt8(truncatingIfNeeded: digit < 10 ? 0x30 + digit : 0x61 + digit - 10))
            shift -= 4
        }
        appendCRLF(to: &buffer)
    }

    /// Appends the CRLF that closes a chunk's data after ``appendChunkHeader(size:to:)``.
    public static func appendChunkEnd(to buffer: inout [UInt8]) {
        appendCRLF(to: &buffer)
    }

    /// Appends the last chunk, `0\r\n`, the trailer fields, and the final `\r\n`.
    public static func appendLastChunk(trailers: HTTPHeaders = HTTPHeaders(), to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "0"))
        appendCRLF(to: &buffer)
        for field in trailers {
            appendField(name: field.name, value: field.value, skippingFramingFor: .none, to: &buffer)
        }
        appendCRLF(to: &buffer)
    }

    /// The standard reason phrase for a status code (RFC 9110 §15), or "" for an unknown one.
    public static func reasonPhrase(for status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 426: "Upgrade Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }

    // MARK: shared with PeerHTTP (its HTTPTypes overloads, the response writer): `package`

    /// Appends `method SP target SP HTTP/1.d CRLF`, replacing bytes that would break the line.
    package static func appendRequestLine(method: String, target: String, version: HTTPVersion, to buffer: inout [UInt8]) {
        appendToken(method, to: &buffer)
        buffer.append(ASCII.space)
        // A target with a space or control byte would split the request line; escape nothing,
        // replace: the caller built an invalid target.
        appendSanitized(target, to: &buffer) { ASCII.isTargetByte($0) ? $0 : UInt8(ascii: "_") }
        buffer.append(ASCII.space)
        appendVersion(version, to: &buffer)
        appendCRLF(to: &buffer)
    }

    /// Appends `HTTP/1.d SP 3DIGIT SP reason CRLF`; an empty reason becomes the standard phrase.
    package static func appendStatusLine(status: Int, reason: String, version: HTTPVersion, to buffer: inout [UInt8]) {
        appendVersion(version, to: &buffer)
        buffer.append(ASCII.space)
        let code = min(max(status, 100), 999)
        buffer.append(UInt8(truncatingIfNeeded: 0x30 + code / 100))
        buffer.append(UInt8(truncatingIfNeeded: 0x30 + code / 10 % 10))
        buffer.append(UInt8(truncatingIfNeeded: 0x30 + code % 10))
        buffer.append(ASCII.space)
        appendSanitized(reason.isEmpty ? reasonPhrase(for: status) : reason, to: &buffer) {
            ASCII.isFieldValue($0) ? $0 : ASCII.space
        }
        appendCRLF(to: &buffer)
    }

    /// Appends `name: value\r\n`, unless the field is a framing field that `body` replaces.
    package static func appendField(name: String, value: String, skippingFramingFor body: HTTPBodyFraming, to buffer: inout [UInt8]) {
        if body != .none && isFramingField(name) { return }
        appendToken(name, to: &buffer)
        buffer.append(ASCII.colon)
        buffer.append(ASCII.space)
        appendSanitized(value, to: &buffer) { ASCII.isFieldValue($0) ? $0 : ASCII.space }
        appendCRLF(to: &buffer)
    }

    /// Appends the framing field for `body`, then the empty line that ends the head.
    package static func appendFraming(_ body: HTTPBodyFraming, to buffer: inout [UInt8]) {
        switch body {
        case .none, .untilClose:
            break
        case .contentLength(let length):
            buffer.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(max(length, 0), to: &buffer)
            appendCRLF(to: &buffer)
        case .chunked:
            buffer.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        }
        appendCRLF(to: &buffer)
    }

    static func isFramingField(_ name: String) -> Bool {
        asciiCaseInsensitiveEquals(name, "Content-Length") || asciiCaseInsensitiveEquals(name, "Transfer-Encoding")
    }

    @inline(__always)
    static func appendCRLF(to buffer: inout [UInt8]) {
        buffer.append(ASCII.cr)
        buffer.append(ASCII.lf)
    }

    static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            buffer.append(UInt8(truncatingIfNeeded: 0x30 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    private static func appendVersion(_ version: HTTPVersion, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: "HTTP/".utf8)
        buffer.append(0x30 &+ min(version.major, 9))
        buffer.append(UInt8(ascii: "."))
        buffer.append(0x30 &+ min(version.minor, 9))
    }

    /// Appends a method or field name; a non-token byte becomes `_` so it cannot end the line.
    private static func appendToken(_ token: String, to buffer: inout [UInt8]) {
        appendSanitized(token, to: &buffer) { ASCII.isToken($0) ? $0 : UInt8(ascii: "_") }
    }

    /// Appends the UTF-8 of `string` in one copy when every byte passes, else byte by byte mapped.
    private static func appendSanitized(_ string: String, to buffer: inout [UInt8], _ map: (UInt8) -> UInt8) {
        var string = string
        string.withUTF8 { bytes in
            if bytes.allSatisfy({ map($0) == $0 }) {
                buffer.append(contentsOf: bytes)
            } else {
                for byte in bytes { buffer.append(map(byte)) }
            }
        }
    }
}
