/// The kind of a raft ``Message`` (raftpb `MessageType`), with etcd 3.4's numbers.
///
/// A struct over the raw `int32` rather than an enum: etcd's Go decoder accepts any number here, so
/// ours does too, and a type this build does not know survives a decode and re-encode unchanged.
public struct MessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32

    @inlinable
    public init(rawValue: Int32) { self.rawValue = rawValue }

    // Written out and inlinable: the transport compares types for every message it sends.
    @inlinable
    public static func == (lhs: MessageType, rhs: MessageType) -> Bool { lhs.rawValue == rhs.rawValue }

    @inlinable
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    /// Local: start an election (0).
    @inlinable public static var msgHup: MessageType { MessageType(rawValue: 0) }
    /// Local: the leader should send heartbeats (1).
    @inlinable public static var msgBeat: MessageType { MessageType(rawValue: 1) }
    /// A proposal, forwarded to the leader (2).
    @inlinable public static var msgProp: MessageType { MessageType(rawValue: 2) }
    /// Append entries (3); travels on the msgappv2 stream when it is up.
    @inlinable public static var msgApp: MessageType { MessageType(rawValue: 3) }
    /// Answer to ``msgApp`` (4).
    @inlinable public static var msgAppResp: MessageType { MessageType(rawValue: 4) }
    /// Vote request (5).
    @inlinable public static var msgVote: MessageType { MessageType(rawValue: 5) }
    /// Vote answer (6).
    @inlinable public static var msgVoteResp: MessageType { MessageType(rawValue: 6) }
    /// Snapshot (7); travels as the head of a `POST /raft/snapshot` body.
    @inlinable public static var msgSnap: MessageType { MessageType(rawValue: 7) }
    /// Heartbeat (8). With `from` and `to` both 0 it is rafthttp's link heartbeat.
    @inlinable public static var msgHeartbeat: MessageType { MessageType(rawValue: 8) }
    /// Heartbeat answer (9).
    @inlinable public static var msgHeartbeatResp: MessageType { MessageType(rawValue: 9) }
    /// Local: a peer is unreachable (10).
    @inlinable public static var msgUnreachable: MessageType { MessageType(rawValue: 10) }
    /// Local: how a snapshot send ended (11).
    @inlinable public static var msgSnapStatus: MessageType { MessageType(rawValue: 11) }
    /// Local: check quorum (12).
    @inlinable public static var msgCheckQuorum: MessageType { MessageType(rawValue: 12) }
    /// Leadership transfer request (13).
    @inlinable public static var msgTransferLeader: MessageType { MessageType(rawValue: 13) }
    /// Start an election now, for a leadership transfer (14).
    @inlinable public static var msgTimeoutNow: MessageType { MessageType(rawValue: 14) }
    /// Linearizable read request (15).
    @inlinable public static var msgReadIndex: MessageType { MessageType(rawValue: 15) }
    /// Linearizable read answer (16).
    @inlinable public static var msgReadIndexResp: MessageType { MessageType(rawValue: 16) }
    /// Pre-vote request (17).
    @inlinable public static var msgPreVote: MessageType { MessageType(rawValue: 17) }
    /// Pre-vote answer (18).
    @inlinable public static var msgPreVoteResp: MessageType { MessageType(rawValue: 18) }

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
