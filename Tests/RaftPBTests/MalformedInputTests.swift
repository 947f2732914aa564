import RaftPB
import Testing

/// Decodes and returns the error code, or nil if the decode succeeded.
private func failure<T: ProtobufMessage>(_ type: T.Type, _ bytes: [UInt8]) -> RaftPBError? {
    do {
        _ = try T(decoding: bytes)
        return nil
    } catch {
        return error
    }
}

@Suite("raftpb decoding of malformed and unusual input")
struct MalformedInputTests {
    @Test("a truncated varint is rejected")
    func truncatedVarint() {
        let error = failure(Entry.self, [0x08, 0x00, 0x10, 0x80, 0x80])
        #expect(error?.code == .truncatedVarint)
        #expect(error?.description == "raftpb: input ends inside a varint at offset 3 in Entry.term")
    }

    @Test("a varint longer than ten bytes is rejected")
    func varintOverflow() {
        let error = failure(Message.self, [0x10] + [UInt8](repeating: 0xFF, count: 11) + [0x01])
        #expect(error?.code == .varintOverflow)
        #expect(error?.field == "Message.to")
    }

    @Test("a ten-byte varint reads as the Go decoders read it")
    func tenByteVarint() throws {
        let entry = try Entry(decoding: [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        #expect(entry.term == .max)
    }

    @Test("varints of every length decode alike with ten bytes after them and without")
    func varintEveryLength() throws {
        // The decoder reads a varint word-wise when ten bytes are left and byte-wise otherwise:
        // in HardState(term: v, vote: v, commit: v) the first is read one way, the last the other.
        for bits in 0 ... 64 {
            for value in [UInt64.max >> (64 - bits), bits == 0 ? 0 : 1 << (bits - 1), 0x8e9e_05c5_2164_694d >> (64 - bits)] {
                let state = HardState(term: value, vote: value, commit: value)
                #expect(try HardState(decoding: state.encode()) == state, "value \(value)")
            }
        }
        // A tenth byte's bits past the 64th are dropped on both paths.
        let padded: [UInt8] = [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x7F] + [0x10, 0x00]
        #expect(try HardState(decoding: padded).term == .max)
        #expect(try HardState(decoding: padded.dropLast(2)).term == .max)
    }

    @Test("a length that runs past the end is rejected")
    func lengthPastEnd() {
        let error = failure(Entry.self, [0x22, 0x05, 0x01, 0x02])
        #expect(error?.code == .lengthPastEnd)
        #expect(error?.description
            == "raftpb: length 5 runs past the end of the message (2 bytes left) at offset 1 in Entry.data")
    }

    @Test("a huge declared length is rejected without allocating it")
    func hugeLength() {
        // 2^62 bytes of entry data declared, three sent: any allocation from the length would fail.
        let huge: [UInt8] = [0x22, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1, 2, 3]
        #expect(failure(Entry.self, huge)?.code == .lengthPastEnd)
        let nested: [UInt8] = [0x3a, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x08, 0x00]
        #expect(failure(Message.self, nested)?.code == .lengthPastEnd)
    }

    @Test("a nested length cannot reach past its parent")
    func nestedLengthPastParent() {
        // Message.entries of 2 bytes, whose Entry.data claims 3 more than the entry holds.
        let error = failure(Message.self, [0x3a, 0x02, 0x22, 0x03, 0x61, 0x62, 0x63])
        #expect(error?.code == .lengthPastEnd)
        #expect(error?.field == "Entry.data")
    }

    @Test("a known field with the wrong wire type is rejected")
    func wrongWireType() {
        let error = failure(Message.self, [0x12, 0x00])
        #expect(error?.code == .wrongWireType)
        #expect(error?.description == "raftpb: wire type 2 where a varint belongs at offset 1 in Message.to")
        #expect(failure(Message.self, [0x48, 0x00])?.code == .wrongWireType)  // snapshot as a varint
    }

    @Test("a nested message deeper than the schema is rejected")
    func nestingDeeperThanSchema() {
        // Message.snapshot → Snapshot.metadata → SnapshotMetadata.confState → ConfState.autoLeave
        // sent as a nested message instead of a bool.
        let confState: [UInt8] = [0x2a, 0x02, 0x08, 0x01]
        let metadata: [UInt8] = [0x0a, UInt8(confState.count)] + confState
        let snapshot: [UInt8] = [0x12, UInt8(metadata.count)] + metadata
        let message: [UInt8] = [0x4a, UInt8(snapshot.count)] + snapshot
        let error = failure(Message.self, message)
        #expect(error?.code == .wrongWireType)
        #expect(error?.field == "ConfState.autoLeave")
    }

    @Test("unknown groups nested too deep are rejected, within the bound they are skipped")
    func groupNesting() throws {
        let depth = RaftPBError.maximumGroupDepth
        let tooDeep = [UInt8](repeating: 0x7b, count: depth + 1) + [UInt8](repeating: 0x7c, count: depth + 1)
        #expect(failure(Entry.self, tooDeep)?.code == .nestingTooDeep)
        let deepest = [UInt8](repeating: 0x7b, count: depth) + [UInt8](repeating: 0x7c, count: depth)
        #expect(try Entry(decoding: deepest + [0x10, 0x07]).term == 7)
    }

    @Test("undefined wire types, field number 0 and a stray end-group are rejected")
    func invalidTags() {
        #expect(failure(Message.self, [0x7e])?.code == .invalidWireType)
        #expect(failure(Message.self, [0x7f])?.code == .invalidWireType)
        #expect(failure(Message.self, [0x00, 0x00])?.code == .invalidFieldNumber)
        #expect(failure(Message.self, [0x7c])?.code == .unexpectedEndGroup)
        #expect(failure(Message.self, [0x79, 0x01, 0x02])?.code == .truncatedFixed)
        #expect(failure(Message.self, [0x7d, 0x01])?.code == .truncatedFixed)
    }

    @Test("absent fields decode as zero, as etcd main's encoder leaves them out")
    func absentFields() throws {
        #expect(try Message(decoding: []) == Message())
        #expect(try Message(decoding: [0x08, 0x03, 0x20, 0x05]) == Message(type: .msgApp, term: 5))
        #expect(try Entry(decoding: []) == Entry())
    }

    @Test("unknown fields of every wire type are skipped")
    func unknownFields() throws {
        let unknown: [UInt8] = [
            0xF8, 0x01, 0x96, 0x01,  // field 31 varint
            0xF9, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,  // field 31 fixed64
            0xFA, 0x01, 0x02, 0xAA, 0xBB,  // field 31 bytes
            0xFD, 0x01, 1, 2, 3, 4,  // field 31 fixed32
            0xFB, 0x01, 0x08, 0x01, 0xFC, 0x01,  // field 31 group holding a varint
        ]
        let message = Message(type: .msgVote, to: 2, from: 3, term: 12)
        #expect(try Message(decoding: unknown + message.encode() + unknown) == message)
    }

    @Test("packed repeated uint64 is accepted as well as unpacked")
    func packedRepeated() throws {
        let packed = try ConfState(decoding: [0x0a, 0x04, 0x01, 0x02, 0x96, 0x01, 0x10, 0x05, 0x12, 0x01, 0x06])
        #expect(packed.voters == [1, 2, 150])
        #expect(packed.learners == [5, 6])
        // Re-encoding writes them unpacked, as etcd 3.4 does.
        #expect(packed.encode() == [0x08, 0x01, 0x08, 0x02, 0x08, 0x96, 0x01, 0x10, 0x05, 0x10, 0x06, 0x28, 0x00])
    }

    @Test("a repeated nested message merges, as proto2 requires")
    func mergesRepeatedSnapshot() throws {
        let first = Message(snapshot: Snapshot(metadata: SnapshotMetadata(index: 9))).encode()
        let second: [UInt8] = [0x4a, 0x04, 0x12, 0x02, 0x18, 0x04]  // snapshot.metadata.term = 4
        let merged = try Message(decoding: first + second)
        #expect(merged.snapshot.metadata.index == 9)
        #expect(merged.snapshot.metadata.term == 4)
    }

    @Test("an unknown message type survives a round trip")
    func unknownMessageType() throws {
        let message = Message(type: MessageType(rawValue: 99), to: 1)
        #expect(try Message(decoding: message.encode()) == message)
        #expect(message.type.description == "99")
        #expect(MessageType.msgPreVoteResp.description == "MsgPreVoteResp")
        let negative = Entry(type: EntryType(rawValue: -1))
        #expect(negative.encodedSize == 1 + 10 + 4)
        #expect(try Entry(decoding: negative.encode()) == negative)
    }

    @Test("member IDs print as etcd prints them")
    func memberIDs() {
        #expect(MemberID(0x8e9e_05c5_2164_694d).description == "8e9e05c52164694d")
        #expect(MemberID(1).description == "1")
        #expect(MemberID(hex: "64d937c925e41b58") == MemberID(0x64d9_37c9_25e4_1b58))
        #expect(MemberID(hex: "") == nil)
        #expect(MemberID(hex: "-1") == nil)
        #expect(MemberID(hex: "10000000000000000") == nil)
    }
}
