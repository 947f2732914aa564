/// A raft message between members (raftpb `Message`).
///
/// Wire layout as etcd 3.4 writes it. gogoproto writes every non-nullable field even when zero, so
/// the smallest message (all zero) is 30 bytes, not 0:
///
/// | field | tag    | type     | written                                        |
/// |-------|--------|----------|------------------------------------------------|
/// | 1     | `0x08` | enum     | `type`, always                                 |
/// | 2     | `0x10` | uint64   | `to`, always                                   |
/// | 3     | `0x18` | uint64   | `from`, always                                 |
/// | 4     | `0x20` | uint64   | `term`, always                                 |
/// | 5     | `0x28` | uint64   | `logTerm`, always                              |
/// | 6     | `0x30` | uint64   | `index`, always                                |
/// | 7     | `0x3a` | Entry    | one field per entry                            |
/// | 8     | `0x40` | uint64   | `commit`, always                               |
/// | 9     | `0x4a` | Snapshot | `snapshot`, always (even when empty)           |
/// | 10    | `0x50` | bool     | `reject`, always                               |
/// | 11    | `0x58` | uint64   | `rejectHint`, always                           |
/// | 12    | `0x62` | bytes    | `context`, only when non-`nil` (even if empty) |
///
/// A decode takes the fields in any order and absent ones as zero, which is what etcd main's
/// encoder (which leaves zero fields out, field 9 included) needs.
public struct Message: Hashable, Sendable {
    /// What the message means.
    public var type: MessageType
    /// The receiving member's ID.
    public var to: UInt64
    /// The sending member's ID.
    public var from: UInt64
    /// The sender's current term.
    public var term: UInt64
    /// The term of the entry at ``index`` (for appends and votes).
    public var logTerm: UInt64
    /// A log index whose meaning depends on ``type``.
    public var index: UInt64
    /// Entries to append or propose.
    public var entries: [Entry]
    /// The leader's commit index.
    public var commit: UInt64
    /// The snapshot a `MsgSnap` carries; empty for every other type but always on the wire.
    public var snapshot: Snapshot
    /// Whether the answer is a refusal.
    public var reject: Bool
    /// With a rejected append: the follower's hint of where its log ends.
    public var rejectHint: UInt64
    /// Opaque context (a ReadIndex request ID, a campaign kind). `nil` and empty differ on the wire;
    /// see ``Entry/data`` for why this is a slice.
    public var context: ArraySlice<UInt8>?

    /// Creates a message; every argument defaults to zero, empty or `nil`.
    public init(
        type: MessageType = .msgHup, to: UInt64 = 0, from: UInt64 = 0, term: UInt64 = 0,
        logTerm: UInt64 = 0, index: UInt64 = 0, entries: [Entry] = [], commit: UInt64 = 0,
        snapshot: Snapshot = Snapshot(), reject: Bool = false, rejectHint: UInt64 = 0,
        context: ArraySlice<UInt8>? = nil
    ) {
        self.type = type
        self.to = to
        self.from = from
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.snapshot = snapshot
        self.reject = reject
        self.rejectHint = rejectHint
        self.context = context
    }

    /// Whether this is rafthttp's link heartbeat: a `MsgHeartbeat` from 0 to 0, which stream
    /// writers send to keep a connection alive and readers drop.
    public var isLinkHeartbeat: Bool {
        type == .msgHeartbeat && from == 0 && to == 0
    }
}

extension Message: WireMessage {
    /// The zero value: what an absent field decodes to.
    public init() { self.init(type: .msgHup) }

    var wireSize: Int {
        var size = 1 + varintSize(enumWireValue(type.rawValue))
        size += 1 + varintSize(to)
        size += 1 + varintSize(from)
        size += 1 + varintSize(term)
        size += 1 + varintSize(logTerm)
        size += 1 + varintSize(index)
        for entry in entries { size += delimitedSize(entry.wireSize) }
        size += 1 + varintSize(commit)
        size += delimitedSize(snapshot.wireSize)
        size += 2
        size += 1 + varintSize(rejectHint)
        if let context { size += delimitedSize(context.count) }
        return size
    }

    func write(to writer: inout WireWriter) {
        writer.field(0x08, enumWireValue(type.rawValue))
        writer.field(0x10, to)
        writer.field(0x18, from)
        writer.field(0x20, term)
        writer.field(0x28, logTerm)
        writer.field(0x30, index)
        for entry in entries { writer.embedded(0x3a, entry) }
        writer.field(0x40, commit)
        writer.embedded(0x4a, snapshot)
        writer.field(0x50, reject ? 1 : 0)
        writer.field(0x58, rejectHint)
        if let context { writer.delimited(0x62, context) }
    }

    mutating func merge(from reader: inout WireReader) throws(RaftPBError) {
        while reader.hasMore {
            let (field, wireType) = try reader.tag("Message")
            switch field {
            case 1: type = MessageType(rawValue: try reader.enumValue(wireType, "Message.type"))
            case 2: to = try reader.uint64(wireType, "Message.to")
            case 3: from = try reader.uint64(wireType, "Message.from")
            case 4: term = try reader.uint64(wireType, "Message.term")
            case 5: logTerm = try reader.uint64(wireType, "Message.logTerm")
            case 6: index = try reader.uint64(wireType, "Message.index")
            case 7:
                var entry = Entry()
                try reader.embedded(wireType, into: &entry, "Message.entries")
                entries.append(entry)
            case 8: commit = try reader.uint64(wireType, "Message.commit")
            case 9: try reader.embedded(wireType, into: &snapshot, "Message.snapshot")
            case 10: reject = try reader.bool(wireType, "Message.reject")
            case 11: rejectHint = try reader.uint64(wireType, "Message.rejectHint")
            case 12: context = try reader.bytes(wireType, "Message.context")
            default: try reader.skip(wireType, "Message")
            }
        }
    }
}

extension Message: ProtobufMessage {
    public var encodedSize: Int { wireSize }
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int { WireCoding.encode(self, into: buffer) }
    public func encode() -> [UInt8] { WireCoding.encode(self) }
    public func append(to bytes: inout [UInt8]) { WireCoding.append(self, to: &bytes) }
    public init(decoding bytes: ArraySlice<UInt8>) throws(RaftPBError) { self = try WireCoding.decode(bytes) }
}
