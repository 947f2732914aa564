/// The raft state a member persists before it answers (raftpb `HardState`).
///
/// | field | tag    | type   | written           |
/// |-------|--------|--------|-------------------|
/// | 1     | `0x08` | uint64 | `term`, always    |
/// | 2     | `0x10` | uint64 | `vote`, always    |
/// | 3     | `0x18` | uint64 | `commit`, always  |
public struct HardState: Hashable, Sendable {
    /// The current term.
    public var term: UInt64
    /// The member voted for in ``term``, or 0.
    public var vote: UInt64
    /// The commit index.
    public var commit: UInt64

    /// Creates a hard state; zero by default.
    public init(term: UInt64 = 0, vote: UInt64 = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

extension HardState: WireMessage {
    /// The zero value: what an absent field decodes to.
    public init() { self.init(term: 0) }

    var wireSize: Int { 3 + varintSize(term) + varintSize(vote) + varintSize(commit) }

    func write(to writer: inout WireWriter) {
        writer.field(0x08, term)
        writer.field(0x10, vote)
        writer.field(0x18, commit)
    }

    mutating func merge(from reader: inout WireReader) throws(RaftPBError) {
        while reader.hasMore {
            let (field, wireType) = try reader.tag("HardState")
            switch field {
            case 1: term = try reader.uint64(wireType, "HardState.term")
            case 2: vote = try reader.uint64(wireType, "HardState.vote")
            case 3: commit = try reader.uint64(wireType, "HardState.commit")
            default: try reader.skip(wireType, "HardState")
            }
        }
    }
}

extension HardState: ProtobufMessage {
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
