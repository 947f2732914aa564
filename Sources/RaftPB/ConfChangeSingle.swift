/// One change inside a ``ConfChangeV2`` (raftpb `ConfChangeSingle`).
///
/// | field | tag    | type   | written            |
/// |-------|--------|--------|--------------------|
/// | 1     | `0x08` | enum   | `type`, always     |
/// | 2     | `0x10` | uint64 | `nodeID`, always   |
public struct ConfChangeSingle: Hashable, Sendable {
    /// What the change does.
    public var type: ConfChangeType
    /// The member the change is about.
    public var nodeID: UInt64

    /// Creates a change; ``ConfChangeType/addNode`` of member 0 by default.
    public init(type: ConfChangeType = .addNode, nodeID: UInt64 = 0) {
        self.type = type
        self.nodeID = nodeID
    }
}

extension ConfChangeSingle: WireMessage {
    /// The zero value: what an absent field decodes to.
    public init() { self.init(nodeID: 0) }

    var wireSize: Int { 2 + varintSize(enumWireValue(type.rawValue)) + varintSize(nodeID) }

    func write(to writer: inout WireWriter) {
        writer.field(0x08, enumWireValue(type.rawValue))
        writer.field(0x10, nodeID)
    }

    mutating func merge(from reader: inout WireReader) throws(RaftPBError) {
        while reader.hasMore {
            let (field, wireType) = try reader.tag("ConfChangeSingle")
            switch field {
            case 1: type = ConfChangeType(rawValue: try reader.enumValue(wireType, "ConfChangeSingle.type"))
            case 2: nodeID = try reader.uint64(wireType, "ConfChangeSingle.nodeID")
            default: try reader.skip(wireType, "ConfChangeSingle")
            }
        }
    }
}

extension ConfChangeSingle: ProtobufMessage {
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
