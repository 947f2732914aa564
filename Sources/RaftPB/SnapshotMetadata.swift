/// Where a snapshot was taken (raftpb `SnapshotMetadata`).
///
/// | field | tag    | type      | written                |
/// |-------|--------|-----------|------------------------|
/// | 1     | `0x0a` | ConfState | `confState`, always    |
/// | 2     | `0x10` | uint64    | `index`, always        |
/// | 3     | `0x18` | uint64    | `term`, always         |
public struct SnapshotMetadata: Hashable, Sendable {
    /// The membership at ``index``.
    public var confState: ConfState
    /// The last log index the snapshot covers. In a `POST /raft/snapshot` head it also names the
    /// database file the receiver writes (`%016x.snap.db`).
    public var index: UInt64
    /// The term of the entry at ``index``.
    public var term: UInt64

    /// Creates metadata; everything defaults to zero and an empty configuration.
    public init(confState: ConfState = ConfState(), index: UInt64 = 0, term: UInt64 = 0) {
        self.confState = confState
        self.index = index
        self.term = term
    }
}

extension SnapshotMetadata: WireMessage {
    /// The zero value: what an absent field decodes to.
    public init() { self.init(index: 0) }

    var wireSize: Int {
        delimitedSize(confState.wireSize) + 1 + varintSize(index) + 1 + varintSize(term)
    }

    func write(to writer: inout WireWriter) {
        writer.embedded(0x0a, confState)
        writer.field(0x10, index)
        writer.field(0x18, term)
    }

    mutating func merge(from reader: inout WireReader) throws(RaftPBError) {
        while reader.hasMore {
            let (field, wireType) = try reader.tag("SnapshotMetadata")
            switch field {
            case 1: try reader.embedded(wireType, into: &confState, "SnapshotMetadata.confState")
            case 2: index = try reader.uint64(wireType, "SnapshotMetadata.index")
            case 3: term = try reader.uint64(wireType, "SnapshotMetadata.term")
            default: try reader.skip(wireType, "SnapshotMetadata")
            }
        }
    }
}

extension SnapshotMetadata: ProtobufMessage {
    public var encodedSize: Int { wireSize }
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int { WireCoding.encode(self, into: buffer) }
    public func encode() -> [UInt8] { WireCoding.encode(self) }
    public func append(to bytes: inout [UInt8]) { WireCoding.append(self, to: &bytes) }
    public init(decoding bytes: ArraySlice<UInt8>) throws(RaftPBError) {
        var value = Self()
        try WireCoding.decode(bytes, into: &value)
        self = value
    }
}
