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
        var probe = self
        var size = 0
        for i in messages.indices {
            size += probe.frameSize(of: messages[i])
            probe.advance(past: messages[i])
        }
        return size
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
/// Made for the event loop: ``feed(_:_:)`` never blocks and runs the callback for each complete
/// message in order. Entry bytes are copied once, into one array per frame that the decoded
/// entries' `data` then view. Every length and the entry count are checked against `limit`, and
/// nothing is allocated from a declared size before the bytes arrive. Not thread-safe: one owner
/// (the loop thread that reads the stream). A new connection needs a new decoder.
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

    private enum State: Sendable {
        case frameType
        case entryCount
        case entryLength
        case entryBody(end: Int)
        case commit
        case messageLength
        case messageBody(length: Int)
    }

    private var state = State.frameType
    private var number = BigEndianUInt64Reader()
    private var remainingEntries: UInt64 = 0
    /// The current appEntries frame's entries, back to back; handed to the decoded entries.
    private var entryBytes: [UInt8] = []
    /// Where each entry ends in `entryBytes`; kept across frames to reuse its storage.
    private var entryEnds: [Int] = []
    private var body: [UInt8] = []
    private var consumed = 0
    private var failure: StreamCodecError?

    /// Creates a decoder for the stream from `remote` to `local` (golden vectors: local 2,
    /// remote 1), rejecting any length or entry count above `limit`.
    public init(local: UInt64, remote: UInt64, limit: Int = MessageStreamDecoder.defaultLimit) {
        self.local = local
        self.remote = remote
        self.limit = limit
    }

    /// Whether the bytes fed so far end exactly on a frame boundary (an EOF here is clean).
    public var isAtFrameBoundary: Bool {
        if case .frameType = state { return true }
        return false
    }

    /// Consumes `chunk` and calls `onMessage` for every message it completes, in stream order.
    /// Link heartbeats are delivered too (``RaftPB/Message/isLinkHeartbeat``); the reader drops them.
    /// `chunk` need only stay valid for the call. Throws ``StreamCodecError`` when the stream is
    /// broken; messages completed before the error have already been delivered.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ onMessage: (consuming Message) -> Void) throws(StreamCodecError) {
        if let failure { throw failure }
        var offset = 0
        defer { consumed += offset }
        do throws(StreamCodecError) {
            // The state machine hands completed messages back rather than calling `onMessage`
            // itself: passing the closure into every step retained and released its context
            // (the stream reader) five times per message.
            var completed: Message?
            while try step(chunk, &offset, &completed) {
                if let message = completed.take() { onMessage(message) }
            }
        } catch {
            failure = error
            throw error
        }
    }

    /// Call at end of stream: throws ``StreamCodecError/Code/truncatedFrame`` if it ended inside a
    /// frame, or the error already thrown.
    public func finish() throws(StreamCodecError) {
        if let failure { throw failure }
        guard isAtFrameBoundary else { throw .truncatedFrame("msgappv2 stream", at: consumed) }
    }

    /// Advances the state machine by one state, leaving a message it completed in `completed`;
    /// `false` when the chunk is used up.
    private mutating func step(_ chunk: UnsafeRawBufferPointer, _ offset: inout Int, _ completed: inout Message?)
        throws(StreamCodecError) -> Bool
    {
        let start = consumed + offset
        switch state {
        case .frameType:
            guard offset < chunk.count else { return false }
            let type = chunk[offset]
            offset += 1
            switch type {
            case MsgAppV2FrameType.linkHeartbeat:
                var heartbeat = Message()
                heartbeat.type = .msgHeartbeat
                completed = heartbeat
            case MsgAppV2FrameType.appEntries:
                state = .entryCount
            case MsgAppV2FrameType.msgApp:
                state = .messageLength
            default:
                throw .unknownFrameType(type, at: start)
            }

        case .entryCount:
            guard let count = number.next(from: chunk, at: &offset) else { return false }
            guard count <= UInt64(limit) else { throw .frameTooLarge("msgappv2 entry count", count, limit: limit, at: start) }
            remainingEntries = count
            entryEnds.removeAll(keepingCapacity: true)
            state = count == 0 ? .commit : .entryLength

        case .entryLength:
            guard let length = number.next(from: chunk, at: &offset) else { return false }
            guard length <= UInt64(limit - entryBytes.count) else {
                throw .frameTooLarge("msgappv2 entry length", length, limit: limit, at: start)
            }
            // The frame's first entry sizes the buffer from the bytes at hand, never from the
            // declared length alone: a lying length allocates no more than what arrived.
            if entryBytes.isEmpty { entryBytes.reserveCapacity(Swift.min(Int(length), chunk.count - offset)) }
            state = .entryBody(end: entryBytes.count + Int(length))

        case .entryBody(let end):
            guard entryBytes.fill(to: end, from: chunk, at: &offset) else { return false }
            entryEnds.append(end)
            remainingEntries -= 1
            state = remainingEntries == 0 ? .commit : .entryLength

        case .commit:
            guard let commit = number.next(from: chunk, at: &offset) else { return false }
            let message = try appEntriesMessage(commit: commit, at: start)
            state = .frameType
            completed = message

        case .messageLength:
            guard let length = number.next(from: chunk, at: &offset) else { return false }
            guard length <= UInt64(limit) else { throw .frameTooLarge("msgappv2 frame length", length, limit: limit, at: start) }
            state = .messageBody(length: Int(length))

        case .messageBody(let length):
            guard body.fill(to: length, from: chunk, at: &offset) else { return false }
            let frame = body
            body = []
            let message: Message
            do throws(RaftPBError) {
                message = try Message(decoding: frame)
            } catch {
                throw .malformed(error, "msgappv2 message", at: start)
            }
            term = message.term
            index = message.entries.last?.index ?? message.index
            state = .frameType
            completed = message
        }
        return true
    }

    private mutating func appEntriesMessage(commit: UInt64, at offset: Int) throws(StreamCodecError) -> Message {
        let storage = entryBytes
        entryBytes = []
        var entries: [Entry] = []
        entries.reserveCapacity(entryEnds.count)  // entries that arrived, not a declared count
        var from = 0
        for end in entryEnds {
            do throws(RaftPBError) {
                entries.append(try Entry(decoding: storage[from ..< end]))
            } catch {
                throw .malformed(error, "msgappv2 entry \(entries.count)", at: offset)
            }
            from = end
        }
        // Field by field from the zero value: the memberwise initializer would build (and drop) an
        // empty Snapshot for its default argument, five retains and releases per message.
        var message = Message()
        message.type = .msgApp
        message.to = local
        message.from = remote
        message.term = term
        message.logTerm = term
        message.index = index
        message.commit = commit
        index &+= UInt64(entries.count)
        message.entries = consume entries
        return message
    }
}
