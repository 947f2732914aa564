// The two long-lived stream types between peers (etcd's `streamType`, spec 1.3). The dialer reads
// and the acceptor writes, so two members hold four stream connections: each type, each way.

/// A kind of stream connection.
enum StreamType: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// `GET /raft/stream/msgapp/<id>`: MsgApp only, in the compact msgapp v2 encoding.
    case msgAppV2
    /// `GET /raft/stream/message/<id>`: any message, in the length-prefixed message encoding.
    case message

    /// The path a dialer with ID `localID` requests to receive this stream.
    func path(dialerID localID: UInt64) -> String {
        pathPrefix + String(localID, radix: 16)
    }

    /// The path up to and including the last slash.
    var pathPrefix: String {
        switch self {
        case .msgAppV2: Wire.Path.msgAppStreamPrefix
        case .message: Wire.Path.messageStreamPrefix
        }
    }

    /// etcd's name for the type, used in logs and as the source of a failure
    /// ("failed to dial 8e9e05c52164694d on stream MsgApp v2 (…)").
    var description: String {
        switch self {
        case .msgAppV2: "stream MsgApp v2"
        case .message: "stream Message"
        }
    }

    /// The type whose path prefix `path` starts with, and the rest of the path (the dialer's ID
    /// text); `nil` when the path is under neither prefix, or has more segments (etcd's 404
    /// "invalid path" compares `path.Dir`).
    static func parse(path: String) -> (type: StreamType, from: Substring)? {
        for type in StreamType.allCases where path.hasPrefix(type.pathPrefix) {
            let rest = path.dropFirst(type.pathPrefix.count)
            guard !rest.contains("/") else { return nil }
            return (type, rest)
        }
        return nil
    }
}
