// Every value that etcd 3.4's peer protocol fixes, named once. A Go peer compares paths, header
// names and error bodies byte for byte, and sizes its queues and deadlines with the same numbers, so
// none of these may drift; each says where etcd takes it from (paths relative to
// `go.etcd.io/etcd/etcdserver/api/rafthttp/` unless stated) and the spec section that checks it
// (`shared/spec/rafthttp-3.4.md`).

import RaftStreamCodec

/// Namespace for the wire protocol's fixed values.
@usableFromInline
enum Wire {
    /// The routes of the peer port (`transport.go: Handler`, spec 1.1).
    enum Path {
        /// `POST /raft`: one raft message per request (pipeline).
        static let pipeline = "/raft"
        /// Everything under this prefix is routed to the stream handler, which then checks the rest.
        static let streamPrefix = "/raft/stream/"
        /// `GET /raft/stream/msgapp/<dialer's ID>`: the msgapp v2 stream. etcd's handler compares
        /// `path.Dir` with this without the trailing slash.
        static let msgAppStreamPrefix = "/raft/stream/msgapp/"
        /// `GET /raft/stream/message/<dialer's ID>`: the general message stream.
        static let messageStreamPrefix = "/raft/stream/message/"
        /// `POST /raft/snapshot`: a MsgSnap frame followed by the database.
        static let snapshot = "/raft/snapshot"
        /// `GET /raft/probing`: the prober's target; any method answers 200 (spec 4.4).
        static let probing = "/raft/probing"
    }

    /// Header names, in Go's canonical spelling, which is what a Go peer puts on the wire (spec 1.11:
    /// etcd's source writes `X-Etcd-Cluster-ID` and `X-PeerURLs`, `net/http` sends
    /// `X-Etcd-Cluster-Id` and `X-Peerurls`). HTTP header names are case-insensitive: compare them
    /// that way, never with `==` on the raw text.
    enum Header {
        /// The sender's member ID, lower-case hex (`util.go: createPostRequest`, stream dial).
        static let serverFrom = "X-Server-From"
        /// The sender's etcd version; on stream responses also the server's (spec 1.4 row 2).
        static let serverVersion = "X-Server-Version"
        /// The lowest cluster version the sender can join.
        static let minClusterVersion = "X-Min-Cluster-Version"
        /// The cluster ID, lower-case hex; compared as an exact string (spec 1.11).
        static let clusterID = "X-Etcd-Cluster-Id"
        /// Stream requests only: the member the dialer means to reach. A mismatch is 412.
        static let raftTo = "X-Raft-To"
        /// The sender's peer URLs joined by commas; the receiver adds an unknown sender as a remote.
        static let peerURLs = "X-Peerurls"
        /// Sent with 405 answers: `GET` on streams, `POST` on `/raft` and `/raft/snapshot`.
        static let allow = "Allow"
        /// The body type of pipeline and snapshot posts and of error answers.
        static let contentType = "Content-Type"
        /// On etcd's error answers (Go's `http.Error` sets it).
        static let contentTypeOptions = "X-Content-Type-Options"
    }

    /// Content types etcd sends and expects.
    enum ContentType {
        /// Pipeline `POST /raft` body: one raw protobuf `Message`.
        static let protobuf = "application/protobuf"
        /// Snapshot `POST /raft/snapshot` body: a frame and the database.
        static let octetStream = "application/octet-stream"
        /// `http.Error` answers, and the probing answer (Go sniffs it).
        static let plainText = "text/plain; charset=utf-8"
        /// The 403 answer for a removed member (`httptypes.HTTPError.WriteTo`).
        static let json = "application/json"
    }

    /// The versions this transport claims by default. The peer protocol of etcd 3.4 and 3.5 is the
    /// same on the wire; we also serve 3.5's peer routes, so by default we say we are the newest
    /// etcd we implement and test against, 3.5.1. A cluster settles its version on its oldest
    /// member's `major.minor`: in a 3.4 cluster configure 3.4.23 (`Transport.Configuration.serverVersion`,
    /// `rafthttp peer --server-version`) so that its leader does not warn about a newer member.
    @usableFromInline
    enum Version {
        /// Sent as `X-Server-Version` (`version.Version`), unless configured otherwise.
        @usableFromInline static let server = "3.5.1"
        /// Sent as `X-Min-Cluster-Version` (`version.MinClusterVersion`: "3.0.0" in 3.4 and 3.5 alike).
        @usableFromInline static let minCluster = "3.0.0"
        /// Assumed when a peer leaves a version header out: etcd 2.0 sent none (`util.go: serverVersion`).
        static let assumedWhenMissing = "2.0.0"
    }

    /// Capacities of queues and frames (spec 1.13). Changing one changes when etcd-compatible
    /// senders start dropping, which raft tolerates but operators notice.
    @usableFromInline
    enum Limit {
        /// Messages queued per pipeline (`pipelineBufSize`).
        @usableFromInline static let pipelineBuffer = 64
        /// Concurrent posts per pipeline (`connPerPipeline`).
        @usableFromInline static let pipelineWorkers = 4
        /// A message-stream frame above this is refused (`readBytesLimit`, "error limit exceeded");
        /// also our default cap on a pipeline body and a snapshot's message head. The value lives
        /// with the codecs, the lowest layer that enforces it.
        @usableFromInline static let messageFrame = MessageStreamDecoder.defaultLimit
        /// Bytes queued per stream writer before messages are dropped. etcd counts messages (4096,
        /// `streamBufSize`); we count bytes, so that 4096 large appends cannot queue gigabytes.
        @usableFromInline static let streamQueueBytes = 64 << 20
    }

    /// Deadlines and periods (spec 1.14).
    @usableFromInline
    enum Timeout {
        /// `ConnReadTimeout`: per-read deadline on stream connections; link heartbeats go out every
        /// third of it, so two may be lost before the reader times out.
        @usableFromInline static let connRead: Duration = .seconds(5)
        /// Probe period: `ConnReadTimeout − 1 s`, so a probe ends before a read deadline would.
        static let probeInterval: Duration = .seconds(4)
        /// How often a healthy prober's status is checked (`statusMonitoringInterval`).
        static let probeMonitorHealthy: Duration = .seconds(30)
        /// How often an unhealthy one is checked, and the first check (`statusErrorInterval`).
        static let probeMonitorUnhealthy: Duration = .seconds(5)
        /// A clock drift above this is warned about (positive drift only, as etcd).
        static let clockDriftWarning: Duration = .seconds(1)
        /// Stream redial rate (`rate.Every(100ms)`, burst 1), the default dial retry frequency.
        @usableFromInline static let streamRedial: Duration = .milliseconds(100)
        /// Dial timeout as etcd configures it: 1 s + the 1 s default election timeout.
        @usableFromInline static let dial: Duration = .seconds(2)
        /// Time to read a snapshot post's response body once its headers arrived (`snapResponseReadTimeout`).
        static let snapshotResponse: Duration = .seconds(5)
    }
}

extension Wire {
    /// An answer etcd's handlers give to a request they refuse: status, content type and the body,
    /// byte for byte. Peers read these bodies (a 412 is classified by its text), so they are wire
    /// constants like the paths.
    struct ErrorResponse: Hashable, Sendable {
        /// The HTTP status code.
        let status: Int
        /// The `Content-Type` etcd sends with it.
        let contentType: String
        /// The exact body.
        let body: String
        /// For 405: the `Allow` header.
        let allow: String?

        /// What Go's `http.Error(w, text, status)` writes: plain text and a trailing newline.
        static func plain(_ status: Int, _ text: String, allow: String? = nil) -> ErrorResponse {
            ErrorResponse(status: status, contentType: ContentType.plainText, body: text + "\n", allow: allow)
        }

        /// The body without the trailing newline `http.Error` adds; what a reader matches.
        var text: String {
            body.hasSuffix("\n") ? String(body.dropLast()) : body
        }

        // MARK: every route

        /// 405 on the stream route (`Allow: GET`).
        static let streamMethodNotAllowed = plain(405, "Method Not Allowed", allow: "GET")
        /// 405 on `/raft` and `/raft/snapshot` (`Allow: POST`).
        static let postMethodNotAllowed = plain(405, "Method Not Allowed", allow: "POST")
        /// 412: the versions are incompatible (spec 1.11 rule).
        static let incompatibleVersion = plain(412, "incompatible version")
        /// 412: `X-Etcd-Cluster-ID` differs from ours.
        static let clusterIDMismatch = plain(412, "cluster ID mismatch")
        /// 403 from `Process` for a message from a removed member; JSON, **no** trailing newline
        /// (`httptypes.HTTPError.WriteTo` writes `json.Marshal` output only).
        static let removedMemberForbidden = ErrorResponse(
            status: 403, contentType: ContentType.json,
            body: #"{"message":"cannot process message from removed member"}"#, allow: nil)
        /// What etcd's peer mux answers for any other path (`http.NotFound`).
        static let notFound = plain(404, "404 page not found")

        // MARK: streams (`streamHandler`, spec 1.4)

        /// 404: the path is neither stream type.
        static let invalidPath = plain(404, "invalid path")
        /// 404: the last path segment is not a hex member ID.
        static let invalidFrom = plain(404, "invalid from")
        /// 410: the dialer was removed from the cluster.
        static let removedMember = plain(410, "removed member")
        /// 404: the dialer is not a peer (it is added as a remote first).
        static let senderNotFound = plain(404, "error sender not found")
        /// 412: `X-Raft-To` is not our ID.
        static let toFieldMismatch = plain(412, "to field mismatch")

        // MARK: pipeline (`pipelineHandler`, spec 1.7)

        /// 400: the body could not be read.
        static let errorReadingMessage = plain(400, "error reading raft message")
        /// 400: the body is not a protobuf `Message`.
        static let errorUnmarshallingMessage = plain(400, "error unmarshalling raft message")
        /// 500: `Process` threw something other than a removed-member error.
        static let errorProcessingMessage = plain(500, "error processing raft message")

        // MARK: snapshot (`snapshotHandler`, spec 1.8)

        /// 400: the body's head is not a `MsgSnap`.
        static let wrongRaftMessageType = plain(400, "wrong raft message type")

        /// 400: the body's head frame did not decode.
        static func failedToDecode(_ reason: String) -> ErrorResponse {
            plain(400, "failed to decode raft message (\(reason))")
        }

        /// 500: the database could not be stored.
        static func failedToSaveSnapshot(_ reason: String) -> ErrorResponse {
            plain(500, "failed to save KV snapshot (\(reason))")
        }

        /// 408: the snapshot upload delivered no byte for `timeout` (ours: etcd's per-read
        /// deadline closes the connection without an answer).
        static func snapshotStalled(_ timeout: Duration) -> ErrorResponse {
            plain(408, "snapshot receive timed out (no bytes for \(timeout))")
        }

        /// 500: `Process` threw something other than a removed-member error for the MsgSnap.
        static func failedToProcess(_ reason: String) -> ErrorResponse {
            plain(500, "failed to process raft message (\(reason))")
        }
    }
}
