// The message stream codec: the body of a `GET /raft/stream/message/<id>` response, and the head of
// a `POST /raft/snapshot` body. Happy path: the acceptor writes one frame per raft message (and a
// link heartbeat every ~1.667 s); the dialer feeds whatever chunks arrive to a
// `MessageStreamDecoder`, which hands out each message as soon as its last byte is in. Failure
// modes: a length above the limit → `frameTooLarge` (etcd: "rafthttp: error limit exceeded"); bytes
// that are not a Message → `malformedMessage`; EOF inside a frame → `truncatedFrame` from `finish()`.
//
// One frame:
//
// | offset | bytes | meaning                                          |
// |--------|-------|--------------------------------------------------|
// | 0      | 8     | length N of the Message, unsigned big-endian     |
// | 8      | N     | `Message` in raftpb protobuf encoding            |
//
// N = 0 is a valid frame: it decodes to the all-zero Message, as etcd's decoder does.
import RaftPB

/// Writes message stream frames. Stateless: one encoder can serve any number of streams, from any
/// thread.
public struct MessageStreamEncoder: Sendable {
    /// Creates an encoder.
    public init() {}

    /// The exact number of bytes ``encode(_:into:)`` writes for `message`.
    public func frameSize(of message: Message) -> Int {
        8 + message.encodedSize
    }

    /// The bytes ``encode(_:into:)`` writes for `messages`, one frame each.
    public func frameSize(of messages: UnsafeBufferPointer<Message>) -> Int {
        guard let base = messages.baseAddress else { return 0 }
        var size = 0
        for i in messages.indices { size += 8 + Message.encodedSize(at: base + i) }
        return size
    }

    /// Writes one frame into `buffer`, which must hold ``frameSize(of:)`` bytes (a smaller buffer
    /// traps), and returns the bytes written. Use it to encode straight into a connection's
    /// coalescing buffer.
    @inline(__always)
    public func encode(_ message: Message, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let size = message.encodedSize
        precondition(buffer.count >= 8 + size, "buffer of \(buffer.count) bytes is smaller than the frame (\(8 + size))")
        buffer.storeBytes(of: UInt64(size).bigEndian, toByteOffset: 0, as: UInt64.self)
        return 8 + message.encode(into: UnsafeMutableRawBufferPointer(rebasing: buffer[8...]))
    }

    /// Writes one frame per message of `messages` into `buffer`, which must hold
    /// ``frameSize(of:)-(UnsafeBufferPointer<Message>)`` bytes (a smaller buffer traps); returns
    /// the bytes written. The messages are read where they lie: no copy of any of them.
    public func encode(_ messages: UnsafeBufferPointer<Message>, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = messages.baseAddress else { return 0 }
        var offset = 0
        for i in messages.indices {
            // The body first, then its length in front of it: the size is computed once.
            let size = Message.encode(at: base + i, into: UnsafeMutableRawBufferPointer(rebasing: buffer[(offset + 8)...]))
            buffer.storeBytes(of: UInt64(size).bigEndian, toByteOffset: offset, as: UInt64.self)
            offset += 8 + size
        }
        return offset
    }

    /// Appends one frame to `bytes`.
    public func append(_ message: Message, to bytes: inout [UInt8]) {
        let size = message.encodedSize
        bytes.reserveCapacity(bytes.count + 8 + size)
        appendBigEndian(UInt64(size), to: &bytes)
        message.append(to: &bytes)
    }

    /// One frame as a new array.
    public func encode(_ message: Message) -> [UInt8] {
        var bytes: [UInt8] = []
        append(message, to: &bytes)
        return bytes
    }
}

/// Reads message stream frames out of a byte stream delivered in chunks of any size.
///
/// Made for the event loop: bytes go in with ``append(_:)`` as they arrive (copied once, into
/// the decoder's input buffer), and ``decodeAppended(_:)`` hands out every message completed so
/// far, in order. The decoded messages' byte fields view that input buffer: one allocation per
/// decode call, shared by all the messages it completes. An unfinished frame stays for the next
/// call (moved to a fresh buffer when frames before it were decoded, so a buffer that messages
/// view is never written again). No allocation is sized from a declared length. Not thread-safe:
/// one owner (the loop thread that reads the stream).
public struct MessageStreamDecoder: StreamDecoder, Sendable {
    /// etcd's per-frame limit on the message stream (`readBytesLimit`): 512 MiB.
    public static let defaultLimit = 512 * 1024 * 1024

    private let limit: Int
    private var input = StreamInput()

    /// Creates a decoder that rejects frames longer than `limit` bytes.
    public init(limit: Int = MessageStreamDecoder.defaultLimit) {
        self.limit = limit
    }

    /// Whether the bytes fed so far end exactly on a frame boundary (an EOF here is clean).
    public var isAtFrameBoundary: Bool { input.isEmpty }

    /// Adds `bytes` (copied) to the input of the next ``decodeAppended(_:)``.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        input.append(bytes)
    }

    /// Decodes every frame the appended bytes complete, calling `onMessage` for each message in
    /// stream order. Throws ``StreamCodecError`` when the stream is broken.
    public mutating func decodeAppended(_ onMessage: (consuming Message) -> Void) throws(StreamCodecError) {
        let result: Result<Void, StreamCodecError> = withoutActuallyEscaping(onMessage) { body in
            var sink = ClosureSink(body: body)
            do throws(StreamCodecError) {
                try decodeAppended(to: &sink)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// See ``StreamDecoder/decodeAppended(into:)``.
    public mutating func decodeAppended(into batch: inout [Message]) throws(StreamCodecError) -> Int {
        try decodeAppended(into: &batch) { (decoder: inout Self, sink: inout BatchSink) throws(StreamCodecError) in
            try decoder.decodeAppended(to: &sink)
        }
    }

    @inline(__always)
    private mutating func decodeAppended<Sink: MessageSink>(to sink: inout Sink) throws(StreamCodecError) {
        try input.check()
        guard !input.isEmpty else { return }
        let consumed = input.consumed
        let buffer = input.bytes // the messages' byte fields view this storage
        let whole = buffer[...] // decoded from by range: a slice per message cost a retain
        var offset = 0
        var thrown: StreamCodecError?
        buffer.withUnsafeBytes { raw in
            while raw.count - offset >= 8 {
                let length = raw.bigEndianUInt64(at: offset)
                guard length <= UInt64(limit) else {
                    thrown = .frameTooLarge("message frame length", length, limit: limit, at: consumed + offset)
                    return
                }
                guard raw.count - offset - 8 >= Int(length) else { return }
                let body = (offset + 8) ..< (offset + 8 + Int(length))
                do throws(RaftPBError) {
                    let message = try Message(decoding: whole, in: body)
                    offset = body.upperBound
                    sink.take(message)
                } catch {
                    thrown = .malformed(error, "message frame", at: consumed + body.lowerBound)
                    return
                }
            }
        }
        try input.endPass(buffer, used: offset, thrown: thrown)
    }

    /// Call at end of stream: throws ``StreamCodecError/Code/truncatedFrame`` if it ended inside a
    /// frame (etcd's `io.ErrUnexpectedEOF`), or the error already thrown.
    public func finish() throws(StreamCodecError) {
        try input.check()
        guard isAtFrameBoundary else { throw .truncatedFrame("message stream", at: input.end) }
    }
}

// MARK: - Chunk scanning shared by the stream codecs

/// Collects an 8-byte big-endian integer that may arrive split across chunks.
struct BigEndianUInt64Reader: Sendable {
    private var value: UInt64 = 0
    private var count = 0

    var isEmpty: Bool { count == 0 }

    /// Takes bytes from `chunk` at `offset`; the value once all eight are in, else `nil` (with the
    /// chunk used up).
    @inline(__always)
    mutating func next(from chunk: UnsafeRawBufferPointer, at offset: inout Int) -> UInt64? {
        if count == 0, chunk.count - offset >= 8 {
            let raw = chunk.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            offset += 8
            return UInt64(bigEndian: raw)
        }
        while count < 8, offset < chunk.count {
            value = value << 8 | UInt64(chunk[offset])
            offset += 1
            count += 1
        }
        guard count == 8 else { return nil }
        defer {
            value = 0
            count = 0
        }
        return value
    }
}

extension Array where Element == UInt8 {
    /// Appends bytes from `chunk` at `offset` until the array holds `target` bytes; whether it does.
    /// Grows only by what arrived, so a hostile length costs no more memory than the bytes sent.
    @inline(__always)
    mutating func fill(to target: Int, from chunk: UnsafeRawBufferPointer, at offset: inout Int) -> Bool {
        let wanted = Swift.min(target - count, chunk.count - offset)
        if wanted > 0 {
            append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[offset ..< offset + wanted]))
            offset += wanted
        }
        return count == target
    }
}

/// Splits a stream into length-prefixed frame bodies (8-byte big-endian length, then the body).
struct FrameReader: Sendable {
    let limit: Int
    let what: String
    private var lengthField = BigEndianUInt64Reader()
    private var length: Int?
    private var body: [UInt8] = []

    init(limit: Int, what: String) {
        self.limit = limit
        self.what = what
    }

    var isAtBoundary: Bool { length == nil && lengthField.isEmpty }

    /// The next complete frame body, or `nil` once `chunk` is used up. `streamOffset` is where
    /// `chunk` starts in the stream, for error messages.
    mutating func next(from chunk: UnsafeRawBufferPointer, at offset: inout Int, streamOffset: Int)
        throws(StreamCodecError) -> [UInt8]?
    {
        let target: Int
        if let length {
            target = length
        } else {
            let start = offset
            guard let declared = lengthField.next(from: chunk, at: &offset) else { return nil }
            guard declared <= UInt64(limit) else {
                throw .frameTooLarge(what, declared, limit: limit, at: streamOffset + start)
            }
            target = Int(declared)
            length = target
        }
        guard body.fill(to: target, from: chunk, at: &offset) else { return nil }
        let frame = body
        body = []
        length = nil
        return frame
    }
}

/// Appends `value` as 8 big-endian bytes.
@inline(__always)
func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
}
