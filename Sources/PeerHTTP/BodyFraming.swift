// Writes one outbound message body (a server's response body or a client's request body) straight
// into a RaftIO connection's coalescing buffer, with the framing its head announced.
//
// | framing        | `write(bytes)` puts on the wire     | `end(trailers)` puts on the wire       |
// |----------------|-------------------------------------|----------------------------------------|
// | contentLength  | the bytes (never past the length)   | nothing; short of the length: broken   |
// | chunked        | hex-size CRLF, the bytes, CRLF      | `0` CRLF, trailer fields, CRLF         |
// | untilClose     | the bytes (HTTP/1.0 peer, no length)| nothing: the connection closes         |
// | none           | nothing (HEAD, 204, 304)            | nothing                                |
//
// A chunk is one gathered `Connection.write` (size line from the stack, the caller's bytes, CRLF)
// and no allocation: RaftIO copies it into its per-connection buffer and coalesces writes into one
// socket write per loop turn.
import HTTPWire
import RaftIO

/// The framing state of one outbound body. A value kept under its writer's lock.
struct BodyFramer {
    /// The body's framing; for `contentLength`, the bytes still to come.
    var mode: HTTPBodyFraming

    /// Writes `bytes` with this body's framing. Returns false (writing at most up to the length)
    /// when the bytes go past a declared length or the connection is closed.
    mutating func write(_ bytes: UnsafeRawBufferPointer, to connection: Connection) -> Bool {
        guard !bytes.isEmpty else { return true }
        do {
            switch mode {
            case .none:
                return true
            case .contentLength(let remaining):
                let n = min(remaining, bytes.count)
                if n > 0 { try connection.write(UnsafeRawBufferPointer(rebasing: bytes[..<n])) }
                mode = .contentLength(remaining - n)
                return n == bytes.count
            case .chunked:
                try writeChunk(bytes, to: connection)
                return true
            case .untilClose:
                try connection.write(bytes)
                return true
            }
        } catch {
            return false
        }
    }

    /// Writes `size` body bytes that `fill` encodes in place, straight into the connection's
    /// outbound buffer (for a chunked body, between the chunk's size line and its CRLF). `fill`
    /// must write all `size` bytes; it runs under the connection's write lock. Returns false as
    /// ``write(_:to:)`` does; `fill` then did not run, or ran for a length-delimited body whose
    /// remaining length it overran (nothing is written then).
    mutating func write(size: Int, to connection: Connection, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        guard size > 0 else { return true }
        do {
            switch mode {
            case .none:
                return true
            case .contentLength(let remaining):
                guard size <= remaining else { return false }
                try connection.write(reserving: size) { buffer in
                    fill(buffer)
                    return size
                }
                mode = .contentLength(remaining - size)
                return true
            case .untilClose:
                try connection.write(reserving: size) { buffer in
                    fill(buffer)
                    return size
                }
                return true
            case .chunked:
                try connection.write(reserving: chunkSizeLineLength(size) + size + 2) { buffer in
                    var i = writeChunkSizeLine(size, into: buffer)
                    fill(UnsafeMutableRawBufferPointer(rebasing: buffer[i ..< i + size]))
                    i += size
                    buffer[i] = ASCII.cr
                    buffer[i + 1] = ASCII.lf
                    return i + 2
                }
                return true
            }
        } catch {
            return false
        }
    }

    /// Ends the body. Returns whether the message is complete on the wire (so the connection may
    /// carry another message): false when bytes of a declared length are missing, or the body is
    /// delimited by closing the connection.
    mutating func end(trailers: HTTPHeaders, to connection: Connection) -> Bool {
        defer { mode = .none }
        switch mode {
        case .none:
            return true
        case .contentLength(let remaining):
            return remaining == 0
        case .untilClose:
            return false
        case .chunked:
            if trailers.isEmpty {
                return (try? writeStatic(lastChunk, to: connection)) != nil
            }
            var buffer: [UInt8] = []
            HTTPSerializer.appendLastChunk(trailers: trailers, to: &buffer)
            return (try? connection.write(buffer)) != nil
        }
    }

    /// One chunk (size line, data, CRLF) in one connection write.
    private func writeChunk(_ bytes: UnsafeRawBufferPointer, to connection: Connection) throws(RaftIOError) {
        // At most 16 hex digits and CRLF: a stack buffer, no allocation.
        let size = bytes.count
        let result = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 18) { buffer -> Result<Void, RaftIOError> in
            let length = writeChunkSizeLine(size, into: UnsafeMutableRawBufferPointer(buffer))
            let head = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[..<length])
            let tail = UnsafeRawBufferPointer(start: crlf.utf8Start, count: crlf.utf8CodeUnitCount)
            return Result { () throws(RaftIOError) in try connection.write(head, bytes, tail) }
        }
        try result.get()
    }
}

/// Bytes of a chunk's size line for `size` > 0: its hex digits and CRLF (at most 18).
func chunkSizeLineLength(_ size: Int) -> Int {
    (Int.bitWidth - size.leadingZeroBitCount + 3) / 4 + 2
}

/// Writes `value` as exactly `digits` lowercase hex digits (leading zeros) at the start of `buffer`.
func writeFixedHex(_ value: Int, digits: Int, into buffer: UnsafeMutableRawBufferPointer) {
    for i in 0 ..< digits {
        let digit = (value >> (4 * (digits - 1 - i))) & 0xF
        buffer[i] = UInt8(truncatingIfNeeded: digit < 10 ? 0x30 + digit : 0x61 + digit - 10)
    }
}

/// Writes the size line of a chunk of `size` > 0 bytes (hex, no leading zeros, CRLF) at the start
/// of `buffer`, which must hold ``chunkSizeLineLength(_:)`` bytes; returns that length.
private func writeChunkSizeLine(_ size: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
    var i = 0
    var shift = (Int.bitWidth - size.leadingZeroBitCount - 1) / 4 * 4
    while shift >= 0 {
        let digit = (size >> shift) & 0xF
        buffer[i] = UInt8(truncatingIfNeeded: digit < 10 ? 0x30 + digit : 0x61 + digit - 10)
        i += 1
        shift -= 4
    }
    buffer[i] = ASCII.cr
    buffer[i + 1] = ASCII.lf
    return i + 2
}

private let crlf: StaticString = "\r\n"
private let lastChunk: StaticString = "0\r\n\r\n"

private func writeStatic(_ string: StaticString, to connection: Connection) throws(RaftIOError) {
    try connection.write(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
}
