/// What an ``Entry``'s data holds (raftpb `EntryType`).
///
/// A struct over the raw `int32` rather than an enum: etcd's Go decoder accepts any number here, so
/// ours does too, and an unknown value survives a decode and re-encode unchanged.
public struct EntryType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32

    @inlinable
    public init(rawValue: Int32) { self.rawValue = rawValue }

    // Written out and inlinable: the transport compares types for every message it sends.
    @inlinable
    public static func == (lhs: EntryType, rhs: EntryType) -> Bool { lhs.rawValue == rhs.rawValue }

    @inlinable
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    /// Application data (`EntryNormal`, 0).
    @inlinable public static var normal: EntryType { EntryType(rawValue: 0) }
    /// A marshalled ``ConfChange`` (`EntryConfChange`, 1).
    @inlinable public static var confChange: EntryType { EntryType(rawValue: 1) }
    /// A marshalled ``ConfChangeV2`` (`EntryConfChangeV2`, 2).
    @inlinable public static var confChangeV2: EntryType { EntryType(rawValue: 2) }

    /// etcd's name for the type (`EntryNormal`), or the number if it has none.
    public var description: String {
        switch rawValue {
        case 0: "EntryNormal"
        case 1: "EntryConfChange"
        case 2: "EntryConfChangeV2"
        default: "\(rawValue)"
        }
    }
}
