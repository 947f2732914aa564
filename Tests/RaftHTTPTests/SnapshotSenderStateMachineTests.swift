@testable import RaftHTTP
import Logging
import PeerHTTP
import RaftIO
import Testing

/// The snapshot sender's decisions, driven with a manual clock: no sockets, no sleeps. Each failure
/// mode of `SnapshotSender.swift`'s opening comment has a test named after its bullet.
@Suite("snapshot sender state machine: post, answer, time out, cancel")
struct SnapshotSenderStateMachineTests {
    typealias Machine = SnapshotSender.StateMachine
    typealias Action = Machine.Action
    typealias LogLine = Machine.LogLine

    static let peerID: UInt64 = 0x8e9e05c52164694d
    static let url = try! PeerURL(parsing: "http://10.0.0.2:2380")
    static let size: UInt64 = 10 << 20
    static let headBytes = 120
    var url: PeerURL { Self.url }

    /// Snapshot index 42, a 10 MiB database after a 120-byte head, the 5 s response timeout.
    static func configuration(responseTimeout: UInt64 = 5_000) -> Machine.Configuration {
        .init(peerID: peerID, snapshotIndex: 42, size: size, headBytes: headBytes, responseTimeout: responseTimeout)
    }

    static func metadata(_ extra: Logger.Metadata) -> Logger.Metadata {
        var m: Logger.Metadata = ["remote-peer-id": "8e9e05c52164694d", "snapshot-index": "42"]
        m.merge(extra) { _, new in new }
        return m
    }

    static let sending = Action.log(LogLine(level: .info, message: "sending database snapshot",
                                            metadata: metadata(["bytes": "10485760"])))

    /// What every failure does once the transfer is over, in order: the source is closed before
    /// raft hears the outcome.
    static func failure(_ error: any Error, url: PeerURL? = url) -> [Action] {
        (url.map { [Action.markURLUnreachable($0)] } ?? [])
            + [.deactivatePeer(reason: "\(error)"), .countFailure, .closeSource(.init(error)), .reportUnreachable,
               .reportSnapshot(.failure),
               .log(LogLine(level: .warning, message: "failed to send database snapshot", metadata: metadata(["error": "\(error)"])))]
    }

    struct TestError: Error, CustomStringConvertible {
        var description: String
    }

    static let cancelled = TestError(description: "POST http://10.0.0.2:2380/raft/snapshot: cancelled")

    // MARK: - happy path

    @Test("happy path: post, 204 once the peer stored the database, the peer is active, the source is closed with no error, raft hears finish")
    func happyPath() {
        var h = Harness()
        #expect(h.start() == [Self.sending, .post(url)])
        #expect(h.head(204) == [.startResponseTimer(after: 5_000)])
        h.body("")
        #expect(h.finish() == [.cancelResponseTimer, .endTransfer, .activatePeer,
                               .countSuccess(bytes: Int64(Self.headBytes) + Int64(Self.size)), .closeSource(nil),
                               .reportSnapshot(.finish),
                               .log(LogLine(level: .info, message: "sent database snapshot", metadata: Self.metadata(["bytes": "10485760"])))])
        #expect(h.machine.isDone)
        #expect(h.statuses == [.finish])
    }

    // MARK: - failure modes, as the opening comment of SnapshotSender.swift lists them

    @Test("the source ends before `size`: short read; the body is cut off (no final chunk) so the receiver aborts")
    func shortRead() {
        var h = Harness()
        _ = h.start()
        // The client cuts the body off and ends the request with the producer's error.
        let error = RaftHTTPError.snapshotShortRead(peer: Self.peerID, read: 5_242_879, expected: 5_242_880)
        #expect(error.description == "snapshot to peer 8e9e05c52164694d failed: the database ended after 5242879 of 5242880 bytes")
        #expect(h.fail(error) == [.endTransfer] + Self.failure(error))
        #expect(h.statuses == [.failure])
    }

    @Test("the source or the connection fails: the transfer fails with that error",
          arguments: [false, true])
    func sourceOrConnectionFails(afterHead: Bool) {
        var h = Harness()
        _ = h.start()
        if afterHead { _ = h.head(204) }
        let error = TestError(description: afterHead ? "POST http://10.0.0.2:2380/raft/snapshot: connection failed during the response"
                                                     : "injected source failure")
        #expect(h.fail(error) == (afterHead ? [.cancelResponseTimer] : []) + [.endTransfer] + Self.failure(error))
        #expect(h.statuses == [.failure])
    }

    @Test("403: this member was removed: the critical-error stream hears it, and the transfer fails")
    func memberRemoved() {
        var h = Harness()
        _ = h.start()
        _ = h.head(403)
        h.body("removed member\n")
        let error = RaftHTTPError.memberRemoved(peer: Self.peerID, url: "http://10.0.0.2:2380", status: 403)
        #expect(error.description
            == "the member has been permanently removed from the cluster (peer 8e9e05c52164694d at http://10.0.0.2:2380 answered 403)")
        #expect(h.finish() == [.reportCriticalError(error), .cancelResponseTimer, .endTransfer] + Self.failure(error))
        #expect(h.statuses == [.failure])
    }

    @Test("any other status: the transfer fails with the status and the start of the answer's body")
    func unexpectedStatus() {
        var h = Harness()
        _ = h.start()
        _ = h.head(500)
        h.body(String(repeating: "x", count: 500))
        h.body(String(repeating: "y", count: 100)) // only the first 512 bytes are kept
        let error = RaftHTTPError.unexpectedStatus(peer: Self.peerID, url: "http://10.0.0.2:2380", status: 500, what: "sending snapshot to",
                                                   body: String(repeating: "x", count: 500) + String(repeating: "y", count: 12))
        #expect(error.description.hasPrefix("unexpected http status 500 while sending snapshot to peer 8e9e05c52164694d at http://10.0.0.2:2380: xxx"))
        #expect(h.finish() == [.cancelResponseTimer, .endTransfer] + Self.failure(error))
        #expect(h.statuses == [.failure])
    }

    @Test("an answer that ends without a head counts as status 0")
    func endWithoutHead() {
        var h = Harness()
        _ = h.start()
        let error = RaftHTTPError.unexpectedStatus(peer: Self.peerID, url: "http://10.0.0.2:2380", status: 0, what: "sending snapshot to")
        #expect(h.finish() == [.endTransfer] + Self.failure(error))
    }

    @Test("the answer's body does not end within 5 s of its head (`snapResponseReadTimeout`): the request is cancelled and the transfer fails with \"response timed out\"")
    func responseTimeout() {
        var h = Harness()
        _ = h.start()
        #expect(h.advance(by: 60_000) == [], "the upload itself has no deadline")
        #expect(h.head(204) == [.startResponseTimer(after: 5_000)])
        // Bytes that trickle in do not move the deadline: it bounds the whole body, as etcd's.
        for _ in 0 ..< 4 {
            #expect(h.advance(by: 1_000) == [])
            h.body("x")
        }
        #expect(h.advance(by: 999) == [], "not before the configured delay")
        let error = Machine.responseTimedOut(peerID: Self.peerID, url: url, status: 204, after: 5_000)
        #expect(h.advance(by: 1) == [.cancelRequest, .endTransfer] + Self.failure(error))
        #expect(h.now - h.headAt == 5_000, "exactly the configured delay after the head")
        #expect(error.code == .snapshotResponseTimedOut && error.status == 204)
        #expect(error.description == "snapshot to peer 8e9e05c52164694d at http://10.0.0.2:2380 failed: response timed out: "
            + "the body of its 204 answer did not end within 5 s of the head")
        // The client then reports the cancelled request: nothing more happens.
        #expect(h.fail(Self.cancelled) == [])
        #expect(h.statuses == [.failure])
    }

    @Test("the response timeout is the configured delay, and its text says it")
    func responseTimeoutConfigured() {
        var h = Harness(configuration: Self.configuration(responseTimeout: 300))
        _ = h.start()
        #expect(h.head(500) == [.startResponseTimer(after: 300)])
        #expect(h.advance(by: 299) == [])
        let actions = h.advance(by: 1)
        let error = Machine.responseTimedOut(peerID: Self.peerID, url: url, status: 500, after: 300)
        #expect(actions == [.cancelRequest, .endTransfer] + Self.failure(error))
        #expect(error.description.hasSuffix("the body of its 500 answer did not end within 300 ms of the head"))
    }

    @Test("there is no deadline on the upload itself: a slow link still delivers a large database")
    func noUploadDeadline() {
        var h = Harness()
        _ = h.start()
        #expect(h.advance(by: 24 * 3_600_000) == [])
        _ = h.head(204)
        #expect(h.finish().contains(.reportSnapshot(.finish)))
    }

    @Test("no retry: one post per transfer; raft sends a new snapshot later")
    func noRetry() {
        var h = Harness()
        _ = h.start()
        _ = h.fail(TestError(description: "connection refused"))
        #expect(h.start() == [])
        #expect(h.advance(by: 3_600_000) == [])
        #expect(h.posts == 1)
        #expect(h.statuses == [.failure])
    }

    // MARK: - cancel

    @Test("cancel before the post starts: raft hears failure and nothing is posted, ever")
    func cancelBeforePost() {
        var h = Harness()
        let error = RaftHTTPError.transportStopped()
        #expect(h.cancel() == [.endTransfer] + Self.failure(error, url: nil))
        // The job that would have posted runs later on the loop: it does nothing.
        #expect(h.start() == [])
        #expect(h.posts == 0)
        #expect(h.statuses == [.failure])
        #expect(h.machine.isDone && !h.machine.isRequestOpen)
    }

    @Test("cancel during the upload: the request is cancelled, and its end fails the transfer with the client's reason")
    func cancelDuringUpload() {
        var h = Harness()
        _ = h.start()
        #expect(h.cancel() == [.cancelRequest])
        #expect(h.statuses == [])
        #expect(h.machine.isRequestOpen, "the shell keeps the task until the request ends")
        #expect(h.fail(Self.cancelled) == [.endTransfer] + Self.failure(Self.cancelled))
        #expect(h.statuses == [.failure])
    }

    @Test("cancel while the answer's body arrives: the request and the response timer go; the timer firing late changes nothing")
    func cancelDuringAnswer() {
        var h = Harness()
        _ = h.start()
        _ = h.head(204)
        #expect(h.cancel() == [.cancelRequest])
        #expect(h.machine.responseTimerFired() == [], "a timer that fires while the cancel is under way")
        #expect(h.fail(Self.cancelled) == [.cancelResponseTimer, .endTransfer] + Self.failure(Self.cancelled))
        #expect(h.statuses == [.failure])
    }

    @Test("a second cancel is a no-op, in every state")
    func secondCancel() {
        var before = Harness()
        _ = before.cancel()
        #expect(before.cancel() == [])
        var uploading = Harness()
        _ = uploading.start()
        _ = uploading.cancel()
        #expect(uploading.cancel() == [])
        var answered = Harness()
        _ = answered.start()
        _ = answered.head(204)
        _ = answered.cancel()
        #expect(answered.cancel() == [])
        var finished = Harness()
        _ = finished.start()
        _ = finished.head(204)
        _ = finished.finish()
        #expect(finished.cancel() == [])
        #expect(finished.statuses == [.finish])
    }

    @Test("events after the end change nothing")
    func eventsAfterTheEnd() {
        var h = Harness()
        _ = h.start()
        _ = h.head(204)
        _ = h.finish()
        #expect(h.head(500) == [])
        h.body("late")
        #expect(h.finish() == [])
        #expect(h.fail(TestError(description: "late")) == [])
        #expect(h.machine.responseTimerFired() == [])
        #expect(h.start() == [])
        #expect(h.statuses == [.finish])
    }

    // MARK: - one status per transfer

    @Test("raft hears exactly one status per transfer, after the source is closed, whatever the order of events")
    func exactlyOneStatus() {
        // Every sequence of up to 8 events that a real client and loop can produce (an answer
        // only to a post, one end per request, a cancel answered at once by the request's end, a
        // timer only while armed), then the transport stopping (a cancel, and the open request's
        // end): raft hears one status, the source is closed once and before it, one post at most.
        var sequences = 0
        func explore(_ model: Model, depth: Int) {
            var ended = model
            ended.apply(.cancel)
            if ended.open { ended.apply(.fail) }
            sequences += 1
            #expect(ended.statuses.count == 1, "\(ended.trace)")
            #expect(ended.closes.count == 1, "\(ended.trace)")
            #expect(ended.ends == 1, "\(ended.trace)")
            #expect(ended.posts <= 1, "\(ended.trace)")
            #expect(ended.closedBeforeReport, "\(ended.trace)")
            #expect(!ended.postedAfterReport, "\(ended.trace)")
            if ended.statuses == [.finish] { #expect(ended.closes == [true], "\(ended.trace)") }
            guard depth > 0 else { return }
            for event in Model.Event.allCases where model.allows(event) {
                var next = model
                next.apply(event)
                explore(next, depth: depth - 1)
            }
        }
        explore(Model(), depth: 8)
        #expect(sequences > 200, "\(sequences) sequences")
    }
}

/// The machine with the shell's bookkeeping: a manual clock for the response timer, and what
/// reached raft.
private struct Harness {
    typealias Action = SnapshotSender.StateMachine.Action

    var machine: SnapshotSender.StateMachine
    var now: UInt64 = 1_000_000
    var headAt: UInt64 = 0
    var posts = 0
    var statuses: [SnapshotStatus] = []
    private var timerAt: UInt64?

    init(configuration: SnapshotSender.StateMachine.Configuration = SnapshotSenderStateMachineTests.configuration()) {
        machine = SnapshotSender.StateMachine(configuration: configuration)
    }

    private mutating func record(_ actions: [Action]) -> [Action] {
        for action in actions {
            switch action {
            case .startResponseTimer(let delay): timerAt = now + delay
            case .cancelResponseTimer: timerAt = nil
            case .post: posts += 1
            case .reportSnapshot(let status): statuses.append(status)
            default: break
            }
        }
        return actions
    }

    mutating func start() -> [Action] { record(machine.start(url: SnapshotSenderStateMachineTests.url)) }
    mutating func finish() -> [Action] { record(machine.finished()) }
    mutating func fail(_ error: any Error) -> [Action] { record(machine.failed(error)) }
    mutating func cancel() -> [Action] { record(machine.cancel()) }

    mutating func head(_ status: Int) -> [Action] {
        headAt = now
        return record(machine.headReceived(status: status))
    }

    mutating func body(_ text: String) {
        Array(text.utf8).withUnsafeBytes { machine.bodyReceived($0) }
    }

    /// Moves the clock on by `milliseconds`, firing the response timer if it falls due on the way.
    mutating func advance(by milliseconds: UInt64) -> [Action] {
        let end = now + milliseconds
        guard let due = timerAt, due <= end else {
            now = end
            return []
        }
        now = due
        timerAt = nil
        let actions = record(machine.responseTimerFired())
        now = end
        return actions
    }
}

/// The machine inside a model of the real client and loop, for exploring every order of events.
private struct Model {
    enum Event: CaseIterable {
        case start, head204, head500, body, finish, fail, timer, cancel
    }

    var machine = SnapshotSender.StateMachine(configuration: SnapshotSenderStateMachineTests.configuration())
    /// A request was posted and has not ended.
    var open = false
    var sawHead = false
    var timerArmed = false
    var started = false
    var posts = 0
    var ends = 0
    var statuses: [SnapshotStatus] = []
    /// For each close of the source: whether it was closed without an error.
    var closes: [Bool] = []
    var closedBeforeReport = true
    var postedAfterReport = false
    var trace: [Event] = []

    /// Whether a real client and loop can deliver `event` now.
    func allows(_ event: Event) -> Bool {
        switch event {
        case .start: !started // the shell starts once
        case .head204, .head500: open && !sawHead
        case .body: open && sawHead
        case .finish, .fail: open
        case .timer: timerArmed
        case .cancel: true
        }
    }

    mutating func apply(_ event: Event) {
        trace.append(event)
        switch event {
        case .start:
            started = true
            carryOut(machine.start(url: SnapshotSenderStateMachineTests.url))
        case .head204, .head500:
            sawHead = true
            carryOut(machine.headReceived(status: event == .head204 ? 204 : 500))
        case .body:
            Array("x".utf8).withUnsafeBytes { machine.bodyReceived($0) }
        case .finish:
            open = false
            carryOut(machine.finished())
        case .fail:
            open = false
            carryOut(machine.failed(SnapshotSenderStateMachineTests.cancelled))
        case .timer:
            timerArmed = false
            carryOut(machine.responseTimerFired())
        case .cancel:
            carryOut(machine.cancel())
        }
    }

    private mutating func carryOut(_ actions: [SnapshotSender.StateMachine.Action]) {
        for action in actions {
            switch action {
            case .post:
                posts += 1
                open = true
                if !statuses.isEmpty { postedAfterReport = true }
            case .startResponseTimer: timerArmed = true
            case .cancelResponseTimer: timerArmed = false
            case .cancelRequest:
                // The real client ends a cancelled request at once, on the loop.
                if open {
                    open = false
                    carryOut(machine.failed(SnapshotSenderStateMachineTests.cancelled))
                }
            case .endTransfer: ends += 1
            case .closeSource(let failure): closes.append(failure == nil)
            case .reportSnapshot(let status):
                if closes.isEmpty { closedBeforeReport = false }
                statuses.append(status)
            default: break
            }
        }
    }
}
