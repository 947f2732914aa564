// Probing a peer's round-trip time and clock (etcd's probers, spec 1.9).
//
// Happy path: every 4 s, GET <peer URL>/raft/probing -> 200 {"OK":true,"Now":...} -> the
// smoothed RTT and clock difference are updated; a monitor looks at them 5 s after start, then
// every 30 s while healthy, records the RTT in etcd_network_peer_round_trip_time_seconds and warns
// (rate-limited) about high clock drift. Two probers per peer, as etcd runs: one over the
// pipeline's client (ROUND_TRIPPER_SNAPSHOT) and one over a fresh connection each time, like the
// stream client (ROUND_TRIPPER_RAFT_MESSAGE).
//
// Failure modes: a probe that fails (refused, timed out, no byte moved for the progress
// timeout, bad body) counts as a loss and makes the
// status unhealthy: the monitor warns "prober detected unhealthy status" and checks again in 5 s.
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB

final class Prober: @unchecked Sendable {
    // @unchecked Sendable: mutable state is touched on `loop` only (start and stop hop there).

    // MARK: immutable, any thread
    let name: String
    private let peer: Peer
    private let loop: EventLoop
    private let client: HTTPClient
    private let result = Locked(Probing.Status())

    // MARK: loop thread only
    private var monitor = Probing.Monitor()
    private var probeTimer: LoopTimer?
    private var monitorTimer: LoopTimer?
    private var task: HTTPClientTask?
    private var stopped = false

    init(name: String, peer: Peer, loop: EventLoop, client: HTTPClient) {
        self.name = name
        self.peer = peer
        self.loop = loop
        self.client = client
    }

    /// The latest smoothed round-trip time; nil before the first successful probe.
    var smoothedRTT: Duration? {
        result.withLock { $0.total > $0.loss ? $0.smoothedRTT : nil }
    }

    func start() {
        loop.executeSoon { [self] in
            guard !stopped else { return }
            let every = Wire.Timeout.probeInterval.milliseconds
            probeTimer = loop.scheduleTimer(after: 0, repeating: every) { [self] in probe() }
            monitorTimer = loop.scheduleTimer(after: monitor.interval.milliseconds) { [self] in check() }
        }
    }

    func stop() {
        loop.executeSoon { [self] in
            stopped = true
            task?.cancel()
            probeTimer?.cancel()
            monitorTimer?.cancel()
            probeTimer = nil
            monitorTimer = nil
        }
    }

    private func probe() {
        guard task == nil, !stopped else { return }
        let url = peer.picker.pick()
        let request = HTTPClientRequest(method: .get, url: url.description + Wire.Path.probing,
                                        progressTimeout: peer.context.configuration.requestProgressTimeout)
        let started = ContinuousClock.now
        var status = 0
        var body: [UInt8] = []
        task = client.execute(request, on: loop, onHead: { status = $0.status }, onBody: { bytes in
            if body.count < 256 { body.append(contentsOf: bytes.prefix(256 - body.count)) }
        }, onEnd: { [self] outcome in
            task = nil
            let rtt = ContinuousClock.now - started
            switch outcome {
            case .success where status == 200:
                if let answer = Probing.Response(decoding: body[...]), answer.ok, let remoteNow = answer.now {
                    let localNow = WallClockTime.now()
                    result.withLock { $0.record(rtt: rtt, remoteNow: remoteNow, localNow: localNow) }
                } else {
                    result.withLock { $0.recordFailure("undecodable probing answer") }
                }
            case .success:
                result.withLock { $0.recordFailure("unexpected status \(status)") }
            case .failure(let error):
                if error.code == .stalled { peer.recordStalled(.probe) }
                result.withLock { $0.recordFailure("\(error)") }
            }
        })
    }

    private func check() {
        guard !stopped else { return }
        let status = result.withLock { $0 }
        let outcome = monitor.check(status)
        let metadata: Logger.Metadata = ["round-tripper-name": "\(name)", "remote-peer-id": "\(MemberID(peer.id))"]
        if outcome.unhealthy {
            peer.context.rateLimitedWarning(key: "probe-\(peer.id)-\(name)", Probing.unhealthyMessage,
                                            metadata: metadata.merging(["error": "\(status.lastError ?? "no probe answered yet")"]) { a, _ in a })
        } else {
            peer.metrics.roundTripTime.recordNanoseconds(outcome.smoothedRTT.nanoseconds)
            if outcome.highClockDrift {
                peer.context.rateLimitedWarning(key: "drift-\(peer.id)-\(name)", Probing.clockDriftMessage,
                                                metadata: metadata.merging(["clock-drift": "\(status.clockDifference)",
                                                                            "rtt": "\(status.smoothedRTT)"]) { a, _ in a })
            }
        }
        monitorTimer?.start(after: outcome.nextCheck.milliseconds)
    }
}
