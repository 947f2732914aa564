@testable import RaftHTTP
import Logging
import PeerHTTP
import Testing

/// The stream reader's decisions, driven with a manual clock: no sockets, no sleeps. Each failure
/// mode of `StreamReader.swift`'s opening comment has a test named after its bullet.
@Suite("stream reader state machine: dial, read, fail, redial")
struct StreamReaderStateMachineTests {
    typealias Action = StreamReader.StateMachine.Action
    typealias LogLine = StreamReader.StateMachine.LogLine

    static let peerID: UInt64 = 0x8e9e05c52164694d
    static let first = try! PeerURL(parsing: "http://10.0.0.2:2380")
    static let second = try! PeerURL(parsing: "http://10.0.0.3:2380")
    var first: PeerURL { Self.first }

    /// `read timeout` 5 s (checked every second), redial after 100 ms: the transport's defaults.
    static func configuration(type: StreamType = .message, dialRetryFrequency: UInt64 = 100) -> StreamReader.StateMachine.Configuration {
        .init(type: type, peerID: peerID, localID: 1, local: LocalIdentity(clusterID: 0x1000, serverVersion: "3.4.23", minClusterVersion: "3.0.0"),
              readTimeout: 5_000, dialRetryFrequency: dialRetryFrequency)
    }

    /// The metadata of every reader log line, plus `extra`.
    static func metadata(_ type: StreamType = .message, _ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var m: Logger.Metadata = ["stream-reader-type": "\(type)", "remote-peer-id": "8e9e05c52164694d"]
        m.merge(extra) { _, new in new }
        return m
    }

    /// The refusal's line; a 410 or 412 (the codes below) also names the likely cause and the
    /// redial interval it goes to (`cap`).
    static func refusalLine(_ error: RaftHTTPError, _ type: StreamType = .message, cap: UInt64 = 100) -> Action {
        var message = "\(error)"
        if [.memberRemoved, .clusterIDMismatch, .incompatibleVersion, .toMismatch].contains(error.code) {
            message += "; likely cause: \(StreamReader.StateMachine.likelyCause(error)); redialing every \(cap) ms until it is fixed"
        }
        return .log(LogLine(level: .warning, message: message, metadata: metadata(type), rateLimitKey: "stream-refused-\(peerID)-\(type)"))
    }

    static let established = Action.log(LogLine(level: .info, message: "established TCP streaming connection with remote peer",
                                                metadata: metadata()))

    static func lostLine(_ error: String) -> Action {
        .log(LogLine(level: .warning, message: "lost TCP streaming connection with remote peer", metadata: metadata(.message, ["error": "\(error)"])))
    }

    struct TestError: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: - happy path

    @Test("happy path: 200 activates the peer and starts reading; stream bytes are decoded")
    func happyPath() {
        var h = Harness()
        #expect(h.start() == [.startReadTimeoutChecks(every: 1_000), .dial(first)])
        #expect(!h.machine.isReading)
        #expect(h.head(200) == [.startReading, .activatePeer, Self.established])
        #expect(h.machine.isReading)
        #expect(h.bytes(38) == .decode)
        // Bytes that keep coming keep the link alive, however long it lives.
        for _ in 0 ..< 10 {
            #expect(h.advance(by: 4_000) == [])
            #expect(h.bytes(1) == .decode)
        }
        #expect(h.machine.isReading)
        #expect(h.dials == 1)
    }

    // MARK: - failure modes, as the opening comment of StreamReader.swift lists them

    @Test("410: member removed goes to the critical error stream; redial at the cap (here etcd's fixed 100 ms)")
    func memberRemoved() {
        var h = Harness()
        _ = h.start()
        #expect(h.head(410) == [])
        #expect(h.bytes(15, "removed member\n") == .ignore)
        let error = RaftHTTPError.memberRemoved(peer: Self.peerID, url: "http://10.0.0.2:2380", status: 410)
        #expect(error.description
            == "the member has been permanently removed from the cluster (peer 8e9e05c52164694d at http://10.0.0.2:2380 answered 410)")
        #expect(h.finish() == [.reportCriticalError(error), Self.refusalLine(error), .markURLUnreachable(first),
                               .deactivatePeer(.streamDial(.message), reason: "\(error)"), .closeConnection, .scheduleRedial(after: 100)])
        // Redials keep coming at the retry frequency, each one refused and reported again.
        for _ in 0 ..< 3 {
            #expect(h.advance(by: 99) == [])
            #expect(h.advance(by: 1) == [.dial(first)])
            _ = h.head(410)
            #expect(h.finish().first == .reportCriticalError(error))
        }
        #expect(h.dials == 4)
    }

    static let refusals: [(status: Int, body: String, clusterID: String?, error: RaftHTTPError)] = [
        (404, "error sender not found\n", nil,
         .peerNotFound(peer: peerID, url: "http://10.0.0.2:2380", local: 1)),
        (412, "cluster ID mismatch\n", "1",
         .clusterIDMismatch(peer: peerID, url: "http://10.0.0.2:2380", local: 0x1000, remote: "1")),
        (412, "incompatible version\n", nil,
         .incompatibleVersion(peer: peerID, url: "http://10.0.0.2:2380", localVersion: "3.4.23", localMinCluster: "3.0.0", remoteVersion: "3.4.23")),
        (412, "to field mismatch\n", nil, .toMismatch(peer: peerID, url: "http://10.0.0.2:2380")),
        (503, "busy\n", nil,
         .unexpectedStatus(peer: peerID, url: "http://10.0.0.2:2380", status: 503, what: "dialing stream Message", body: "busy")),
    ]

    @Test("404, 412 or another status: the refusal is logged (rate-limited), the peer is deactivated, the picker moves to the peer's next URL, redial",
          arguments: refusals)
    func refused(_ refusal: (status: Int, body: String, clusterID: String?, error: RaftHTTPError)) {
        var h = Harness()
        _ = h.start()
        #expect(h.head(refusal.status, clusterID: refusal.clusterID) == [])
        #expect(h.bytes(0, refusal.body) == .ignore)
        #expect(h.finish() == [Self.refusalLine(refusal.error), .markURLUnreachable(first),
                               .deactivatePeer(.streamDial(.message), reason: "\(refusal.error)"), .closeConnection,
                               .scheduleRedial(after: 100)])
        h.url = Self.second // the picker moved on
        #expect(h.advance(by: 100) == [.dial(Self.second)])
    }

    @Test("the texts of refusals are what an operator reads")
    func refusalTexts() {
        let texts = Self.refusals.map(\.error.description)
        #expect(texts == [
            "peer 8e9e05c52164694d at http://10.0.0.2:2380 failed to find local member 1",
            "peer 8e9e05c52164694d at http://10.0.0.2:2380 rejected the request: cluster ID mismatch (local 1000, remote 1)",
            "peer 8e9e05c52164694d at http://10.0.0.2:2380 rejected the request: incompatible version (local 3.4.23 min cluster 3.0.0, remote 3.4.23)",
            "peer 8e9e05c52164694d at http://10.0.0.2:2380 rejected the stream: to field mismatch (another member listens there)",
            "unexpected http status 503 while dialing stream Message peer 8e9e05c52164694d at http://10.0.0.2:2380: busy",
        ])
    }

    @Test("a refusal that fails before its body ends is still the refusal; only the first 512 bytes of the body are kept")
    func refusalThatFails() {
        var h = Harness()
        _ = h.start()
        _ = h.head(500)
        #expect(h.bytes(0, String(repeating: "x", count: 600)) == .ignore)
        #expect(h.bytes(0, "more") == .ignore)
        let error = RaftHTTPError.unexpectedStatus(peer: Self.peerID, url: "http://10.0.0.2:2380", status: 500,
                                                   what: "dialing stream Message", body: String(repeating: "x", count: 512))
        #expect(h.fail(TestError(description: "connection reset")) == [Self.refusalLine(error), .markURLUnreachable(first),
                                                                     .deactivatePeer(.streamDial(.message), reason: "\(error)"),
                                                                     .closeConnection, .scheduleRedial(after: 100)])
    }

    @Test("dial fails: \"failed to dial remote peer\" with the error, at most once a second per peer and type, deactivate, next URL, redial")
    func dialFails() {
        var h = Harness(type: .msgAppV2)
        #expect(h.start() == [.startReadTimeoutChecks(every: 1_000), .dial(first)])
        let error = TestError(description: "connect failed: GET http://10.0.0.2:2380/raft/stream/msgapp/1: connection refused")
        // The key is the limit's unit; the once-a-second limiter itself is TransportContext's
        // (StreamDialFailureTests counts the lines against real refused dials).
        #expect(h.fail(error) == [
            .log(LogLine(level: .warning, message: "failed to dial remote peer", metadata: Self.metadata(.msgAppV2, ["error": "\(error)"]),
                         rateLimitKey: "stream-dial-\(Self.peerID)-stream MsgApp v2")),
            .markURLUnreachable(first), .deactivatePeer(.streamDial(.msgAppV2), reason: "\(error)"), .closeConnection,
            .scheduleRedial(after: 100),
        ])
        #expect(h.advance(by: 100) == [.dial(first)])
    }

    @Test("peer too old for this stream type: no deactivation, redial", arguments: ["2.0.0", nil])
    func peerTooOld(_ version: String?) {
        var h = Harness()
        _ = h.start()
        #expect(h.head(200, version: version) == [
            .log(LogLine(level: .warning, message: "peer does not support this stream type",
                         metadata: Self.metadata(.message, ["remote-version": "\(version ?? "")"]))),
            .closeConnection, .scheduleRedial(after: 100),
        ])
        #expect(!h.machine.isReading)
        // The cancelled request's failure, had the shell not dropped it, changes nothing.
        #expect(h.fail(TestError(description: "cancelled")) == [])
        #expect(h.advance(by: 100) == [.dial(first)])
    }

    @Test("EOF: redial without deactivating")
    func endOfStream() {
        var h = Harness()
        _ = h.start()
        _ = h.head(200)
        #expect(h.finish() == [
            .log(LogLine(level: .info, message: "lost TCP streaming connection with remote peer", metadata: Self.metadata(.message, ["error": "EOF"]))),
            .closeConnection, .scheduleRedial(after: 100),
        ])
        #expect(!h.machine.isReading)
        #expect(h.advance(by: 100) == [.dial(first)])
    }

    @Test("connection fails while reading: \"lost TCP streaming connection\", deactivate, redial")
    func failsWhileReading() {
        var h = Harness()
        _ = h.start()
        _ = h.head(200)
        _ = h.bytes(100)
        #expect(h.fail(TestError(description: "connection reset by peer")) == [
            Self.lostLine("connection reset by peer"),
            .deactivatePeer(.streamRead(.message), reason: "connection reset by peer"), .closeConnection, .scheduleRedial(after: 100),
        ])
        #expect(h.advance(by: 100) == [.dial(first)])
    }

    @Test("no byte for the read timeout while reading: deactivate, tell raft the peer is unreachable, close our writers, redial")
    func readTimeoutWhileReading() {
        var h = Harness()
        _ = h.start()
        _ = h.head(200)
        _ = h.bytes(38)
        // Checks every second; the last byte came at 0, so the check at 5 s is not past the timeout.
        #expect(h.advance(by: 5_000) == [])
        let reason = "read timeout: no bytes for 5000 ms"
        #expect(h.advance(by: 1_000) == [
            .linkTimedOut(reason: reason), .closeConnection, Self.lostLine(reason),
            .deactivatePeer(.streamRead(.message), reason: reason), .scheduleRedial(after: 100),
        ])
        // Not the URL's fault: the picker stays. The cancelled request's failure changes nothing.
        #expect(h.fail(TestError(description: "cancelled")) == [])
        #expect(h.advance(by: 100) == [.dial(first)])
    }

    @Test("no answer to the dial for the read timeout: the same, and the picker moves to the next URL")
    func readTimeoutAwaitingHead() {
        var h = Harness()
        _ = h.start()
        #expect(h.advance(by: 5_000) == [])
        let reason = "read timeout: no answer to the stream request for 5000 ms"
        #expect(h.advance(by: 1_000) == [
            .markURLUnreachable(first), .linkTimedOut(reason: reason), .closeConnection,
            .deactivatePeer(.streamDial(.message), reason: reason), .scheduleRedial(after: 100),
        ])
        #expect(h.dials == 1)
    }

    @Test("a refusal whose body does not end within the read timeout is no answer, then the refusal")
    func refusalBodyStalls() {
        var h = Harness()
        _ = h.start()
        #expect(h.advance(by: 3_000) == [])
        _ = h.head(404)
        _ = h.bytes(0, "error sender") // a refusal's body does not count as the stream's bytes
        #expect(h.advance(by: 2_000) == [])
        let reason = "read timeout: no answer to the stream request for 5000 ms"
        let error = RaftHTTPError.peerNotFound(peer: Self.peerID, url: "http://10.0.0.2:2380", local: 1)
        #expect(h.advance(by: 1_000) == [
            .markURLUnreachable(first), .linkTimedOut(reason: reason), .closeConnection,
            Self.refusalLine(error), .markURLUnreachable(first), .deactivatePeer(.streamDial(.message), reason: "\(error)"),
            .scheduleRedial(after: 100),
        ])
    }

    @Test("a frame that does not decode or exceeds the size limit: deactivate, redial")
    func decodeFails() {
        var h = Harness()
        _ = h.start()
        _ = h.head(200)
        #expect(h.bytes(9) == .decode)
        let error = TestError(description: "rafthttp: error limit exceeded")
        #expect(h.decodeFailed(error) == [
            .closeConnection, Self.lostLine("rafthttp: error limit exceeded"),
            .deactivatePeer(.streamRead(.message), reason: "rafthttp: error limit exceeded"), .scheduleRedial(after: 100),
        ])
        #expect(!h.machine.isReading)
        #expect(h.bytes(9) == .ignore)
        #expect(h.advance(by: 100) == [.dial(first)])
    }

    @Test("a late read-timeout check (the loop was held up) judges nothing; the next one does, after a turn of reading")
    func lateCheck() {
        // Bytes were waiting in the socket while the loop was held: they keep the link.
        var h = Harness()
        _ = h.start()
        _ = h.head(200)
        #expect(h.advance(by: 3_000) == [])
        #expect(h.hold(for: 7_000) == []) // the check runs 7 s late, 10 s after the last byte
        #expect(h.bytes(38) == .decode)  // the turn of reading that follows
        #expect(h.advance(by: 1_000) == [])
        #expect(h.machine.isReading)

        // Nothing was waiting: the next check, on time, judges the link dead.
        var quiet = Harness()
        _ = quiet.start()
        _ = quiet.head(200)
        #expect(quiet.advance(by: 3_000) == [])
        #expect(quiet.hold(for: 7_000) == [])
        #expect(quiet.advance(by: 1_000).first == .linkTimedOut(reason: "read timeout: no bytes for 5000 ms"))
    }

    @Test("a check exactly two intervals late still judges the link")
    func checkTwoIntervalsLate() {
        var h = Harness()
        _ = h.start()
        _ = h.head(200)
        #expect(h.advance(by: 4_000) == [])
        #expect(h.hold(for: 2_000).first == .linkTimedOut(reason: "read timeout: no bytes for 5000 ms"))
    }

    @Test("with the cap at dialRetryFrequency and no jitter (etcd's fixed interval) the redial waits exactly dialRetryFrequency, after every kind of end",
          arguments: [1, 250, 3_000] as [UInt64])
    func redialDelay(_ frequency: UInt64) {
        var h = Harness(dialRetryFrequency: frequency)
        _ = h.start()
        _ = h.head(200)
        #expect(h.finish().last == .scheduleRedial(after: frequency))
        #expect(h.advance(by: frequency - 1).contains(.dial(first)) == false)
        #expect(h.advance(by: 1).contains(.dial(first)))
        #expect(h.fail(TestError(description: "refused")).last == .scheduleRedial(after: frequency))
        #expect(h.advance(by: frequency - 1).contains(.dial(first)) == false)
        #expect(h.advance(by: 1).contains(.dial(first)))
        #expect(h.dials == 3)
    }

    // MARK: - backoff, counted on the manual clock

    /// The wait of the redial in `actions`.
    static func delay(_ actions: [Action]) -> UInt64? {
        for case .scheduleRedial(let after) in actions { return after }
        return nil
    }

    static func backoff(jitter: Double = 0.2, seed: UInt64 = 42) -> StreamReader.StateMachine.Configuration {
        .init(type: .message, peerID: peerID, localID: 1,
              local: LocalIdentity(clusterID: 0x1000, serverVersion: "3.4.23", minClusterVersion: "3.0.0"),
              readTimeout: 5_000, dialRetryFrequency: 100, dialRetryMaximum: 1_600, dialRetryJitter: jitter, jitterSeed: seed)
    }

    @Test("redials back off: each failure in a row doubles the wait from dialRetryFrequency up to the cap, less at most the jitter; a 200 starts over",
          arguments: [1, 42, 0xdead_beef] as [UInt64])
    func backoffGrowsAndResets(_ seed: UInt64) throws {
        var h = Harness(configuration: Self.backoff(seed: seed))
        _ = h.start()
        var waits: [UInt64] = []
        for _ in 0 ..< 7 {
            let wait = try #require(Self.delay(h.fail(TestError(description: "refused"))))
            waits.append(wait)
            #expect(h.advance(by: wait - 1).contains(.dial(first)) == false)
            #expect(h.advance(by: 1).contains(.dial(first)))
        }
        let nominal: [UInt64] = [100, 200, 400, 800, 1_600, 1_600, 1_600]
        for (wait, n) in zip(waits, nominal) {
            #expect(wait <= n && wait >= n - n / 5, "wait \(wait) for nominal \(n): \(waits)")
        }
        // Jitter: the waits at the cap are not all equal (for these seeds).
        #expect(Set(waits.suffix(3)).count > 1, "\(waits)")
        // A stream that came up and then ended starts over at dialRetryFrequency.
        _ = h.head(200)
        let afterSuccess = try #require(Self.delay(h.finish()))
        #expect(afterSuccess <= 100 && afterSuccess >= 80)
        #expect(h.dials == 8)
    }

    @Test("a 412 cluster ID mismatch goes to the cap at once, its line naming both cluster IDs and the likely cause; a minute of refusals is ~60 dials, not etcd's 600")
    func wrongClusterAtCap() throws {
        var h = Harness(configuration: .init(type: .message, peerID: Self.peerID, localID: 1,
                                             local: LocalIdentity(clusterID: 0x1000, serverVersion: "3.4.23", minClusterVersion: "3.0.0"),
                                             readTimeout: 5_000, dialRetryFrequency: 100, dialRetryMaximum: 1_000))
        let error = RaftHTTPError.clusterIDMismatch(peer: Self.peerID, url: "http://10.0.0.2:2380", local: 0x1000, remote: "2000")
        _ = h.start()
        let started = h.now
        _ = h.head(412, clusterID: "2000")
        _ = h.bytes(0, "cluster ID mismatch\n")
        let first = h.finish()
        #expect(first.contains(Self.refusalLine(error, cap: 1_000)))
        guard case .log(let line)? = first.first else { Issue.record("no log line first: \(first)"); return }
        #expect(line.message == "peer 8e9e05c52164694d at http://10.0.0.2:2380 rejected the request: cluster ID mismatch (local 1000, remote 2000); "
            + "likely cause: the members were started with different --initial-cluster or --initial-cluster-token, or this member's data "
            + "belongs to another cluster (--initial-cluster-state new where it should be existing); redialing every 1000 ms until it is fixed")
        #expect(Self.delay(first) == 1_000)
        // A minute of the manual clock, every dial refused the same way.
        var wait = try #require(Self.delay(first))
        while h.now - started < 60_000 {
            _ = h.advance(by: wait) // the redial
            _ = h.head(412, clusterID: "2000")
            wait = try #require(Self.delay(h.finish()))
            #expect(wait == 1_000)
        }
        #expect(h.dials <= 61, "\(h.dials) dials in a minute; at etcd's 100 ms it would be 600")
    }

    @Test("stop: the connection and the timers close; nothing follows")
    func stop() {
        var h = Harness()
        _ = h.start()
        _ = h.head(200)
        #expect(h.stop() == [.closeConnection, .cancelTimers])
        #expect(h.machine.isStopped && !h.machine.isReading)
        // Whatever still arrives (the cancelled request's failure, a late timer) does nothing.
        #expect(h.fail(TestError(description: "cancelled")) == [])
        #expect(h.finish() == [])
        #expect(h.bytes(38) == .ignore)
        #expect(h.head(200) == [])
        #expect(h.machine.readTimeoutCheck(now: h.now + 60_000) == [])
        #expect(h.machine.redialTimerFired(now: h.now, url: first) == [])
        #expect(h.machine.decodeFailed(TestError(description: "bad")) == [])
        #expect(h.stop() == [])
        #expect(h.start() == [])
    }

    @Test("stop while backing off: the pending redial never dials")
    func stopWhileBackingOff() {
        var h = Harness()
        _ = h.start()
        _ = h.fail(TestError(description: "refused"))
        #expect(h.stop() == [.closeConnection, .cancelTimers])
        #expect(h.machine.redialTimerFired(now: h.now + 100, url: first) == [])
        #expect(h.dials == 1)
    }

    @Test("only the first start dials")
    func startOnce() {
        var h = Harness()
        _ = h.start()
        #expect(h.start() == [])
        _ = h.head(200)
        #expect(h.start() == [])
        #expect(h.dials == 1)
    }
}

/// The machine and a manual loop clock with the shell's two timers: the repeating read-timeout
/// check and the one-shot redial. Events happen at `now`; `advance` fires the timers that fall due,
/// in order, as a loop that is never held up would.
private struct Harness {
    typealias Action = StreamReader.StateMachine.Action

    var machine: StreamReader.StateMachine
    var now: UInt64 = 1_000_000
    /// What the URL picker would return now.
    var url = StreamReaderStateMachineTests.first
    var dials = 0
    private var checkEvery: UInt64?
    private var nextCheck: UInt64?
    private var redialAt: UInt64?

    init(type: StreamType = .message, dialRetryFrequency: UInt64 = 100) {
        machine = StreamReader.StateMachine(configuration: StreamReaderStateMachineTests.configuration(
            type: type, dialRetryFrequency: dialRetryFrequency))
    }

    init(configuration: StreamReader.StateMachine.Configuration) {
        machine = StreamReader.StateMachine(configuration: configuration)
    }

    /// Keeps the timers as the shell would and counts dials.
    private mutating func record(_ actions: [Action]) -> [Action] {
        for action in actions {
            switch action {
            case .startReadTimeoutChecks(let every):
                checkEvery = every
                nextCheck = now + every
            case .scheduleRedial(let delay): redialAt = now + delay
            case .cancelTimers: (nextCheck, redialAt) = (nil, nil)
            case .dial: dials += 1
            default: break
            }
        }
        return actions
    }

    mutating func start() -> [Action] { record(machine.start(now: now, url: url)) }
    mutating func stop() -> [Action] { record(machine.stop()) }
    mutating func finish() -> [Action] { record(machine.finished()) }
    mutating func fail(_ error: any Error) -> [Action] { record(machine.failed(error)) }
    mutating func decodeFailed(_ error: any Error) -> [Action] { record(machine.decodeFailed(error)) }

    mutating func head(_ status: Int, version: String? = "3.4.23", clusterID: String? = nil) -> [Action] {
        var headers = HTTPHeaders()
        if let version { headers.append(name: "X-Server-Version", value: version) }
        if let clusterID { headers.append(name: "X-Etcd-Cluster-Id", value: clusterID) }
        return record(machine.headReceived(HTTPResponseHead(status: status, headers: headers), now: now))
    }

    /// `count` zero bytes, or the bytes of `text` when given.
    mutating func bytes(_ count: Int, _ text: String? = nil) -> StreamReader.StateMachine.BodyAction {
        let chunk = text.map { Array($0.utf8) } ?? [UInt8](repeating: 0, count: count)
        return chunk.withUnsafeBytes { machine.bodyReceived($0, now: now) }
    }

    /// Moves the clock on by `milliseconds`, firing every timer that falls due on the way.
    mutating func advance(by milliseconds: UInt64) -> [Action] {
        let end = now + milliseconds
        var actions: [Action] = []
        while true {
            let due = [nextCheck, redialAt].compactMap { $0 }.filter { $0 <= end }.min()
            guard let due else { break }
            now = due
            if redialAt == due {
                redialAt = nil
                actions += record(machine.redialTimerFired(now: now, url: url))
            } else if let every = checkEvery {
                nextCheck = due + every
                actions += record(machine.readTimeoutCheck(now: now))
            }
        }
        now = end
        return actions
    }

    /// The loop is held up for `milliseconds` (a slow raft, a paused process): no timer fires
    /// meanwhile; then the read-timeout check that fell due runs once, late, and is re-armed from
    /// then, as libuv does for a repeating timer.
    mutating func hold(for milliseconds: UInt64) -> [Action] {
        now += milliseconds
        guard let due = nextCheck, due <= now, let every = checkEvery else { return [] }
        nextCheck = now + every
        return record(machine.readTimeoutCheck(now: now))
    }
}
