/// The kind of a raft ``Message`` (raftpb `MessageType`), with etcd 3.4's numbers.
///
/// A struct over the raw `int32` rather than an enum: etcd's Go decoder accepts any number here, so
/// ours does too, and a type this build does not know survives a decode and re-encode unchanged.
public struct MessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Local: start an election (0).
    public static let msgHup = MessageType(rawValue: 0)
    /// Local: the leader should send heartbeats (1).
    public static let msgBeat = MessageType(rawValue: 1)
    /// A proposal, forwarded to the leader (2).
    public static let msgProp = MessageType(rawValue: 2)
    /// Append entries (3); travels on the msgappv2 stream when it is up.
    public static let msgApp = MessageType(rawValue: 3)
    /// Answer to ``msgApp`` (4).
    public static let msgAppResp = MessageType(rawValue: 4)
    /// Vote request (5).
    public static let msgVote = MessageType(rawValue: 5)
    /// Vote answer (6).
    public static let msgVoteResp = MessageType(rawValue: 6)
    /// Snapshot (7); travels as the head of a `POST /raft/snapshot` body.
    public static let msgSnap = MessageType(rawValue: 7)
    /// Heartbeat (8). With `from` and `to` both 0 it is rafthttp's link heartbeat.
    public static let msgHeartbeat = MessageType(rawValue: 8)
    /// Heartbeat answer (9).
    public static let msgHeartbeatResp = MessageType(rawValue: 9)
    /// Local: a peer is unreachable (10).
    public static let msgUnreachable = MessageType(rawValue: 10)
    /// Local: how a snapshot send ended (11).
    public static let msgSnapStatus = MessageType(rawValue: 11)
    /// Local: check quorum (12).
    public static let msgCheckQuorum = MessageType(rawValue: 12)
    /// Leadership transfer request (13).
    public static let msgTransferLeader = MessageType(rawValue: 13)
    /// Start an election now, for a leadership transfer (14).
    public static let msgTimeoutNow = MessageType(rawValue: 14)
    /// Linearizable read request (15).
    public static let msgReadIndex = MessageType(rawValue: 15)
    /// Linearizable read answer (16).
    public static let msgReadIndexResp = MessageType(rawValue: 16)
    /// Pre-vote request (17).
    public static let msgPreVote = MessageType(rawValue: 17)
    /// Pre-vote answer (18).
    public static let msgPreVoteResp = MessageType(rawValue: 18)

    private static let names = [
        "MsgHup", "MsgBeat", "MsgProp", "MsgApp", "MsgAppResp", "MsgVote", "MsgVoteResp", "MsgSnap",
        "MsgHeartbeat", "MsgHeartbeatResp", "MsgUnreachable", "MsgSnapStatus", "MsgCheckQuorum",
        "MsgTransferLeader", "MsgTimeoutNow", "MsgReadIndex", "MsgReadIndexResp", "MsgPreVote",
        "MsgPreVoteResp",
    ]

    /// etcd's name for the type (`MsgApp`), as its logs print it, or the number if it has none.
    public var description: String {
        Self.names.indices.contains(Int(rawValue)) ? Self.names[Int(rawValue)] : "\(rawValue)"
    }
}
