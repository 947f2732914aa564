/// A single membership change, as an `EntryConfChange` entry carries it (raftpb `ConfChange`).
///
/// gogoproto writes in field-number order, so `id` (field 1) goes first:
///
/// | field | tag    | type   | written                          |
/// |-------|--------|--------|----------------------------------|
/// | 1     | `0x08` | uint64 | `id`, always                     |
/// | 2     | `0x10` | enum   | `type`, always                   |
/// | 3     | `0x18` | uint64 | `nodeID`, always                 |
/// | 4     | `0x22` | bytes  | `context`, only when non-`nil`   |
public struct ConfChange: Hashable, Sendable {
    /// An ID etcd threads through to match the change with its request.
    public var id: UInt64
    /// What the change does.
    public var type: ConfChangeType
    /// The member the change is about.
    public var nodeID: UInt64
    /// Opaque context; in etcd the JSON of the member. `nil` and empty differ on the wire.
    public var context: ArraySlice<UInt8>?

    /// Creates a change; zero, ``ConfChangeType/addNode`` and no context by default.
    public init(id: UInt64 = 0, type: ConfChangeType = .addNode, nodeID: UInt64 = 0, context: ArraySlice<UInt8>? = nil) {
        self.id = id
        self.type = type
        self.nodeID = nodeID
        self.context = context
    }
}

extension ConfChange: WireMessage {
    /// The zero value: what an absent field decodes to.
    public init() { self.init(id: 0) }

    var wireSize: Int {
        var size = 3 + varintSize(id) + varintSize(enumWireValue(type.rawValue)) + varintSize(nodeID)
        if let context { size += delimitedSize(context.count) }
        return size
    }

    func write(to writer: inout WireWriter) {
        writer.field(0x08, id)
        writer.field(0x10, enumWireValue(type.rawValue))
        writer.field(0x18, nodeID)
        if let context { writer.delimited(0x22, context) }
    }

    mutating func merge(from reader: inout WireReader) throws(RaftPBError) {
        while reader.hasMore {
            let (field, wireType) = try reader.tag("ConfChange")
            switch field {
            case 1: id = try reader.uint64(wireType, "ConfChange.id")
            case 2: type = ConfChangeType(rawValue: try reader.enumValue(wireType, "ConfChange.type"))
            case 3: nodeID = try reader.uint64(wireType, "ConfChange.nodeID")
            case 4: context = try reader.bytes(wireType, "ConfChange.context")
            default: try reader.skip(wireType, "ConfChange")
            }
        }
    }
}

extension ConfChange: ProtobufMessage {
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
