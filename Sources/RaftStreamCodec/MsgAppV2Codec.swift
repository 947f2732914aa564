// The msgapp v2 stream codec: the body of a `GET /raft/stream/msgapp/<id>` response, which carries
// only MsgApp (and link heartbeats) from the leader to one follower. Happy path: consecutive appends
// in one term go in the short `appEntries` form, which leaves out what the decoder can rebuild
// (from, to, term, logTerm, index); anything else goes in the full `msgApp` form, which resets both
// sides' state. Failure modes: an unknown frame type → `unknownFrameType` (etcd: "failed to parse
// type N in msgappv2 stream"); a length or entry count above the limit → `frameTooLarge` (etcd has
// no limit here and allocates whatever the wire says); a payload that is not protobuf →
// `malformedMessage`; EOF inside a frame → `truncatedFrame` from `finish()`.
//
// Both ends keep `term` and `index`, 0 at the start of the stream. All integers are unsigned
// big-endian.
//
// linkHeartbeat (a MsgHeartbeat from 0 to 0); state unchanged:
//
// | offset | bytes | meaning |
// |--------|-------|---------|
// | 0      | 1     | `0x00`  |
//
// appEntries, chosen when `index == m.index && term == m.logTerm && m.logTerm == m.term`
// (so a fresh encoder sends a first MsgApp with term = logTerm = index = 0 this way too);
// afterwards `index += count`:
//
// | offset     | bytes | meaning                                       |
// |------------|-------|-----------------------------------------------|
// | 0          | 1     | `0x01`                                        |
// | 1          | 8     | entry count C                                 |
// | 9          | 8     | length L1 of entry 1                          |
// | 17         | L1    | entry 1, raftpb `Entry` encoding              |
// | …          | 8 + Li| length and bytes of entries 2 … C             |
// | end − 8    | 8     | `m.commit`                                    |
//
// The decoder rebuilds: type MsgApp, from = remote, to = local, term = logTerm = its `term`,
// index = its `index`.
//
// msgApp, every other message; afterwards `term = m.term` and `index` = the last entry's index, or
// `m.index` with no entries:
//
// | offset | bytes | meaning                                   |
// |--------|-------|-------------------------------------------|
// | 0      | 1     | `0x02`                                    |
// | 1      | 8     | length N of the Message                   |
// | 9      | N     | `Message` in raftpb protobuf encoding     |
import RaftPB

/// The first byte of each msgapp v2 frame.
enum MsgAppV2FrameType {
    static let linkHeartbeat: UInt8 = 0
    static let appEntries: UInt8 = 1
    static let msgApp: UInt8 = 2
}

/// Writes a msgapp v2 stream. The encoder is stateful and belongs to exactly one stream: a new
/// connection needs a new encoder, as the decoder on the other end starts from zero too.
public struct MsgAppV2Encoder: Sendable {
    /// The term both ends agree on, as of the last full frame.
    public private(set) var term: UInt64 = 0
    /// The index of the last entry both ends know about.
    public private(set) var index: UInt64 = 0

    /// A fresh encoder (term 0, index 0), for a new stream.
    public init() {}

    private enum Form { case linkHeartbeat, appEntries, msgApp }

    @inline(__always)
    private func form(of message: Message) -> Form {
        if message.isLinkHeartbeat { return .linkHeartbeat }
        if index == message.index && term == message.logTerm && message.logTerm == message.term { return .appEntries }
        return .msgApp
    }

    /// The exact number of bytes ``encode(_:into:)`` will write for `message` in the current state.
    @inline(__always)
    public func frameSize(of message: Message) -> Int {
        switch form(of: message) {
        case .linkHeartbeat:
            return 1
        case .appEntries:
            var size = 1 + 8 + 8
            // Through the buffer: a `for entry in entries` loop copies (retains) every entry.
            message.entries.withUnsafeBufferPointer { list in
                for i in list.indices { size += 8 + list[i].encodedSize }
            }
            return size
        case .msgApp:
            return 1 + 8 + message.encodedSize
        }
    }

    /// The bytes ``encode(_:into:)`` will write for `messages`, encoded in turn from the current
    /// state (which this does not change): the size of a chunk to reserve before encoding.
    public func frameSize(of messages: UnsafeBufferPointer<Message>) -> Int {
        guard let base = messages.baseAddress else { return 0 }
        var probe = self
        var size = 0
        for i in messages.indices {
            let message = base + i
            if let entries = probe.appEntriesFrameSize(message) {
                size += entries
            } else {
                size += probe.frameSize(of: message.pointee)
                probe.advance(past: message.pointee)
            }
        }
        return size
    }

    // The batch paths read a message's fields where it lies (`pointee.field` loads that field
    // alone): a message passed whole was copied, three retains and releases each, however it was
    // passed. The common frame, appEntries, is sized and written so; the others go the general way.

    /// The size of `message`'s frame if it is an appEntries frame in this state (and the state
    /// after it); nil otherwise, state unchanged.
    @inline(__always)
    private mutating func appEntriesFrameSize(_ message: UnsafePointer<Message>) -> Int? {
        guard message.pointee.index == index, message.pointee.logTerm == term, message.pointee.term == term,
              !message.pointee.isLinkHeartbeat else { return nil }
        var size = 1 + 8 + 8
        let count = message.pointee.entries.withUnsafeBufferPointer { list in
            for i in list.indices { size += 8 + list[i].encodedSize }
            return list.count
        }
        index &+= UInt64(count)
        return size
    }

    /// Writes `message`'s frame if it is an appEntries frame in this state, updating the state;
    /// nil otherwise, nothing written. `buffer` must hold the frame.
    @inline(__always)
    private mutating func encodeAppEntries(_ message: UnsafePointer<Message>, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        guard message.pointee.index == index, message.pointee.logTerm == term, message.pointee.term == term,
              !message.pointee.isLinkHeartbeat else { return nil }
        // Sized by frameSize(of:) in the same state; checked anyway, as a short buffer would be
        // written past (each entry's own encode checks its part).
        precondition(buffer.count >= 17, "buffer of \(buffer.count) bytes is smaller than the frame")
        buffer[0] = MsgAppV2FrameType.appEntries
        var offset = 9
        let count = message.pointee.entries.withUnsafeBufferPointer { list in
            for i in list.indices {
                precondition(buffer.count - offset >= 16, "buffer of \(buffer.count) bytes is smaller than the frame")
                let written = list[i].encode(into: UnsafeMutableRawBufferPointer(rebasing: buffer[(offset + 8)...]))
                buffer.storeBytes(of: UInt64(written).bigEndian, toByteOffset: offset, as: UInt64.self)
                offset += 8 + written
            }
            return list.count
        }
        precondition(buffer.count - offset >= 8, "buffer of \(buffer.count) bytes is smaller than the frame")
        buffer.storeBytes(of: UInt64(count).bigEndian, toByteOffset: 1, as: UInt64.self)
        buffer.storeBytes(of: message.pointee.commit.bigEndian, toByteOffset: offset, as: UInt64.self)
        index &+= UInt64(count)
        return offset + 8
    }

    /// The state after `message`'s frame.
    @inline(__always)
    private mutating func advance(past message: Message) {
        switch form(of: message) {
        case .linkHeartbeat:
            break
        case .appEntries:
            index &+= UInt64(message.entries.count)
        case .msgApp:
            term = message.term
            index = message.entries.last?.index ?? message.index
        }
    }

    /// Writes `message`'s frame into `buffer`, which must hold ``frameSize(of:)`` bytes (computed
    /// in the same state; a smaller buffer traps), updates the state and returns the bytes written.
    @inline(__always)
    public mutating func encode(_ message: Message, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let size = frameSize(of: message)
        precondition(buffer.count >= size, "buffer of \(buffer.count) bytes is smaller than the frame (\(size))")
        switch form(of: message) {
        case .linkHeartbeat:
            buffer[0] = MsgAppV2FrameType.linkHeartbeat
            return 1
        case .appEntries:
            buffer[0] = MsgAppV2FrameType.appEntries
            buffer.storeBytes(of: UInt64(message.entries.count).bigEndian, toByteOffset: 1, as: UInt64.self)
            var offset = 9
            message.entries.withUnsafeBufferPointer { list in
                for i in list.indices {
                    let written = list[i].encode(into: UnsafeMutableRawBufferPointer(rebasing: buffer[(offset + 8)...]))
                    buffer.storeBytes(of: UInt64(written).bigEndian, toByteOffset: offset, as: UInt64.self)
                    offset += 8 + written
                }
            }
            buffer.storeBytes(of: message.commit.bigEndian, toByteOffset: offset, as: UInt64.self)
            advance(past: message)
            return offset + 8
        case .msgApp:
            buffer[0] = MsgAppV2FrameType.msgApp
            let written = message.encode(into: UnsafeMutableRawBufferPointer(rebasing: buffer[9...]))
            buffer.storeBytes(of: UInt64(written).bigEndian, toByteOffset: 1, as: UInt64.self)
            advance(past: message)
            return 9 + written
        }
    }

    /// Writes the frames of `messages`, in turn, into `buffer`, which must hold
    /// ``frameSize(of:)-(UnsafeBufferPointer<Message>)`` bytes (computed in the same state; a
    /// smaller buffer traps); updates the state and returns the bytes written. The messages are
    /// read where they lie: no copy of any of them.
    public mutating func encode(_ messages: UnsafeBufferPointer<Message>, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = messages.baseAddress else { return 0 }
        var offset = 0
        for i in messages.indices {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[offset...])
            if let written = encodeAppEntries(base + i, into: rest) {
                offset += written
            } else {
                offset += encode((base + i).pointee, into: rest)
            }
        }
        return offset
    }

    /// Appends `message`'s frame to `bytes` and updates the state.
    public mutating func append(_ message: Message, to bytes: inout [UInt8]) {
        let size = frameSize(of: message)
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: size))
        bytes.withUnsafeMutableBytes { buffer in
            _ = encode(message, into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
        }
    }

    /// `message`'s frame as a new array; updates the state.
    public mutating func encode(_ message: Message) -> [UInt8] {
        var bytes: [UInt8] = []
        append(message, to: &bytes)
        return bytes
    }
}

/// Reads a msgapp v2 stream delivered in chunks of any size, rebuilding the messages the short
/// form leaves out from the stream's member IDs and the decoder's own term and index.
///
/// Made for the event loop: bytes go in with ``append(_:)`` as they arrive (copied once, into
/// the decoder's input buffer), and ``decodeAppended(_:)`` hands out every message completed so
/// far, in order. The decoded entries' `data` view that input buffer: one allocation per decode
/// call, shared by all the messages it completes (a reader appends a whole socket read, then
/// decodes once). An unfinished frame stays for the next call; when frames were decoded before
/// it, its bytes move to a fresh buffer (so a buffer that messages view is never written again),
/// otherwise the buffer keeps growing in place, and the scan of a large frame resumes where it
/// stopped: every byte is copied at most twice, and scanned once.
///
/// Every length and the entry count are checked against `limit` as soon as they arrive, and
/// nothing is allocated from a declared size. Not thread-safe: one owner (the loop thread that
/// reads the stream). A new connection needs a new decoder.
public struct MsgAppV2Decoder: StreamDecoder, Sendable {
    /// The receiving member (the rebuilt messages' `to`).
    public let local: UInt64
    /// The sending member (the rebuilt messages' `from`).
    public let remote: UInt64
    /// The largest length, entry count, or total of entry bytes in one frame that is accepted.
    public let limit: Int
    /// The term as of the last full frame.
    public private(set) var term: UInt64 = 0
    /// The index of the last entry received.
    public private(set) var index: UInt64 = 0

    private var input = StreamInput()
    /// Stream offset of the bytes being decoded (the input's start during a pass).
    private var consumed = 0
    /// How far the scan of an unfinished appEntries frame at the start of `input` got.
    private var scan = EntryScan()

    /// Progress through an appEntries frame's entries, relative to the frame's start.
    private struct EntryScan: Sendable {
        var count: UInt64?
        /// Where each entry seen so far lies.
        var entries: [Range<Int>] = []
        /// Where the next entry's length field (or, after the last entry, the commit) starts.
        var next = 9
        /// Entry bytes so far, held to the limit as a total.
        var bytes = 0
    }

    /// Creates a decoder for the stream from `remote` to `local` (golden vectors: local 2,
    /// remote 1), rejecting any length or entry count above `limit`.
    public init(local: UInt64, remote: UInt64, limit: Int = MessageStreamDecoder.defaultLimit) {
        self.local = local
        self.remote = remote
        self.limit = limit
    }

    /// Whether the bytes fed so far end exactly on a frame boundary (an EOF here is clean).
    public var isAtFrameBoundary: Bool { input.isEmpty }

    /// Adds `bytes` (copied) to the input of the next ``decodeAppended(_:)``.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        input.append(bytes)
    }

    /// Decodes every frame the appended bytes complete, calling `onMessage` for each message in
    /// stream order. Link heartbeats are delivered too (``RaftPB/Message/isLinkHeartbeat``); the
    /// reader drops them. Throws ``StreamCodecError`` when the stream is broken.
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
        consumed = input.consumed
        let buffer = input.bytes // the messages' entries view this storage
        var offset = 0
        var thrown: StreamCodecError?
        buffer.withUnsafeBytes { raw in
            do throws(StreamCodecError) {
                while try nextMessage(raw, buffer, at: &offset, &sink) {}
            } catch {
                thrown = error
            }
        }
        try input.endPass(buffer, used: offset, thrown: thrown)
    }

    /// Call at end of stream: throws ``StreamCodecError/Code/truncatedFrame`` if it ended inside a
    /// frame, or the error already thrown.
    public func finish() throws(StreamCodecError) {
        try input.check()
        guard isAtFrameBoundary else { throw .truncatedFrame("msgappv2 stream", at: input.end) }
    }

    /// Hands `onMessage` the message of the frame at `offset` and moves `offset` past it; false
    /// when the frame is not complete yet (`offset` unchanged, the scan of an appEntries frame
    /// saved). Each message is built in the call that hands it over: a message returned through
    /// the throwing calls was copied on the way (three retains and releases).
    @inline(__always)
    private mutating func nextMessage<Sink: MessageSink>(_ raw: UnsafeRawBufferPointer, _ buffer: [UInt8], at offset: inout Int,
                                                         _ sink: inout Sink) throws(StreamCodecError) -> Bool
    {
        let start = offset
        guard start < raw.count else { return false }
        let available = raw.count - start
        switch raw[start] {
        case MsgAppV2FrameType.linkHeartbeat:
            offset += 1
            var heartbeat = Message()
            heartbeat.type = .msgHeartbeat
            sink.take(heartbeat)
            return true

        case MsgAppV2FrameType.appEntries:
            if scan.count == nil {
                guard available >= 9 else { return false }
                let count = raw.bigEndianUInt64(at: start + 1)
                guard count <= UInt64(limit) else {
                    throw .frameTooLarge("msgappv2 entry count", count, limit: limit, at: consumed + start + 1)
                }
                scan.count = count
                scan.entries.removeAll(keepingCapacity: true)
                scan.next = 9
                scan.bytes = 0
            }
            let count = scan.count ?? 0
            while UInt64(scan.entries.count) < count {
                guard available - scan.next >= 8 else { return false }
                let length = raw.bigEndianUInt64(at: start + scan.next)
                guard length <= UInt64(limit - scan.bytes) else {
                    throw .frameTooLarge("msgappv2 entry length", length, limit: limit, at: consumed + start + scan.next)
                }
                let end = scan.next + 8 + Int(length)
                guard available >= end else { return false }
                scan.entries.append((scan.next + 8) ..< end)
                scan.bytes += Int(length)
                scan.next = end
            }
            guard available - scan.next >= 8 else { return false }
            let commit = raw.bigEndianUInt64(at: start + scan.next)
            offset = start + scan.next + 8
            let entries = try appEntries(buffer, frameStart: start)
            scan.count = nil
            let first = index
            index &+= UInt64(entries.count)
            sink.take(Message(msgAppTo: local, from: remote, term: term, logTerm: term, index: first, commit: commit, entries: entries))
            return true

        case MsgAppV2FrameType.msgApp:
            guard available >= 9 else { return false }
            let length = raw.bigEndianUInt64(at: start + 1)
            guard length <= UInt64(limit) else {
                throw .frameTooLarge("msgappv2 frame length", length, limit: limit, at: consumed + start + 1)
            }
            guard available - 9 >= Int(length) else { return false }
            let message: Message
            do throws(RaftPBError) {
                message = try Message(decoding: buffer[(start + 9) ..< (start + 9 + Int(length))])
            } catch {
                throw .malformed(error, "msgappv2 message", at: consumed + start)
            }
            offset = start + 9 + Int(length)
            term = message.term
            index = message.entries.last?.index ?? message.index
            sink.take(message)
            return true

        case let type:
            throw .unknownFrameType(type, at: consumed + start)
        }
    }

    /// The entries of the scanned appEntries frame starting at `frameStart` in `buffer`.
    private func appEntries(_ buffer: [UInt8], frameStart: Int) throws(StreamCodecError) -> [Entry] {
        var entries: [Entry] = []
        entries.reserveCapacity(scan.entries.count) // entries that arrived, not a declared count
        for range in scan.entries {
            do throws(RaftPBError) {
                entries.append(try Entry(decoding: buffer[(frameStart + range.lowerBound) ..< (frameStart + range.upperBound)]))
            } catch {
                throw .malformed(error, "msgappv2 entry \(entries.count)", at: consumed + frameStart)
            }
        }
        return entries
    }
}

extension UnsafeRawBufferPointer {
    /// The unsigned big-endian 64-bit integer at `offset` (8 bytes must be there).
    @inline(__always)
    func bigEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
