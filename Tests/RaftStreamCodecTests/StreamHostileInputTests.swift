import RaftPB
import RaftStreamCodec
import TestSupport
import Testing

private func frame(length: UInt64, _ body: [UInt8] = []) -> [UInt8] {
    withUnsafeBytes(of: length.bigEndian) { Array($0) } + body
}

/// Feeds all of `bytes` to `decoder`, then finishes; the error, or nil, and what was delivered.
private func decodeAll(_ decoder: some StreamDecoder, _ bytes: [UInt8]) -> (messages: [Message], error: StreamCodecError?) {
    var decoder = decoder
    var messages: [Message] = []
    do {
        try decoder.feed(bytes) { messages.append($0) }
        try decoder.finish()
        return (messages, nil)
    } catch {
        return (messages, error)
    }
}

private func decodeMessageStream(_ bytes: [UInt8], limit: Int = MessageStreamDecoder.defaultLimit)
    -> (messages: [Message], error: StreamCodecError?)
{
    decodeAll(MessageStreamDecoder(limit: limit), bytes)
}

private func decodeMsgAppV2(_ bytes: [UInt8], limit: Int = MessageStreamDecoder.defaultLimit)
    -> (messages: [Message], error: StreamCodecError?)
{
    decodeAll(MsgAppV2Decoder(local: 2, remote: 1, limit: limit), bytes)
}

private func decodeSnapshotHead(_ bytes: [UInt8], limit: Int = SnapshotHeadDecoder.defaultLimit) -> StreamCodecError? {
    var decoder = SnapshotHeadDecoder(limit: limit)
    do {
        _ = try decoder.feed(bytes)
        try decoder.finish()
        return nil
    } catch {
        return error
    }
}

@Suite("stream codecs on hostile input")
struct StreamHostileInputTests {
    @Test("message stream: a frame above the limit is rejected with etcd's meaning")
    func messageFrameTooLarge() {
        let result = decodeMessageStream(frame(length: 513 * 1024 * 1024))
        #expect(result.error?.code == .frameTooLarge)
        #expect(result.error?.description
            == "rafthttp: message frame length 537919488 at stream offset 0 exceeds the limit of 536870912 bytes")
        #expect(decodeMessageStream(frame(length: 101, [UInt8](repeating: 0, count: 101)), limit: 100).error?.code
            == .frameTooLarge)
    }

    @Test("message stream: a huge length within the limit costs only the bytes sent")
    func messageHugeLengthWithinLimit() {
        // 512 MiB declared, 3 bytes sent: the decoder must wait (not allocate), then report EOF.
        let result = decodeMessageStream(frame(length: 512 * 1024 * 1024, [1, 2, 3]))
        #expect(result.error?.code == .truncatedFrame)
    }

    @Test("message stream: a frame that is not a Message is rejected")
    func messageMalformed() {
        let good = MessageStreamEncoder().encode(Message(type: .msgHeartbeat, to: 2, from: 1))
        let result = decodeMessageStream(good + frame(length: 2, [0x10, 0x80]))
        #expect(result.messages.count == 1)
        #expect(result.error?.code == .malformedMessage)
        #expect(result.error?.underlying?.code == .truncatedVarint)
    }

    @Test("message stream: EOF inside a frame is an error, at a boundary it is clean")
    func messageTruncated() {
        let bytes = MessageStreamEncoder().encode(Message(type: .msgVote, to: 2, from: 1, term: 3))
        #expect(decodeMessageStream(bytes).error == nil)
        for cut in 1 ..< bytes.count {
            #expect(decodeMessageStream(Array(bytes.prefix(cut))).error?.code == .truncatedFrame)
        }
    }

    @Test("message stream: a zero-length frame is the all-zero Message, as in etcd")
    func messageZeroLength() {
        #expect(decodeMessageStream(frame(length: 0)).messages == [Message()])
    }

    @Test("message stream: after an error every call throws the same error")
    func messageErrorIsSticky() {
        var decoder = MessageStreamDecoder(limit: 10)
        #expect(throws: StreamCodecError.self) { try decoder.feed(frame(length: 11)) { _ in } }
        let good = MessageStreamEncoder().encode(Message())
        #expect(throws: StreamCodecError.self) { try decoder.feed(good) { _ in Issue.record("delivered") } }
        #expect(throws: StreamCodecError.self) { try decoder.finish() }
    }

    @Test("msgapp v2: an unknown frame type is rejected with etcd's text")
    func msgAppV2UnknownType() {
        let result = decodeMsgAppV2([0x00, 0x03])
        #expect(result.messages.count == 1)
        #expect(result.error?.code == .unknownFrameType)
        #expect(result.error?.description == "rafthttp: failed to parse type 3 in msgappv2 stream (stream offset 1)")
    }

    @Test("msgapp v2: every length and the entry count are held to the limit")
    func msgAppV2Limits() {
        // Entry count: etcd would make([]Entry, 2^62) here.
        #expect(decodeMsgAppV2([0x01] + frame(length: 1 << 62)).error?.code == .frameTooLarge)
        #expect(decodeMsgAppV2([0x01] + frame(length: 1) + frame(length: 1 << 40)).error?.code == .frameTooLarge)
        #expect(decodeMsgAppV2([0x02] + frame(length: 1 << 40)).error?.code == .frameTooLarge)
        // Entries of one frame together may not pass the limit either.
        let entry = Entry(term: 1, index: 1, data: [UInt8](repeating: 7, count: 40)[...]).encode()
        let twoEntries = [0x01] + frame(length: 2) + frame(length: UInt64(entry.count), entry)
            + frame(length: UInt64(entry.count), entry) + frame(length: 0)
        #expect(decodeMsgAppV2(twoEntries, limit: entry.count * 2).error == nil)
        #expect(decodeMsgAppV2(twoEntries, limit: entry.count * 2 - 1).error?.code == .frameTooLarge)
    }

    @Test("msgapp v2: a huge declared length within the limit costs only the bytes sent")
    func msgAppV2HugeLengthWithinLimit() {
        #expect(decodeMsgAppV2([0x02] + frame(length: 500 * 1024 * 1024, [1, 2])).error?.code == .truncatedFrame)
        #expect(decodeMsgAppV2([0x01] + frame(length: 100_000_000) + frame(length: 0)).error?.code == .truncatedFrame)
    }

    @Test("msgapp v2: malformed entries and messages are rejected")
    func msgAppV2Malformed() {
        let badEntry = [0x01] + frame(length: 1) + frame(length: 2, [0x22, 0x05]) + frame(length: 9)
        let result = decodeMsgAppV2(badEntry)
        #expect(result.error?.code == .malformedMessage)
        #expect(result.error?.underlying?.code == .lengthPastEnd)
        #expect(decodeMsgAppV2([0x02] + frame(length: 1, [0x7f])).error?.code == .malformedMessage)
    }

    @Test("msgapp v2: EOF inside any frame form is an error")
    func msgAppV2Truncated() throws {
        let bytes = try Golden.named("msgappv2_sequence").bytes()
        let ends = Set(try #require(try Golden.named("msgappv2_sequence").frames).map { $0.offset + $0.length })
        for cut in stride(from: 1, to: bytes.count, by: 7) where !ends.contains(cut) {
            #expect(decodeMsgAppV2(Array(bytes.prefix(cut))).error?.code == .truncatedFrame)
        }
    }

    @Test("snapshot head: a head that is not MsgSnap is rejected")
    func snapshotWrongType() {
        let body = SnapshotBody.encode(message: Message(type: .msgApp, to: 2, from: 1), database: [1, 2, 3])
        let error = decodeSnapshotHead(body)
        #expect(error?.code == .wrongMessageType)
        #expect(error?.description == "rafthttp: wrong raft message type MsgApp in a snapshot body")
    }

    @Test("snapshot head: too long, malformed or cut short, it is rejected")
    func snapshotHeadFailures() {
        #expect(decodeSnapshotHead(frame(length: 1 << 40)).error?.code == .frameTooLarge)
        #expect(decodeSnapshotHead(frame(length: 100), limit: 99)?.code == .frameTooLarge)
        #expect(decodeSnapshotHead(frame(length: 1, [0x7f]))?.code == .malformedMessage)
        #expect(decodeSnapshotHead(frame(length: 30, [0x08]))?.code == .truncatedFrame)
        #expect(decodeSnapshotHead([])?.code == .truncatedFrame)
    }
}

extension StreamCodecError? {
    fileprivate var error: StreamCodecError? { self }
}
