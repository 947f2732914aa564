// The stream reader's decisions, without I/O: which state the stream is in, and what to do on
// each event (a dial's answer, bytes, the end or failure of the connection, a timer). Time enters
// only as loop milliseconds passed into the events, so tests drive it with a manual clock and no
// sockets. `StreamReader` carries out the actions; the story of the failure modes is there.
//
//   idle          --start-->                                      awaitingHead
//   awaitingHead  --200-->                                        reading
//   awaitingHead  --another status-->                             refused (its body is kept for the log)
//   awaitingHead  --200 from a too-old peer, failure, timeout-->  backingOff
//   refused       --end, failure, timeout-->                      backingOff
//   reading       --EOF, failure, bad frame, timeout-->           backingOff
//   backingOff    --redial timer-->                               awaitingHead
//
// Redials back off: the n-th consecutive connection that ends without a 200 waits
// min(cap, dialRetryFrequency * 2^n), less up to `jitter` of that at random; a 200 starts over at
// dialRetryFrequency. A 410 or 412 will not fix itself: it goes to the cap at once. With the cap at
// dialRetryFrequency and no jitter this is etcd's fixed 100 ms.
//   any           --stop-->                                       stopped (later events do nothing)
//
// The hot path is `bodyReceived` while reading: a state check and a time stamp, no allocation.
// The I/O shell owns the decoder and decodes only when told to.
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import RaftStreamCodec

extension StreamReader {
    /// The reader's states and transitions. Every mutating method is one event and returns what
    /// the shell must do, in order. Not thread-safe: the shell calls it on its loop only.
    struct StateMachine {
        /// What the machine needs to know of the transport and the peer; fixed for its life.
        struct Configuration: Sendable {
            var type: StreamType
            var peerID: UInt64
            var localID: UInt64
            /// Our cluster ID and versions, as sent to the peer.
            var local: LocalIdentity
            /// No byte (or no answer to the dial) for this long kills the link (loop ms).
            var readTimeout: UInt64
            /// The first wait between the end of a connection and the next dial (loop ms).
            var dialRetryFrequency: UInt64
            /// The longest wait: consecutive failures double the wait up to here (loop ms).
            var dialRetryMaximum: UInt64
            /// The fraction of each wait taken off at random (0 ... 1), so that readers that failed
            /// together do not redial together.
            var dialRetryJitter: Double
            /// Seeds the jitter's generator (a test passes a fixed one).
            var jitterSeed: UInt64

            /// How often the read timeout is checked (loop ms): five times per timeout.
            var checkEvery: UInt64 { max(1, readTimeout / 5) }

            init(type: StreamType, peerID: UInt64, localID: UInt64, local: LocalIdentity,
                 readTimeout: UInt64, dialRetryFrequency: UInt64, dialRetryMaximum: UInt64? = nil,
                 dialRetryJitter: Double = 0, jitterSeed: UInt64 = 0) {
                self.dialRetryMaximum = max(dialRetryFrequency, dialRetryMaximum ?? dialRetryFrequency)
                self.dialRetryJitter = min(1, max(0, dialRetryJitter))
                self.jitterSeed = jitterSeed
                self.type = type
                self.peerID = peerID
                self.localID = localID
                self.local = local
                self.readTimeout = readTimeout
                self.dialRetryFrequency = dialRetryFrequency
            }

            init(type: StreamType, peerID: UInt64, transport c: Transport.Configuration) {
                self.init(type: type, peerID: peerID, localID: c.localID, local: LocalIdentity(c),
                          readTimeout: c.connectionReadTimeout.milliseconds,
                          dialRetryFrequency: c.dialRetryFrequency.milliseconds,
                          dialRetryMaximum: c.dialRetryMaximum.milliseconds, dialRetryJitter: c.dialRetryJitter,
                          jitterSeed: UInt64.random(in: 0...UInt64.max))
            }
        }

        /// One log line: etcd's message and metadata. With `rateLimitKey` it goes through the
        /// transport's once-a-second limiter under that key.
        struct LogLine: Equatable, Sendable {
            var level: Logger.Level
            var message: String
            var metadata: Logger.Metadata
            var rateLimitKey: String?
        }

        /// What the shell does, in the order given.
        enum Action: Equatable, Sendable {
            /// Arm the repeating read-timeout check: every `every` ms until stop.
            case startReadTimeoutChecks(every: UInt64)
            /// `GET <url>/raft/stream/<type>/<local id>` with etcd's headers; counts a stream dial.
            case dial(PeerURL)
            /// The peer answered 200: make the decoder for the type; the reader now reports reading.
            case startReading
            /// The peer is active (a successful dial).
            case activatePeer
            /// The peer is inactive: `failure` says which channel and what it was doing.
            case deactivatePeer(FailureType, reason: String)
            /// Send to the user's critical-error stream (this member was removed).
            case reportCriticalError(RaftHTTPError)
            /// The link is dead and nothing closed it: raft hears the peer is unreachable and our
            /// stream writers to the peer, which write into the same dead link, are closed.
            case linkTimedOut(reason: String)
            /// Move the peer's URL picker past `url`.
            case markURLUnreachable(PeerURL)
            case log(LogLine)
            /// Drop the connection: cancel it if still open (its later callbacks are ignored),
            /// drop the decoder; the reader no longer reports reading.
            case closeConnection
            /// Dial again after `after` ms.
            case scheduleRedial(after: UInt64)
            /// Cancel the read-timeout check and the redial timer for good.
            case cancelTimers
        }

        /// What to do with body bytes; the only answer on the hot path.
        enum BodyAction: Equatable, Sendable {
            /// Count the bytes and decode them; a decoding error goes to ``decodeFailed(_:)``.
            case decode
            /// Nothing (the bytes were kept as a refusal's body, or belong to no live stream).
            case ignore
        }

        /// A non-200 answer whose body we are collecting, for the log.
        struct Refusal {
            var url: PeerURL
            var status: Int
            var remoteClusterID: String?
            var remoteVersion: String?
            var body: [UInt8] = []
        }

        enum State {
            /// Not started.
            case idle
            /// Dialed `url`; no answer yet.
            case awaitingHead(url: PeerURL)
            /// The peer answered with a status other than 200; its body is arriving.
            case refused(Refusal)
            /// The peer answered 200; stream bytes arrive and are decoded.
            case reading(url: PeerURL)
            /// The connection ended; a redial is scheduled.
            case backingOff
            /// Stopped for good.
            case stopped
        }

        /// The most of a refusal's body kept for the log (etcd's error bodies are one short line).
        static let refusalBodyLimit = 512
        /// Logged (rate-limited) when a dial fails before any HTTP answer.
        static let dialFailed = "failed to dial remote peer"

        let configuration: Configuration
        private(set) var state: State = .idle
        /// When we dialed, the peer answered 200, or the last stream byte came (loop ms): the read
        /// timeout counts from here. A refusal's body does not move it.
        private var lastReadAt: UInt64 = 0
        /// When the read timeout was last checked, or the checks started (loop ms).
        private var lastCheckAt: UInt64 = 0
        /// Connections in a row that ended without a 200: the exponent of the next wait.
        private var failuresInARow = 0
        /// The jitter's generator state (SplitMix64).
        private var random: UInt64

        /// `failuresInARow` that puts every wait at the cap.
        private static let atCap = 62

        init(configuration: Configuration) {
            self.configuration = configuration
            random = configuration.jitterSeed
        }

        /// Whether the peer answered 200 and we read its stream.
        var isReading: Bool {
            if case .reading = state { return true }
            return false
        }

        var isStopped: Bool {
            if case .stopped = state { return true }
            return false
        }

        // MARK: - events

        /// Starts the read-timeout checks and dials `url` (the picker's current URL). Only the
        /// first start counts; a start after stop does nothing.
        mutating func start(now: UInt64, url: PeerURL) -> [Action] {
            guard case .idle = state else { return [] }
            lastCheckAt = now
            return [.startReadTimeoutChecks(every: configuration.checkEvery), dial(url, now: now)]
        }

        /// The redial timer fired: dial `url` (the picker's current URL).
        mutating func redialTimerFired(now: UInt64, url: PeerURL) -> [Action] {
            guard case .backingOff = state else { return [] }
            return [dial(url, now: now)]
        }

        /// The answer's head arrived: 200 from a peer new enough for the type starts reading.
        mutating func headReceived(_ head: HTTPResponseHead, now: UInt64) -> [Action] {
            guard case .awaitingHead(let url) = state else { return [] }
            let remoteVersion = head.headers[Wire.Header.serverVersion]
            guard head.status == 200 else {
                state = .refused(Refusal(url: url, status: head.status, remoteClusterID: head.headers[Wire.Header.clusterID],
                                         remoteVersion: remoteVersion))
                return []
            }
            let type = configuration.type
            if let version = EtcdVersion(header: remoteVersion),
               !VersionCompatibility.supportsStream(type, remoteServer: version,
                                                    localServer: EtcdVersion(configuration.local.serverVersion) ?? .localServer) {
                // Not a failure of the peer: no deactivation.
                state = .backingOff
                return [.log(LogLine(level: .warning, message: "peer does not support this stream type",
                                     metadata: metadata(["remote-version": "\(remoteVersion ?? "")"]))),
                        .closeConnection, redial()]
            }
            state = .reading(url: url)
            lastReadAt = now
            failuresInARow = 0
            return [.startReading, .activatePeer,
                    .log(LogLine(level: .info, message: "established TCP streaming connection with remote peer",
                                 metadata: metadata()))]
        }

        /// Body bytes arrived. While reading they are stream bytes to decode (and the link is
        /// alive); after a refusal they are its body, kept for the log.
        mutating func bodyReceived(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> BodyAction {
            switch state {
            case .reading:
                lastReadAt = now
                return .decode
            case .refused(var refusal):
                if refusal.body.count < Self.refusalBodyLimit {
                    state = .backingOff // keep the body uniquely referenced while appending
                    refusal.body.append(contentsOf: bytes.prefix(Self.refusalBodyLimit - refusal.body.count))
                    state = .refused(refusal)
                }
                return .ignore
            case .idle, .awaitingHead, .backingOff, .stopped:
                return .ignore
            }
        }

        /// A frame did not decode or exceeded the size limit.
        mutating func decodeFailed(_ error: any Error) -> [Action] {
            guard case .reading = state else { return [] }
            state = .backingOff
            return [.closeConnection] + lost(reason: "\(error)") + [redial()]
        }

        /// The answer ended (EOF).
        mutating func finished() -> [Action] {
            switch state {
            case .reading:
                // The peer ended the stream (a newer connection replaced it, or it is stopping):
                // a normal end in etcd, no deactivation.
                state = .backingOff
                return [.log(LogLine(level: .info, message: "lost TCP streaming connection with remote peer",
                                     metadata: metadata(["error": "EOF"]))),
                        .closeConnection, redial()]
            case .refused(let refusal):
                state = .backingOff
                return refused(refusal) + [.closeConnection, redial()]
            case .awaitingHead(let url):
                // The HTTP client ends no answer without a head; as a refusal of status 0.
                state = .backingOff
                return refused(Refusal(url: url, status: 0)) + [.closeConnection, redial()]
            case .idle, .backingOff, .stopped:
                return []
            }
        }

        /// The connection failed: no connection, TLS handshake, dial timeout, reset, closed early.
        mutating func failed(_ error: any Error) -> [Action] {
            switch state {
            case .reading:
                state = .backingOff
                return lost(reason: "\(error)") + [.closeConnection, redial()]
            case .awaitingHead(let url):
                // A peer that never became active logs no "became inactive": say why the dial failed
                // (refused, TLS handshake, timeout), once a second at most per peer and stream type.
                state = .backingOff
                let c = configuration
                return [.log(LogLine(level: .warning, message: Self.dialFailed, metadata: metadata(["error": "\(error)"]),
                                     rateLimitKey: "stream-dial-\(c.peerID)-\(c.type)")),
                        .markURLUnreachable(url), .deactivatePeer(.streamDial(c.type), reason: "\(error)"),
                        .closeConnection, redial()]
            case .refused(let refusal):
                state = .backingOff
                return refused(refusal) + [.closeConnection, redial()]
            case .idle, .backingOff, .stopped:
                return []
            }
        }

        /// The repeating read-timeout check fired at `now`.
        ///
        /// A check more than two intervals late means the loop itself was held up (a raft slow to
        /// process a batch on this loop, a paused process): bytes may be waiting that it could not
        /// read, and timers run before I/O in a loop turn. It judges nothing; the next check does,
        /// after a turn of reading.
        mutating func readTimeoutCheck(now: UInt64) -> [Action] {
            let c = configuration
            let late = now &- lastCheckAt > 2 * c.checkEvery
            lastCheckAt = now
            guard !late, now &- lastReadAt > c.readTimeout else { return [] }
            let noAnswer = "read timeout: no answer to the stream request for \(c.readTimeout) ms"
            switch state {
            case .reading:
                let reason = "read timeout: no bytes for \(c.readTimeout) ms"
                state = .backingOff
                return [.linkTimedOut(reason: reason), .closeConnection] + lost(reason: reason) + [redial()]
            case .awaitingHead(let url):
                state = .backingOff
                return [.markURLUnreachable(url), .linkTimedOut(reason: noAnswer), .closeConnection,
                        .deactivatePeer(.streamDial(c.type), reason: noAnswer), redial()]
            case .refused(let refusal):
                // The head came but its body did not end: still "no answer", then the refusal.
                state = .backingOff
                return [.markURLUnreachable(refusal.url), .linkTimedOut(reason: noAnswer), .closeConnection]
                    + refused(refusal) + [redial()]
            case .idle, .backingOff, .stopped:
                return []
            }
        }

        /// Stops for good: the connection and the timers go; no later event does anything.
        mutating func stop() -> [Action] {
            guard !isStopped else { return [] }
            state = .stopped
            return [.closeConnection, .cancelTimers]
        }

        // MARK: - helpers

        private mutating func dial(_ url: PeerURL, now: UInt64) -> Action {
            state = .awaitingHead(url: url)
            lastReadAt = now // the answer's head is awaited under the same read timeout
            return .dial(url)
        }

        /// The next redial: the wait for this many failures in a row, jittered; counts one more.
        private mutating func redial() -> Action {
            let c = configuration
            let shift = min(failuresInARow, Self.atCap)
            let (doubled, overflow) = c.dialRetryFrequency.multipliedReportingOverflow(by: UInt64(1) << UInt64(min(shift, 62)))
            let nominal = overflow || shift >= 62 ? c.dialRetryMaximum : min(c.dialRetryMaximum, doubled)
            failuresInARow = min(failuresInARow + 1, Self.atCap)
            guard c.dialRetryJitter > 0 else { return .scheduleRedial(after: nominal) }
            let off = UInt64(Double(nominal) * c.dialRetryJitter * nextUnit())
            return .scheduleRedial(after: max(1, nominal - min(off, nominal)))
        }

        /// A uniform value in [0, 1) from SplitMix64.
        private mutating func nextUnit() -> Double {
            random &+= 0x9E37_79B9_7F4A_7C15
            var z = random
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 11) / Double(UInt64(1) << 53)
        }

        private func metadata(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
            var m: Logger.Metadata = ["stream-reader-type": "\(configuration.type)",
                                      "remote-peer-id": "\(MemberID(configuration.peerID))"]
            m.merge(extra) { _, new in new }
            return m
        }

        /// What usually causes a refusal that will not fix itself, for the operator.
        static func likelyCause(_ error: RaftHTTPError) -> String {
            switch error.code {
            case .memberRemoved:
                "this member was removed from the cluster; start it again only with a new data directory after adding it back"
            case .clusterIDMismatch:
                "the members were started with different --initial-cluster or --initial-cluster-token, "
                    + "or this member's data belongs to another cluster (--initial-cluster-state new where it should be existing)"
            case .incompatibleVersion:
                "the two members run versions that cannot work together (an upgrade left half done?)"
            case .toMismatch:
                "the peer's URL now belongs to another member (a member replaced at the same address)"
            default:
                "the peer refuses this member"
            }
        }

        /// A stream we were reading failed (not EOF).
        private func lost(reason: String) -> [Action] {
            [.log(LogLine(level: .warning, message: "lost TCP streaming connection with remote peer",
                          metadata: metadata(["error": "\(reason)"]))),
             .deactivatePeer(.streamRead(configuration.type), reason: reason)]
        }

        /// A non-200 answer (spec 1.5): 410 goes to the critical-error stream; every refusal is
        /// logged (rate-limited), moves the picker past the URL and deactivates the peer. A 410 or
        /// 412 puts the redials at the cap, and its line says why and what likely caused it.
        private mutating func refused(_ r: Refusal) -> [Action] {
            let c = configuration
            let body = String(decoding: r.body, as: UTF8.self).trimmingCharacters(in: "\n")
            let url = r.url.description
            let error: RaftHTTPError
            var actions: [Action] = []
            switch r.status {
            case 410:
                error = .memberRemoved(peer: c.peerID, url: url, status: r.status)
                actions.append(.reportCriticalError(error))
            case 404:
                error = .peerNotFound(peer: c.peerID, url: url, local: c.localID)
            case 412:
                error = .preconditionFailed(peer: c.peerID, url: url, body: body, local: c.local,
                                            remoteClusterID: r.remoteClusterID, remoteVersion: r.remoteVersion)
            default:
                error = .unexpectedStatus(peer: c.peerID, url: url, status: r.status, what: "dialing \(c.type)", body: body)
            }
            var message = "\(error)"
            if r.status == 410 || r.status == 412 {
                failuresInARow = Self.atCap
                message += "; likely cause: \(Self.likelyCause(error)); redialing every \(c.dialRetryMaximum) ms until it is fixed"
            }
            actions += [.log(LogLine(level: .warning, message: message, metadata: metadata(),
                                     rateLimitKey: "stream-refused-\(c.peerID)-\(c.type)")),
                        .markURLUnreachable(r.url), .deactivatePeer(.streamDial(c.type), reason: "\(error)")]
            return actions
        }
    }
}
