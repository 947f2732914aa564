/// One raft log entry (raftpb `Entry`).
///
/// Wire layout as etcd 3.4 writes it (gogoproto, fields in number order, so `type` comes first):
///
/// | field | tag    | type   | written                                   |
/// |-------|--------|--------|-------------------------------------------|
/// | 1     | `0x08` | enum   | `type`, always                            |
/// | 2     | `0x10` | uint64 | `term`, always                            |
/// | 3     | `0x18` | uint64 | `index`, always                           |
/// | 4     | `0x22` | bytes  | `data`, only when non-`nil` (even if empty) |
public struct Entry: Hashable, Sendable {
    /// The leader's term when the entry was created.
    public var term: UInt64
    /// The entry's position in the log.
    public var index: UInt64
    /// What ``data`` holds.
    public var type: EntryType
    /// The payload. `nil` and empty differ on the wire: etcd leaves a `nil` slice out and writes an
    /// empty one with length 0, and a decode gives back whichever was sent.
    ///
    /// An `ArraySlice` so that a decode can hand out a view of the received bytes without copying
    /// them. Its indices are those of the buffer it views, so index it from `startIndex`, or copy
    /// it into an `Array` to keep a small part of a large buffer without retaining the rest.
    public var data: ArraySlice<UInt8>?

    /// Creates an entry; every argument defaults to zero, `EntryNormal` and no data.
    public init(term: UInt64 = 0, index: UInt64 = 0, type: EntryType = .normal, data: ArraySlice<UInt8>? = nil) {
        self.term = term
        self.index = index
        self.type = type
        self.data = data
    }
}

extension Entry: WireMessage {
    /// The zero value: what an absent field decodes to.
    public init() { self.init(term: 0, index: 0) }

    @inlinable
    var wireSize: Int {
        var size = 1 + varintSize(enumWireValue(type.rawValue))
        size += 1 + varintSize(term)
        size += 1 + varintSize(index)
        if let data { size += delimitedSize(data.count) }
        return size
    }

    @inlinable @inline(__always)
    func write(to writer: inout WireWriter) {
        writer.field(0x08, enumWireValue(type.rawValue))
        writer.field(0x10, term)
        writer.field(0x18, index)
        if let data { writer.delimited(0x22, data) }
    }

    mutating func merge(from reader: inout WireReader) throws(RaftPBError) {
        while reader.hasMore {
            let (field, wireType) = try reader.tag("Entry")
            switch field {
            case 1: type = EntryType(rawValue: try reader.enumValue(wireType, "Entry.type"))
            case 2: term = try reader.uint64(wireType, "Entry.term")
            case 3: index = try reader.uint64(wireType, "Entry.index")
            case 4: data = try reader.bytes(wireType, "Entry.data")
            default: try reader.skip(wireType, "Entry")
            }
        }
    }
}

extension Entry: ProtobufMessage {
    // Inlinable: the stream codecs size and encode entries one by one from buffers of messages,
    // and an opaque call would copy (retain and release) each entry it is handed.
    @inlinable
    public var encodedSize: Int { wireSize }

    @inlinable @inline(__always)
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        encodeSized(wireSize, into: buffer) { write(to: &$0) }
    }

    public func encode() -> [UInt8] { WireCoding.encode(self) }
    public func append(to bytes: inout [UInt8]) { WireCoding.append(self, to: &bytes) }
    public init(decoding bytes: ArraySlice<UInt8>) throws(RaftPBError) {
        if let entry = Self.decodeAsEtcdWrites(bytes) {
            self = entry
            return
        }
        var value = Self()
        try WireCoding.decode(bytes, into: &value)
        self = value
    }

    /// The fast path for the layout etcd writes (the table above: type, term, index, then data if
    /// any, each once and in that order, the type a one-byte varint, term and index below 2^63);
    /// nil for anything else, which the general reader then decodes (or refuses) as before. One
    /// retain (the data's view of `bytes`) instead of the general reader's several.
    private static func decodeAsEtcdWrites(_ bytes: ArraySlice<UInt8>) -> Entry? {
        bytes.withUnsafeBytes { raw -> Entry? in
            let n = raw.count
            guard n >= 6, raw[0] == 0x08, raw[1] < 0x80, raw[2] == 0x10 else { return nil }
            var p = 3
            /// A varint of at most nine bytes (below 2^63), else nil.
            func varint() -> UInt64? {
                var value: UInt64 = 0
                var shift: UInt64 = 0
                while p < n, shift < 63 {
                    let byte = raw[p]
                    p += 1
                    value |= UInt64(byte & 0x7f) << shift
                    if byte < 0x80 { return value }
                    shift += 7
                }
                return nil
            }
            guard let term = varint(), p < n, raw[p] == 0x18 else { return nil }
            p += 1
            guard let index = varint() else { return nil }
            var entry = Entry(term: term, index: index, type: EntryType(rawValue: Int32(raw[1])))
            if p == n { return entry }
            guard raw[p] == 0x22 else { return nil }
            p += 1
            guard let length = varint(), length == UInt64(n - p) else { return nil }
            let from = bytes.startIndex + p
            entry.data = bytes[from ..< from + Int(length)]
            return entry
        }
    }
}
