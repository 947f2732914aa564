import Foundation
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

// Real partitions, with packets dropped by the kernel rather than bytes held back by a proxy: the
// member cut off is a `rafthttp peer` process inside a network namespace (NetworkNamespaceLab), the
// two survivors are in-process transports listening on the host end of the veth pair. Everyone
// uses etcd's timeouts (the child has no flags for them): 5 s read timeout with link heartbeats
// every 1.67 s, 2 s dial timeout, 100 ms dial retry.
//
// Healing only deletes the rules. A dial or request caught by a silent fault is still in the
// kernel's hands and goes through at TCP's next retransmission, not at our next redial: a SYN is
// resent 1 s after it was sent (and a dial older than that is abandoned at the 2 s dial timeout and
// redialed 100 ms later); a request written into a blackholed connection is resent with TCP's
// backoff (0.2, 0.4, 0.8, 1.6 s ...) or abandoned at the 5 s read timeout. So etcd's "within 2
// dial-retry intervals" holds after a reset partition, where every dial fails at once; after a
// silent one the bound adds TCP's wait (see `healBound`).

/// How long each fault holds at least: the issue's 10 s. It holds longer where a check needs more
/// (a blackholed redial is only abandoned at the read timeout, ~11 s in).
let realCutTime: Duration = .seconds(10)

@Suite("Real partitions: a peer process in a network namespace, cut off by nftables rules",
       .enabled(if: NetworkNamespaceLab.unavailableReason == nil, Comment(rawValue: NetworkNamespaceLab.unavailableReason ?? "")),
       .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"))
struct NetworkPartitionTests {
    /// The longest wait from healing to all streams back that `fault` allows: what TCP itself
    /// waits before a hung dial or request tries again (see the file's header; kernel time, the
    /// same on any machine), plus the proxy tests' bound for our own part (10 times the 2 dial-retry
    /// intervals of etcd's promise, so that a slower machine's connection setup still fits).
    static func healBound(_ fault: NetworkNamespaceLab.Fault) -> Duration {
        let tcpWait: Duration = switch fault {
        case .reset: .zero
        case .drop, .dropIncoming: .seconds(1)   // the SYN retransmission, or the dial timeout's end
        case .blackhole: .seconds(2)             // the request's retransmission backoff, or the read timeout's end
        }
        return tcpWait + proxyHealBound
    }

    /// Starts two survivors and the peer process in a lab, checks traffic flows, applies `fault`,
    /// runs `duringCut`, holds the fault for ``realCutTime`` in total, heals and checks that every
    /// stream comes back within ``healBound(_:)`` and heartbeats are answered again.
    /// `duringCut` also gets the survivors' log lines.
    func partition(_ fault: NetworkNamespaceLab.Fault,
                   duringCut: (PeerProcessCluster, NetworkNamespaceLab, CapturingLogHandler.Store) async throws -> Void) async throws {
        let executable = try #require(PeerProcess.executable)
        try await ResourceGate.shared {
            try await NetworkNamespaceLab.with { lab in
                let (logger, logs) = CapturingLogHandler.logger(level: .info)
                let cluster = try await PeerProcessCluster(executable: executable, inProcess: 2, host: lab.hostAddress,
                                                           childHost: lab.namespaceAddress, childPort: 2380, namespace: lab.name) {
                    $0.logger = logger
                }
                do {
                    try await cluster.waitUntilConnected(timeout: .seconds(20))
                    try await cluster.heartbeatRoundTrip(from: 0, marker: 1)
                    try await cluster.heartbeatRoundTrip(from: 1, marker: 2)

                    try await lab.apply(fault)
                    let cutAt = ContinuousClock.now
                    try await duringCut(cluster, lab, logs)
                    // The survivors still talk to each other: the fault isolates the member only.
                    cluster[0].transport.send([message(.msgHeartbeat, from: cluster[0].id, to: cluster[1].id, term: 66)])
                    try await cluster[1].raft.wait(timeout: .seconds(30), "m1 -> m2 during the cut") {
                        $0.received.contains { $0.from == cluster[0].id && $0.term == 66 }
                    }
                    let counts = try await lab.packetCounts()
                    #expect(counts.droppedIn > 0, "the rules dropped nothing: \(counts)")
                    // Hold the fault for the configured time in total (measured, not a loop count).
                    try await Task.sleep(until: cutAt + realCutTime, clock: .continuous)
                    let cutFor = ContinuousClock.now - cutAt

                    try await lab.heal()
                    let healedAt = ContinuousClock.now
                    try await eventually(.seconds(60), "all streams back after healing") { cluster.isFullyConnected }
                    let elapsed = ContinuousClock.now - healedAt
                    print("[real partition] \(fault): cut for \(cutFor); all streams back \(elapsed) after healing "
                        + "(bound \(Self.healBound(fault))); packets \(counts)")
                    #expect(elapsed <= timeBound(Self.healBound(fault)))
                    // Traffic flows again: each survivor's heartbeat is answered by the member.
                    try await cluster.heartbeatRoundTrip(from: 0, marker: 3)
                    try await cluster.heartbeatRoundTrip(from: 1, marker: 4)
                    await cluster.stop()
                } catch {
                    print(cluster.child?.logTail() ?? "(no peer process)")
                    await cluster.stop()
                    throw error
                }
            }
        }
    }

    /// The survivors lost their streams with the member to the read timeout (`orClosed`: or to
    /// the member closing them). Their log says so for good; the peer's `lastError` does only until
    /// the first redial fails (a dial timeout 2 s later), which a loaded machine may check too late.
    func expectLostByReadTimeout(_ cluster: PeerProcessCluster, _ logs: CapturingLogHandler.Store, orClosed: Bool = false) {
        let child = MemberID(cluster.childID).description
        let lost = logs.lines.filter { $0.message == "lost TCP streaming connection with remote peer" && $0.metadata["remote-peer-id"] == child }
        #expect(lost.contains { line in
            let error = line.metadata["error"] ?? ""
            return error.hasPrefix("read timeout: no bytes") || (orClosed && error.contains("connection closed"))
        }, "\(lost.map(\.metadata))")
    }

    /// Waits until both survivors see the member inactive.
    func waitUntilInactive(_ cluster: PeerProcessCluster, _ what: String) async throws {
        // Read timeout 5 s after the last byte; link heartbeats come every 1.67 s: at most ~6.7 s
        // (the hang guard is 10x that).
        try await eventually(.seconds(70), what) {
            cluster[0].transport.activeSince(cluster.childID) == nil && cluster[1].transport.activeSince(cluster.childID) == nil
        }
    }

    /// Waits until a survivor's last error for the member contains `text`.
    func waitForError(_ cluster: PeerProcessCluster, containing text: String, within timeout: Duration = .seconds(70)) async throws {
        try await eventually(timeout, "m1's last error for the member contains \"\(text)\"") {
            cluster[0].transport.statistics(peer: cluster.childID)?.lastError?.contains(text) == true
        }
    }

    @Test("a member cut off with resets (dials refused, connections reset) is marked inactive, raft hears unreachable, drops are counted, streams return within 2 retries")
    func resetAndHeal() async throws {
        // Every dial fails at once here, so `healBound(.reset)` is the proxy tests' bound:
        // 2 dial-retry intervals and the slack.
        try await partition(.reset) { cluster, _, _ in
            try await waitUntilInactive(cluster, "m1 and m2 see the member inactive after resets")
            try await floodCutOffMember(cluster.childID, from: cluster.members)
            try await waitForError(cluster, containing: "connection refused")
        }
    }

    @Test("a member cut off by dropped packets (10 s) is noticed by the read timeout, raft hears unreachable, drops are counted, streams return after healing")
    func dropAndHeal() async throws {
        try await partition(.drop) { cluster, _, logs in
            try await waitUntilInactive(cluster, "m1 and m2 see the member inactive by read timeout")
            // Nothing is closed, nothing is refused: only the read timeout can tell.
            expectLostByReadTimeout(cluster, logs)
            try await floodCutOffMember(cluster.childID, from: cluster.members)
            // Redials get no SYN-ACK: they end at the 2 s dial timeout.
            try await waitForError(cluster, containing: "timed out")
        }
    }

    @Test("a one-way cut (packets into the member dropped, its own still leave) is noticed by the read timeout; same promises")
    func oneWayCutAndHeal() async throws {
        // TCP needs both directions: a segment that arrives unacknowledged is resent, not followed
        // by new data, so both sides' streams fall silent and both read timeouts fire.
        try await partition(.dropIncoming) { cluster, lab, logs in
            try await waitUntilInactive(cluster, "m1 and m2 see the member inactive by read timeout")
            // Our readers' timeout, or the member's: its readers time out as ours do and close
            // their connections, and their FIN, sent after data m1 already has, gets out; m1 then
            // closes the streams it writes at once (a streamed response ends on the client's EOF).
            expectLostByReadTimeout(cluster, logs, orClosed: true)
            try await floodCutOffMember(cluster.childID, from: cluster.members)
            // The cut was one-way: the member's packets (retransmissions, its redials' SYNs) left.
            let counts = try await lab.packetCounts()
            #expect(counts.passedOut > 0 && counts.droppedOut == 0, "\(counts)")
        }
    }

    @Test("a blackholed member (dials connect, then nothing arrives) is noticed by the read timeout, also on each redial; same promises")
    func blackholeAndHeal() async throws {
        try await partition(.blackhole) { cluster, _, _ in
            try await waitUntilInactive(cluster, "m1 and m2 see the member inactive by read timeout")
            let stats = try #require(cluster[0].transport.statistics(peer: cluster.childID))
            #expect(stats.lastError?.contains("read timeout: no bytes") == true, "\(stats.lastError ?? "no error")")
            try await floodCutOffMember(cluster.childID, from: cluster.members)
            // Redials connect (the handshake passes) and then hear nothing: the read timeout
            // abandons them too, 5 s after each dial.
            try await waitForError(cluster, containing: "read timeout: no answer to the stream request")
        }
    }
}
