/// A snapshot as a `MsgSnap` carries it (raftpb `Snapshot`). In etcd the ``data`` here is the small
/// v2 store snapshot; the key-value database follows the message in the `POST /raft/snapshot` body.
///
/// | field | tag    | type             | written                          |
/// |-------|--------|------------------|----------------------------------|
/// | 1     | `0x0a` | bytes            | `data`, only when non-`nil`      |
/// | 2     | `0x12` | SnapshotMetadata | `metadata`, always               |
public struct Snapshot: Hashable, Sendable {
    /// The snapshot payload; `nil` and empty differ on the wire (see ``Entry/data``).
    public var data: ArraySlice<UInt8>?
    /// Where in the log the snapshot was taken and the configuration at that point.
    public var metadata: SnapshotMetadata

    /// Creates a snapshot; by default empty, as every message but `MsgSnap` carries it.
    public init(data: ArraySlice<UInt8>? = nil, metadata: SnapshotMetadata = SnapshotMetadata()) {
        self.data = data
        self.metadata = metadata
    }
}

extension Snapshot {
    /// Whether this equals `Snapshot()`, checked field by field without building one.
    var isEmpty: Bool {
        let conf = metadata.confState
        return data == nil && metadata.index == 0 && metadata.term == 0 && conf.voters.isEmpty
            && conf.learners.isEmpty && conf.votersOutgoing.isEmpty && conf.learnersNext.isEmpty && !conf.autoLeave
    }
}

extension Snapshot: WireMessage {
    /// The zero value: what an absent field decodes to.
    public init() { self.init(data: nil) }

    var wireSize: Int {
        var size = delimitedSize(metadata.wireSize)
        if let data { size += delimitedSize(data.count) }
        return size
    }

    func write(to writer: inout WireWriter) {
        if let data { writer.delimited(0x0a, data) }
        writer.embedded(0x12, metadata)
    }

    mutating func merge(from reader: inout WireReader) throws(RaftPBError) {
        while reader.hasMore {
            let (field, wireType) = try reader.tag("Snapshot")
            switch field {
            case 1: data = try reader.bytes(wireType, "Snapshot.data")
            case 2: try reader.embedded(wireType, into: &metadata, "Snapshot.metadata")
            default: try reader.skip(wireType, "Snapshot")
            }
        }
    }
}

extension Snapshot: ProtobufMessage {
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
