/// The cluster membership at a point in the log (raftpb `ConfState`, with etcd 3.4's joint
/// consensus fields).
///
/// | field | tag    | type            | written                                 |
/// |-------|--------|-----------------|-----------------------------------------|
/// | 1     | `0x08` | repeated uint64 | `voters`, one field per ID, not packed  |
/// | 2     | `0x10` | repeated uint64 | `learners`, likewise                    |
/// | 3     | `0x18` | repeated uint64 | `votersOutgoing`, likewise              |
/// | 4     | `0x20` | repeated uint64 | `learnersNext`, likewise                |
/// | 5     | `0x28` | bool            | `autoLeave`, always                     |
///
/// A decode also accepts the repeated fields packed (wire type 2).
public struct ConfState: Hashable, Sendable {
    /// Voting members (the incoming ones during a joint change).
    public var voters: [UInt64]
    /// Non-voting members.
    public var learners: [UInt64]
    /// During a joint change, the outgoing configuration's voters.
    public var votersOutgoing: [UInt64]
    /// During a joint change, voters that become learners when it ends.
    public var learnersNext: [UInt64]
    /// Whether the joint configuration is left automatically.
    public var autoLeave: Bool

    /// Creates a configuration; empty by default.
    public init(
        voters: [UInt64] = [], learners: [UInt64] = [], votersOutgoing: [UInt64] = [],
        learnersNext: [UInt64] = [], autoLeave: Bool = false
    ) {
        self.voters = voters
        self.learners = learners
        self.votersOutgoing = votersOutgoing
        self.learnersNext = learnersNext
        self.autoLeave = autoLeave
    }
}

extension ConfState: WireMessage {
    /// The zero value: what an absent field decodes to.
    public init() { self.init(voters: []) }

    private static func repeatedSize(_ values: [UInt64]) -> Int {
        var size = values.count
        for value in values { size += varintSize(value) }
        return size
    }

    var wireSize: Int {
        Self.repeatedSize(voters) + Self.repeatedSize(learners) + Self.repeatedSize(votersOutgoing)
            + Self.repeatedSize(learnersNext) + 2
    }

    func write(to writer: inout WireWriter) {
        for id in voters { writer.field(0x08, id) }
        for id in learners { writer.field(0x10, id) }
        for id in votersOutgoing { writer.field(0x18, id) }
        for id in learnersNext { writer.field(0x20, id) }
        writer.field(0x28, autoLeave ? 1 : 0)
    }

    mutating func merge(from reader: inout WireReader) throws(RaftPBError) {
        while reader.hasMore {
            let (field, wireType) = try reader.tag("ConfState")
            switch field {
            case 1: try reader.repeatedUInt64(wireType, into: &voters, "ConfState.voters")
            case 2: try reader.repeatedUInt64(wireType, into: &learners, "ConfState.learners")
            case 3: try reader.repeatedUInt64(wireType, into: &votersOutgoing, "ConfState.votersOutgoing")
            case 4: try reader.repeatedUInt64(wireType, into: &learnersNext, "ConfState.learnersNext")
            case 5: autoLeave = try reader.bool(wireType, "ConfState.autoLeave")
            default: try reader.skip(wireType, "ConfState")
            }
        }
    }
}

extension ConfState: ProtobufMessage {
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
