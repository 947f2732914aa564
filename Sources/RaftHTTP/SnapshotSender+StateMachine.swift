// The snapshot sender's decisions, without I/O: where the transfer is, and what to do on each
// event (the start, the answer's head, body and end, a failure, the response timer, a cancel).
// The machine reads no clock: its one duration is the response timeout, which it hands out as a
// timer to arm, and the timer's firing comes back as an event; tests drive it with a manual
// clock and no sockets. `SnapshotSender` carries out the actions; the story is there.
//
//   idle          --start-->                                    posting (the body streams)
//   idle          --cancel-->                                   done (raft hears .failure; no post, ever)
//   posting       --head-->                                     awaitingBody (the response timer runs)
//   posting       --end without a head, failure-->              done (.failure)
//   awaitingBody  --end-->                                      done (204: .finish; else .failure)
//   awaitingBody  --failure, response timer-->                  done (.failure)
//   posting, awaitingBody  --cancel-->                          cancelling (the request is cancelled)
//   cancelling    --the request's end-->                        done (judged as without the cancel)
//   done          --anything-->                                 done, nothing to do
//
// Every way into `done` reports to raft exactly once, and closes the source before that report.
import Logging
import PeerHTTP
import RaftIO
import RaftPB

extension SnapshotSender {
    /// The sender's states and transitions. Every mutating method is one event and returns what
    /// the shell must do, in order. Not thread-safe: the shell calls it on its loop only.
    struct StateMachine {
        /// What the machine needs to know of the snapshot and the transport; fixed for its life.
        struct Configuration: Sendable, Equatable {
            var peerID: UInt64
            /// The MsgSnap's snapshot index, for the log.
            var snapshotIndex: UInt64
            /// The database bytes the source declared.
            var size: UInt64
            /// The bytes of the body's head (the length-prefixed MsgSnap) sent before the database.
            var headBytes: Int
            /// How long the answer's body may take once its head arrived (loop ms;
            /// etcd's `snapResponseReadTimeout`).
            var responseTimeout: UInt64

            init(peerID: UInt64, snapshotIndex: UInt64, size: UInt64, headBytes: Int,
                 responseTimeout: UInt64 = Wire.Timeout.snapshotResponse.milliseconds) {
                self.peerID = peerID
                self.snapshotIndex = snapshotIndex
                self.size = size
                self.headBytes = headBytes
                self.responseTimeout = responseTimeout
            }
        }

        /// One log line: etcd's message and metadata.
        struct LogLine: Equatable, Sendable {
            var level: Logger.Level
            var message: String
            var metadata: Logger.Metadata
        }

        /// Why a transfer failed: the error itself goes to the source (callers may inspect its
        /// type); actions compare by its text, which is what the log and the peer status show.
        struct Failure: Equatable, Sendable, CustomStringConvertible {
            let error: any Error
            init(_ error: any Error) { self.error = error }
            var description: String { "\(error)" }
            static func == (a: Failure, b: Failure) -> Bool { a.description == b.description }
        }

        /// What the shell does, in the order given.
        enum Action: Equatable, Sendable {
            /// POST the MsgSnap and the database to `<url>/raft/snapshot` (the body streams from
            /// the source in a task of its own).
            case post(PeerURL)
            /// Arm the response timer: ``responseTimerFired()`` after `after` loop ms.
            case startResponseTimer(after: UInt64)
            case cancelResponseTimer
            /// Cancel the request; its end comes back (as a failure) and is then ignored or
            /// judged, as the machine decided.
            case cancelRequest
            /// The transfer is over: forget the request, leave the peer's set of senders, one
            /// transfer fewer in flight.
            case endTransfer
            /// Move the peer's URL picker past `url`.
            case markURLUnreachable(PeerURL)
            case activatePeer
            /// The peer is inactive (failure type `sendMsgSnap post`) for `reason`.
            case deactivatePeer(reason: String)
            /// Send to the user's critical-error stream (this member was removed).
            case reportCriticalError(RaftHTTPError)
            /// Count a delivered snapshot: `bytes` sent to the peer, one success, the duration.
            case countSuccess(bytes: Int64)
            /// Count a failed snapshot: one send failure to the peer, one snapshot send failure.
            case countFailure
            /// Close the source with `nil` (delivered) or the failure.
            case closeSource(Failure?)
            /// Raft hears the peer is unreachable.
            case reportUnreachable
            /// Raft hears how the snapshot ended.
            case reportSnapshot(SnapshotStatus)
            case log(LogLine)
        }

        /// The POST in flight.
        struct Request {
            var url: PeerURL
            /// The answer's status, once its head arrived (the response timer runs from then).
            var status: Int?
            /// The start of the answer's body, for the error of an unexpected status.
            var body: [UInt8] = []
        }

        enum State {
            /// Not started.
            case idle
            /// The POST is out and its body streams; no answer yet. No deadline: a slow link still
            /// delivers a large database.
            case posting(Request)
            /// The answer's head arrived; its body must end within the response timeout.
            case awaitingBody(Request)
            /// Cancelled while the request was out: waiting for the request's end.
            case cancelling(Request)
            /// Raft heard the outcome.
            case done
        }

        /// The most of an answer's body kept for an error (etcd's error bodies are one short line).
        static let bodyLimit = 512

        let configuration: Configuration
        private(set) var state: State = .idle

        init(configuration: Configuration) {
            self.configuration = configuration
        }

        /// Whether a request was posted and has not ended (the shell keeps its task only then).
        var isRequestOpen: Bool {
            switch state {
            case .posting, .awaitingBody, .cancelling: true
            case .idle, .done: false
            }
        }

        var isDone: Bool {
            if case .done = state { return true }
            return false
        }

        // MARK: - events

        /// Posts to `url` (the picker's current URL). Only the first start counts; a start after
        /// a cancel does nothing (raft already heard `.failure`).
        mutating func start(url: PeerURL) -> [Action] {
            guard case .idle = state else { return [] }
            state = .posting(Request(url: url))
            return [.log(LogLine(level: .info, message: "sending database snapshot",
                                 metadata: metadata(["bytes": "\(configuration.size)"]))),
                    .post(url)]
        }

        /// The answer's head arrived: its body is now read under the response timeout.
        mutating func headReceived(status: Int) -> [Action] {
            guard case .posting(var request) = state else { return [] }
            request.status = status
            state = .awaitingBody(request)
            return [.startResponseTimer(after: configuration.responseTimeout)]
        }

        /// Body bytes of the answer arrived: the first ``bodyLimit`` are kept for an error.
        mutating func bodyReceived(_ bytes: UnsafeRawBufferPointer) {
            guard case .awaitingBody(var request) = state, request.body.count < Self.bodyLimit else { return }
            state = .done // keep the body uniquely referenced while appending
            request.body.append(contentsOf: bytes.prefix(Self.bodyLimit - request.body.count))
            state = .awaitingBody(request)
        }

        /// The answer ended: 204 means the peer stored the database and its raft processed the
        /// MsgSnap; 403, this member was removed; anything else is a failure.
        mutating func finished() -> [Action] {
            switch state {
            case .posting(let request), .awaitingBody(let request), .cancelling(let request):
                state = .done
                return judge(request)
            case .idle, .done:
                return []
            }
        }

        /// The request failed: connection, TLS, the source (short read or its own error), or the
        /// cancel this machine asked for.
        mutating func failed(_ error: any Error) -> [Action] {
            switch state {
            case .posting(let request), .awaitingBody(let request), .cancelling(let request):
                state = .done
                return failure(url: request.url, Failure(error), timerArmed: request.status != nil)
            case .idle, .done:
                return []
            }
        }

        /// The response timer fired: the answer's body did not end in time; the request is
        /// cancelled (its end is then ignored) and the transfer fails with the timeout.
        mutating func responseTimerFired() -> [Action] {
            guard case .awaitingBody(let request) = state else { return [] }
            state = .done
            let error = Self.responseTimedOut(peerID: configuration.peerID, url: request.url,
                                              status: request.status ?? 0, after: configuration.responseTimeout)
            return [.cancelRequest] + failure(url: request.url, Failure(error), timerArmed: false)
        }

        /// Cancels the transfer (the peer is removed, the transport stops). Before the post: raft
        /// hears `.failure` now and nothing is ever posted. During it: the request is cancelled,
        /// and its end (the client's "cancelled", or a better reason from the source) ends the
        /// transfer. A second cancel, or one after the end, does nothing.
        mutating func cancel() -> [Action] {
            switch state {
            case .idle:
                state = .done
                return failure(url: nil, Failure(RaftHTTPError.transportStopped()), timerArmed: false)
            case .posting(let request), .awaitingBody(let request):
                state = .cancelling(request)
                return [.cancelRequest]
            case .cancelling, .done:
                return []
            }
        }

        // MARK: - helpers

        /// The answer's body did not end within `after` ms of its head.
        static func responseTimedOut(peerID: UInt64, url: PeerURL, status: Int, after milliseconds: UInt64) -> RaftHTTPError {
            let limit = milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
            return .snapshotResponseTimedOut(peer: peerID, url: url.description, status: status, limit: limit)
        }

        private func metadata(_ extra: Logger.Metadata) -> Logger.Metadata {
            var m: Logger.Metadata = ["remote-peer-id": "\(MemberID(configuration.peerID))",
                                      "snapshot-index": "\(configuration.snapshotIndex)"]
            m.merge(extra) { _, new in new }
            return m
        }

        /// The answer ended: what its status means.
        private func judge(_ request: Request) -> [Action] {
            let c = configuration
            let url = request.url.description
            let status = request.status ?? 0 // the client ends no answer without a head; as status 0
            let timerArmed = request.status != nil
            switch status {
            case 204:
                return (timerArmed ? [.cancelResponseTimer] : [])
                    + [.endTransfer, .activatePeer,
                       .countSuccess(bytes: Int64(clamping: UInt64(c.headBytes) + c.size)),
                       .closeSource(nil), .reportSnapshot(.finish),
                       .log(LogLine(level: .info, message: "sent database snapshot", metadata: metadata(["bytes": "\(c.size)"])))]
            case 403:
                let error = RaftHTTPError.memberRemoved(peer: c.peerID, url: url, status: status)
                return [.reportCriticalError(error)] + failure(url: request.url, Failure(error), timerArmed: timerArmed)
            default:
                let text = String(decoding: request.body, as: UTF8.self).trimmingCharacters(in: "\n")
                let error = RaftHTTPError.unexpectedStatus(peer: c.peerID, url: url, status: status,
                                                           what: "sending snapshot to", body: text)
                return failure(url: request.url, Failure(error), timerArmed: timerArmed)
            }
        }

        /// The transfer failed: the URL (when one was posted to) is passed over next time, the
        /// peer is inactive, the source is closed with the reason, and only then raft hears
        /// unreachable and `.failure` (whoever waits for the report finds the source closed).
        private func failure(url: PeerURL?, _ failure: Failure, timerArmed: Bool) -> [Action] {
            var actions: [Action] = timerArmed ? [.cancelResponseTimer] : []
            actions.append(.endTransfer)
            if let url { actions.append(.markURLUnreachable(url)) }
            actions += [.deactivatePeer(reason: failure.description), .countFailure, .closeSource(failure),
                        .reportUnreachable, .reportSnapshot(.failure),
                        .log(LogLine(level: .warning, message: "failed to send database snapshot",
                                     metadata: metadata(["error": "\(failure)"])))]
            return actions
        }
    }
}
