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
    public var snapshot: Snapshot {
        get { snapshotBox?.value ?? Snapshot() }
        set { snapshotBox = SnapshotBox.boxing(newValue) }
    }
    /// Whether the answer is a refusal.
    public var reject: Bool
    /// With a rejected append: the follower's hint of where its log ends.
    public var rejectHint: UInt64
    /// Opaque context (a ReadIndex request ID, a campaign kind). `nil` and empty differ on the wire;
    /// see ``Entry/data`` for why this is a slice.
    public var context: ArraySlice<UInt8>?

    /// `nil` for the empty snapshot that all but `MsgSnap` carry: it keeps the five arrays and the
    /// slice of a `Snapshot` out of every copy of every message, which the hot paths copy a lot.
    @usableFromInline var snapshotBox: SnapshotBox?

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
        self.snapshotBox = SnapshotBox.boxing(snapshot)
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
    /// Field 9 holding an empty Snapshot, as gogoproto always writes it: metadata { conf_state {
    /// auto_leave: false }, index: 0, term: 0 }.
    @usableFromInline static let emptySnapshotField: [UInt8] = [0x4a, 0x0a, 0x12, 0x08, 0x0a, 0x02, 0x28, 0x00, 0x10, 0x00, 0x18, 0x00]

    /// The zero value: what an absent field decodes to. Written out rather than delegated, as
    /// every decode starts here: the general initializer would build and test an empty Snapshot.
    /// Inlinable: the stream decoders and raft build messages from it one by one, and an opaque
    /// call returns a value that is then copied (retained) into place.
    @inlinable
    public init() {
        type = .msgHup
        to = 0
        from = 0
        term = 0
        logTerm = 0
        index = 0
        entries = []
        commit = 0
        reject = false
        rejectHint = 0
        context = nil
        snapshotBox = nil
    }

    /// A MsgApp carrying `entries`, built field by field with no snapshot: what a stream decoder
    /// makes for every append it reads (the general initializer's `Snapshot()` default argument,
    /// and a default value assigned field by field then moved out, each cost copies of the
    /// message: three retains and releases apiece).
    @inlinable
    public init(msgAppTo to: UInt64, from: UInt64, term: UInt64, logTerm: UInt64, index: UInt64, commit: UInt64,
                entries: consuming [Entry]) {
        self.type = .msgApp
        self.to = to
        self.from = from
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.reject = false
        self.rejectHint = 0
        self.context = nil
        self.snapshotBox = nil
    }

    // The instance forms read through a pointer to `self`, and the pointer forms are public: the
    // streams size and encode messages where they lie in buffers of them, and a method called on a
    // message behind a pointer, in an array or in a class copies it first (a retain and a release
    // for each reference-counted field). Reading stored fields through `pointee` copies nothing.
    @inlinable
    var wireSize: Int { withUnsafePointer(to: self) { Self.wireSize(at: $0) } }

    @inlinable
    func write(to writer: inout WireWriter) { withUnsafePointer(to: self) { Self.write(at: $0, to: &writer) } }

    /// The encoded size of the message `message` points to, its fields read in place (no copy of
    /// the message, so no retain of its entries, context or snapshot).
    @inlinable
    public static func encodedSize(at message: UnsafePointer<Message>) -> Int { wireSize(at: message) }

    /// Encodes the message `message` points to into `buffer`, which must hold
    /// ``encodedSize(at:)`` bytes (a smaller buffer traps); returns the bytes written. Its fields
    /// are read in place, as ``encodedSize(at:)`` reads them.
    @inlinable
    public static func encode(at message: UnsafePointer<Message>, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        encodeSized(wireSize(at: message), into: buffer) { write(at: message, to: &$0) }
    }

    @inlinable
    static func wireSize(at m: UnsafePointer<Message>) -> Int {
        var size = 1 + varintSize(enumWireValue(m.pointee.type.rawValue))
        size += 1 + varintSize(m.pointee.to)
        size += 1 + varintSize(m.pointee.from)
        size += 1 + varintSize(m.pointee.term)
        size += 1 + varintSize(m.pointee.logTerm)
        size += 1 + varintSize(m.pointee.index)
        // Through the buffer: a `for entry in entries` loop copies (retains) every entry.
        m.pointee.entries.withUnsafeBufferPointer { list in
            for i in list.indices { size += delimitedSize(list[i].wireSize) }
        }
        size += 1 + varintSize(m.pointee.commit)
        if let snapshotBox = m.pointee.snapshotBox {
            size += delimitedSize(snapshotBox.wireSize)
        } else {
            size += emptySnapshotField.count
        }
        size += 2
        size += 1 + varintSize(m.pointee.rejectHint)
        if let count = m.pointee.context?.count { size += delimitedSize(count) }
        return size
    }

    @inlinable
    static func write(at m: UnsafePointer<Message>, to writer: inout WireWriter) {
        writer.field(0x08, enumWireValue(m.pointee.type.rawValue))
        writer.field(0x10, m.pointee.to)
        writer.field(0x18, m.pointee.from)
        writer.field(0x20, m.pointee.term)
        writer.field(0x28, m.pointee.logTerm)
        writer.field(0x30, m.pointee.index)
        m.pointee.entries.withUnsafeBufferPointer { list in
            for i in list.indices {
                writer.byte(0x3a)
                writer.varint(UInt64(list[i].wireSize))
                list[i].write(to: &writer)
            }
        }
        writer.field(0x40, m.pointee.commit)
        if let snapshotBox = m.pointee.snapshotBox {
            snapshotBox.write(tag: 0x4a, to: &writer)
        } else {
            writer.raw(emptySnapshotField[...])
        }
        writer.field(0x50, m.pointee.reject ? 1 : 0)
        writer.field(0x58, m.pointee.rejectHint)
        if let context = m.pointee.context { writer.delimited(0x62, context) }
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
                // One allocation for all entries instead of a doubling per power of two. Encoders
                // write the entries back to back, so a single entry needs no scan of the rest.
                if entries.isEmpty, reader.nextByte == 0x3a { entries.reserveCapacity(1 + reader.countFields(key: 0x3a)) }
                entries.append(entry)
            case 8: commit = try reader.uint64(wireType, "Message.commit")
            case 9:
                // Every message but MsgSnap carries the empty snapshot: skip its ten-byte payload without
                // building (and copying, and dropping) a Snapshot with four empty arrays.
                if snapshotBox == nil,
                   Self.emptySnapshotField.withUnsafeBytes({ reader.skip(wireType, ifPayloadIs: UnsafeRawBufferPointer(rebasing: $0[2...])) })
                {
                    break
                }
                var merged = snapshotBox?.value ?? Snapshot()
                try reader.embedded(wireType, into: &merged, "Message.snapshot")
                snapshot = merged
            case 10: reject = try reader.bool(wireType, "Message.reject")
            case 11: rejectHint = try reader.uint64(wireType, "Message.rejectHint")
            case 12: context = try reader.bytes(wireType, "Message.context")
            default: try reader.skip(wireType, "Message")
            }
        }
    }
}

extension Message: ProtobufMessage {
    @inlinable
    public var encodedSize: Int { wireSize }

    @inlinable
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        encodeSized(wireSize, into: buffer) { write(to: &$0) }
    }

    public func encode() -> [UInt8] { WireCoding.encode(self) }
    public func append(to bytes: inout [UInt8]) { WireCoding.append(self, to: &bytes) }
    public init(decoding bytes: ArraySlice<UInt8>) throws(RaftPBError) {
        try self.init(decoding: bytes, in: bytes.indices)
    }

    /// Decodes the message in `bytes[range]` without making a slice for it (a retain and a release
    /// of the storage, per message a stream decoder reads out of one buffer). Byte fields of the
    /// result are slices of `bytes`. `range` must lie within `bytes.indices`.
    public init(decoding bytes: borrowing ArraySlice<UInt8>, in range: Range<Int>) throws(RaftPBError) {
        // `borrowing`: an initializer takes its arguments owned, which cost the caller a retain of
        // the storage for every message.
        // Built inside the closure and returned: decoding into `self` or into a local that is
        // then assigned left a copy of the whole message (three retains and releases) on every
        // message a stream reader decodes.
        var failure: RaftPBError?
        self = WireCoding.withReader(bytes, range) { reader in
            var message = Message()
            do throws(RaftPBError) {
                try message.merge(from: &reader)
            } catch {
                failure = error
            }
            return message
        }
        if let failure { throw failure }
    }
}

/// An immutable box for a non-empty ``Snapshot`` inside a ``Message``.
/// Sendable: a final class whose only stored property is an immutable Sendable value.
@usableFromInline
final class SnapshotBox: Hashable, Sendable {
    let value: Snapshot

    private init(_ value: Snapshot) { self.value = value }

    /// The snapshot's encoded size (out of line: only MsgSnap carries one).
    @usableFromInline
    var wireSize: Int { value.wireSize }

    /// Writes the snapshot as the embedded field `tag`.
    @usableFromInline
    func write(tag: UInt8, to writer: inout WireWriter) {
        writer.embedded(tag, value)
    }

    /// `nil` for the empty snapshot, else a box.
    static func boxing(_ snapshot: Snapshot) -> SnapshotBox? {
        snapshot.isEmpty ? nil : SnapshotBox(snapshot)
    }

    @usableFromInline
    static func == (lhs: SnapshotBox, rhs: SnapshotBox) -> Bool { lhs.value == rhs.value }

    @usableFromInline
    func hash(into hasher: inout Hasher) { hasher.combine(value) }
}
