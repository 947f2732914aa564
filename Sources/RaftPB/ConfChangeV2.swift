/// How a ``ConfChangeV2`` enters and leaves joint consensus (raftpb `ConfChangeTransition`).
public struct ConfChangeTransition: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Joint consensus only when needed, left automatically (`ConfChangeTransitionAuto`, 0).
    public static let auto = ConfChangeTransition(rawValue: 0)
    /// Always joint, left automatically (`ConfChangeTransitionJointImplicit`, 1).
    public static let jointImplicit = ConfChangeTransition(rawValue: 1)
    /// Always joint, left by an explicit empty change (`ConfChangeTransitionJointExplicit`, 2).
    public static let jointExplicit = ConfChangeTransition(rawValue: 2)

    /// etcd's name for the transition, or the number if it has none.
    public var description: String {
        switch rawValue {
        case 0: "ConfChangeTransitionAuto"
        case 1: "ConfChangeTransitionJointImplicit"
        case 2: "ConfChangeTransitionJointExplicit"
        default: "\(rawValue)"
        }
    }
}

/// A membership change of several members at once, as an `EntryConfChangeV2` entry carries it
/// (raftpb `ConfChangeV2`).
///
/// | field | tag    | type             | written                          |
/// |-------|--------|------------------|----------------------------------|
/// | 1     | `0x08` | enum             | `transition`, always             |
/// | 2     | `0x12` | ConfChangeSingle | one field per change             |
/// | 3     | `0x1a` | bytes            | `context`, only when non-`nil`   |
public struct ConfChangeV2: Hashable, Sendable {
    /// How joint consensus is used.
    public var transition: ConfChangeTransition
    /// The changes, applied together.
    public var changes: [ConfChangeSingle]
    /// Opaque context. `nil` and empty differ on the wire.
    public var context: ArraySlice<UInt8>?

    /// Creates a change; automatic transition, no changes and no context by default.
    public init(transition: ConfChangeTransition = .auto, changes: [ConfChangeSingle] = [], context: ArraySlice<UInt8>? = nil) {
        self.transition = transition
        self.changes = changes
        self.context = context
    }
}

extension ConfChangeV2: WireMessage {
    /// The zero value: what an absent field decodes to.
    public init() { self.init(transition: .auto) }

    var wireSize: Int {
        var size = 1 + varintSize(enumWireValue(transition.rawValue))
        for change in changes { size += delimitedSize(change.wireSize) }
        if let context { size += delimitedSize(context.count) }
        return size
    }

    func write(to writer: inout WireWriter) {
        writer.field(0x08, enumWireValue(transition.rawValue))
        for change in changes { writer.embedded(0x12, change) }
        if let context { writer.delimited(0x1a, context) }
    }

    mutating func merge(from reader: inout WireReader) throws(RaftPBError) {
        while reader.hasMore {
            let (field, wireType) = try reader.tag("ConfChangeV2")
            switch field {
            case 1:
                transition = ConfChangeTransition(rawValue: try reader.enumValue(wireType, "ConfChangeV2.transition"))
            case 2:
                var change = ConfChangeSingle()
                try reader.embedded(wireType, into: &change, "ConfChangeV2.changes")
                changes.append(change)
            case 3: context = try reader.bytes(wireType, "ConfChangeV2.context")
            default: try reader.skip(wireType, "ConfChangeV2")
            }
        }
    }
}

extension ConfChangeV2: ProtobufMessage {
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
