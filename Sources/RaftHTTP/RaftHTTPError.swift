// Errors of the transport, for people and for code. A person reads `description`, which names the
// peer, the URL and both sides of a mismatch; code compares `code` with the static members.
import RaftPB

/// An error of the peer transport: a refusal by a peer, a failed transfer, a misuse of the API.
///
/// `description` is meant for a log line an operator can act on, for example
/// `peer 8e9e05c52164694d at http://127.0.0.1:2380 rejected the request: cluster ID mismatch
/// (local 64d937c925e41b58, remote 1)`.
public struct RaftHTTPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure; an open set, compare against the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case memberRemoved, clusterIDMismatch, incompatibleVersion, peerNotFound, toMismatch
            case unsupportedStreamType, unexpectedStatus, snapshotShortRead, snapshotSizeMismatch, snapshotResponseTimedOut
            case transportStopped, unknownPeer, invalidPeerURL
        }

        fileprivate let base: Base

        /// This member was removed from the cluster (410 on a stream, 403 on a post). Fatal: the
        /// transport stops dialing and reports it on the critical-error stream.
        public static let memberRemoved = Code(base: .memberRemoved)
        /// The peer belongs to another cluster (412 "cluster ID mismatch").
        public static let clusterIDMismatch = Code(base: .clusterIDMismatch)
        /// The peer's version and ours cannot talk (412 "incompatible version").
        public static let incompatibleVersion = Code(base: .incompatibleVersion)
        /// The peer does not know this member (404 on a stream dial).
        public static let peerNotFound = Code(base: .peerNotFound)
        /// The peer is not the member we meant to reach (412 "to field mismatch").
        public static let toMismatch = Code(base: .toMismatch)
        /// The peer is too old for the stream type.
        public static let unsupportedStreamType = Code(base: .unsupportedStreamType)
        /// The peer answered with a status this exchange does not expect.
        public static let unexpectedStatus = Code(base: .unexpectedStatus)
        /// The snapshot database ended before its declared size.
        public static let snapshotShortRead = Code(base: .snapshotShortRead)
        /// The snapshot database did not have the declared size.
        public static let snapshotSizeMismatch = Code(base: .snapshotSizeMismatch)
        /// A snapshot's answer did not end within etcd's 5 s of its head (`snapResponseReadTimeout`).
        public static let snapshotResponseTimedOut = Code(base: .snapshotResponseTimedOut)
        /// The transport was stopped.
        public static let transportStopped = Code(base: .transportStopped)
        /// No peer has this ID.
        public static let unknownPeer = Code(base: .unknownPeer)
        /// A peer URL is not `http(s)://host:port`.
        public static let invalidPeerURL = Code(base: .invalidPeerURL)

        public var description: String {
            switch base {
            case .memberRemoved: "member removed"
            case .clusterIDMismatch: "cluster ID mismatch"
            case .incompatibleVersion: "incompatible version"
            case .peerNotFound: "peer not found"
            case .toMismatch: "to field mismatch"
            case .unsupportedStreamType: "unsupported stream type"
            case .unexpectedStatus: "unexpected status"
            case .snapshotShortRead: "snapshot short read"
            case .snapshotSizeMismatch: "snapshot size mismatch"
            case .snapshotResponseTimedOut: "snapshot response timed out"
            case .transportStopped: "transport stopped"
            case .unknownPeer: "unknown peer"
            case .invalidPeerURL: "invalid peer URL"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// The peer involved, when there is one.
    public let peer: MemberID?
    /// The URL that was dialed or posted to, when there is one.
    public let url: String?
    /// The HTTP status the peer answered, when it answered.
    public let status: Int?
    private let detail: String

    private init(_ code: Code, peer: UInt64? = nil, url: String? = nil, status: Int? = nil, _ detail: String) {
        self.code = code
        self.peer = peer.map(MemberID.init(rawValue:))
        self.url = url
        self.status = status
        self.detail = detail
    }

    public var description: String { detail }

    private static func who(_ peer: UInt64, _ url: String?) -> String {
        "peer \(MemberID(peer))" + (url.map { " at \($0)" } ?? "")
    }

    /// This member was removed from the cluster; `peer` told us so (410 or 403).
    static func memberRemoved(peer: UInt64, url: String?, status: Int) -> RaftHTTPError {
        RaftHTTPError(.memberRemoved, peer: peer, url: url, status: status,
                      "the member has been permanently removed from the cluster (\(who(peer, url)) answered \(status))")
    }

    /// `peer` refused our request with 412 because its cluster ID (`remote`, `nil` when it sent
    /// none) is not ours.
    static func clusterIDMismatch(peer: UInt64, url: String?, local: UInt64, remote: String?) -> RaftHTTPError {
        RaftHTTPError(.clusterIDMismatch, peer: peer, url: url, status: 412,
                      "\(who(peer, url)) rejected the request: cluster ID mismatch "
                          + "(local \(MemberID(local)), remote \(remote ?? "unknown"))")
    }

    /// `peer` refused us with 412 "incompatible version"; `localVersion` and `localMinCluster` are
    /// the versions we sent (our configuration's), `remoteVersion` is its `X-Server-Version`.
    static func incompatibleVersion(peer: UInt64, url: String?, localVersion: String, localMinCluster: String,
                                    remoteVersion: String?) -> RaftHTTPError {
        RaftHTTPError(.incompatibleVersion, peer: peer, url: url, status: 412,
                      "\(who(peer, url)) rejected the request: incompatible version (local \(localVersion) "
                          + "min cluster \(localMinCluster), remote \(remoteVersion ?? "unknown"))")
    }

    /// `peer` answered 404 to a stream dial: it does not know `local` (etcd: "peer X failed to
    /// find local node Y").
    static func peerNotFound(peer: UInt64, url: String?, local: UInt64) -> RaftHTTPError {
        RaftHTTPError(.peerNotFound, peer: peer, url: url, status: 404,
                      "\(who(peer, url)) failed to find local member \(MemberID(local))")
    }

    /// `peer` answered 412 "to field mismatch": the member at `url` is not `peer`.
    static func toMismatch(peer: UInt64, url: String?) -> RaftHTTPError {
        RaftHTTPError(.toMismatch, peer: peer, url: url, status: 412,
                      "\(who(peer, url)) rejected the stream: to field mismatch (another member listens there)")
    }

    /// Classifies a 412 answer by its body, as etcd's reader and pipeline do (the body with its
    /// newline trimmed is compared with etcd's texts). `remoteClusterID` and `remoteVersion` are the
    /// answer's `X-Etcd-Cluster-ID` and `X-Server-Version`, for the log.
    static func preconditionFailed(peer: UInt64, url: String?, body: String, local: LocalIdentity,
                                   remoteClusterID: String?, remoteVersion: String?) -> RaftHTTPError {
        let text = body.hasSuffix("\n") ? String(body.dropLast()) : body
        switch text {
        case Wire.ErrorResponse.incompatibleVersion.text:
            return .incompatibleVersion(peer: peer, url: url, localVersion: local.serverVersion,
                                        localMinCluster: local.minClusterVersion, remoteVersion: remoteVersion)
        case Wire.ErrorResponse.clusterIDMismatch.text:
            return .clusterIDMismatch(peer: peer, url: url, local: local.clusterID, remote: remoteClusterID)
        case Wire.ErrorResponse.toFieldMismatch.text:
            return .toMismatch(peer: peer, url: url)
        default:
            return .unexpectedStatus(peer: peer, url: url ?? "", status: 412, what: "talking to", body: body)
        }
    }

    /// `peer` runs `remoteVersion`, which does not serve `stream`.
    static func unsupportedStreamType(peer: UInt64, url: String?, stream: String, remoteVersion: String) -> RaftHTTPError {
        RaftHTTPError(.unsupportedStreamType, peer: peer, url: url,
                      "\(who(peer, url)) runs etcd \(remoteVersion), which does not support \(stream)")
    }

    /// `peer` answered `status` where the exchange `what` expects something else; `body` is the
    /// start of its answer (etcd: "unexpected http status %s while posting to %q").
    static func unexpectedStatus(peer: UInt64, url: String, status: Int, what: String, body: String = "") -> RaftHTTPError {
        let trimmed = body.hasSuffix("\n") ? String(body.dropLast()) : body
        let shown = trimmed.isEmpty ? "" : ": \(trimmed.prefix(200))"
        return RaftHTTPError(.unexpectedStatus, peer: peer, url: url, status: status,
                             "unexpected http status \(status) while \(what) \(who(peer, url))\(shown)")
    }

    /// The database source ended after `read` of its `expected` bytes (etcd: "ioutil: short read").
    static func snapshotShortRead(peer: UInt64, read: UInt64, expected: UInt64) -> RaftHTTPError {
        RaftHTTPError(.snapshotShortRead, peer: peer,
                      "snapshot to peer \(MemberID(peer)) failed: the database ended after \(read) of \(expected) bytes")
    }

    /// The answer (`status`) of `peer` at `url` to a snapshot did not end within `limit` of its head.
    static func snapshotResponseTimedOut(peer: UInt64, url: String, status: Int, limit: String) -> RaftHTTPError {
        RaftHTTPError(.snapshotResponseTimedOut, peer: peer, url: url, status: status,
                      "snapshot to peer \(MemberID(peer)) at \(url) failed: response timed out: the body of its \(status) "
                          + "answer did not end within \(limit) of the head")
    }

    /// A received database had `received` bytes where the MsgSnap declared `expected`.
    static func snapshotSizeMismatch(peer: UInt64, received: UInt64, expected: UInt64) -> RaftHTTPError {
        RaftHTTPError(.snapshotSizeMismatch, peer: peer,
                      "snapshot from peer \(MemberID(peer)) has \(received) bytes, the message declared \(expected)")
    }

    /// A call on a transport that was stopped.
    static func transportStopped() -> RaftHTTPError {
        RaftHTTPError(.transportStopped, "transport stopped")
    }

    /// A call naming a peer the transport does not have (etcd: "member not found").
    static func unknownPeer(_ peer: UInt64) -> RaftHTTPError {
        RaftHTTPError(.unknownPeer, peer: peer, "member not found: no peer \(MemberID(peer))")
    }

    /// `url` is not a usable peer URL; `reason` says why in etcd's words.
    static func invalidPeerURL(_ url: String, _ reason: String) -> RaftHTTPError {
        RaftHTTPError(.invalidPeerURL, url: url, "invalid peer URL \"\(url)\": \(reason)")
    }
}

/// What we told a peer about ourselves (cluster ID and versions, from the configuration), for
/// errors that compare it with what the peer answered.
struct LocalIdentity: Sendable, Hashable {
    var clusterID: UInt64
    var serverVersion: String
    var minClusterVersion: String

    init(clusterID: UInt64, serverVersion: String, minClusterVersion: String) {
        self.clusterID = clusterID
        self.serverVersion = serverVersion
        self.minClusterVersion = minClusterVersion
    }

    init(_ configuration: Transport.Configuration) {
        self.init(clusterID: configuration.clusterID, serverVersion: configuration.serverVersion,
                  minClusterVersion: configuration.minClusterVersion)
    }
}
