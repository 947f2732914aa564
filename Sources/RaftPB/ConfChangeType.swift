/// What a ``ConfChange`` or ``ConfChangeSingle`` does (raftpb `ConfChangeType`).
///
/// A struct over the raw `int32`, like ``MessageType``, so unknown values survive a round trip.
public struct ConfChangeType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Add a voter (`ConfChangeAddNode`, 0).
    public static let addNode = ConfChangeType(rawValue: 0)
    /// Remove a member (`ConfChangeRemoveNode`, 1).
    public static let removeNode = ConfChangeType(rawValue: 1)
    /// Change a member's attributes (`ConfChangeUpdateNode`, 2).
    public static let updateNode = ConfChangeType(rawValue: 2)
    /// Add a learner (`ConfChangeAddLearnerNode`, 3).
    public static let addLearnerNode = ConfChangeType(rawValue: 3)

    /// etcd's name for the change type, or the number if it has none.
    public var description: String {
        switch rawValue {
        case 0: "ConfChangeAddNode"
        case 1: "ConfChangeRemoveNode"
        case 2: "ConfChangeUpdateNode"
        case 3: "ConfChangeAddLearnerNode"
        default: "\(rawValue)"
        }
    }
}
