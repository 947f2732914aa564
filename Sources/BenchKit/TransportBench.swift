// `rafthttp bench`: one leader drives a workload to its followers over the real transport on
// loopback, and we measure what reaches the followers' raft.
//
// Happy path: start the followers (in this process, as child processes, or use `--target`) ->
// start the leader and make everyone peers -> wait until the leader's stream writers are attached
// -> a sender thread sends for `--duration` (or `--messages`) keeping at most `--window` messages
// per follower in flight -> wait for the last deliveries -> read counters, CPU, RSS, histograms.
// Failure modes: streams that do not come up within 10 s -> the run fails with which peer; no
// progress for 10 s while the window is full -> the sender stops, and the missing messages show as
// `lost` (sent, neither delivered nor dropped).
import Foundation
import Histogram
import RaftHTTP
import RaftIO
import RaftPB
import Synchronization

/// The transport benchmark behind `rafthttp bench`. See ``Options`` for what it can run and
/// ``Result`` for what it reports.
public enum TransportBench {
    /// Runs one benchmark. Prints nothing itself (the progress line goes to ``Options/progress``).
    /// - Throws: ``TransportBenchError`` for invalid options or a cluster that does not come up;
    ///   `RaftIOError` when a listener cannot bind or TLS certificates cannot be loaded.
    public static func run(_ options: Options) async throws -> Result {
        try options.validate()
        var result: Result
        if options.target != nil {
            result = try await runAgainstTarget(options)
        } else if options.processes {
            result = try await runWithProcesses(options)
        } else if options.workload == .snapshot {
            return try await runSnapshots(options)
        } else {
            result = try await runInProcess(options)
        }
        // The harness's share of the CPU, measured apart: the same generator and follower
        // bookkeeping for as many messages (at most 50,000, so that its CPU barely shows in a whole-process figure), without a transport.
        guard options.measureHarness else { return result }
        let followers = options.target == nil ? options.members - 1 : 1
        let messages = min(max(result.sent, followers), 50_000)
        result.harnessCPUMicrosecondsPerMessage = await offThread { Sender.dryRun(options, followers: followers, messages: messages) }
        return result
    }

    /// Runs `body` on a thread of its own (the dry run blocks and measures its thread's CPU).
    private static func offThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        let done = Signal<T>()
        let thread = Thread { done.fire(body()) }
        thread.start()
        return await done.wait()
    }

    // MARK: - in-process

    private static func runInProcess(_ options: Options) async throws -> Result {
        let tls = try options.tlsPair()
        let leaderID = options.localID
        let followerIDs = (0..<(options.members - 1)).map { leaderID + 1 + UInt64($0) }
        let flow = FlowControl(followers: followerIDs.count)
        let followerRafts = followerIDs.indices.map { FollowerRaft(flow: flow, slot: $0, delayPerBatch: $0 == 0 ? options.slowFollower : nil) }
        var started: [BenchMember] = []
        do {
            for (slot, id) in followerIDs.enumerated() {
                started.append(try await BenchMember.start(id: id, clusterID: options.clusterID, raft: followerRafts[slot], tls: tls, spin: options.spin))
            }
            let followers = started
            let slots = Dictionary(uniqueKeysWithValues: followerIDs.enumerated().map { ($1, $0) })
            let leader = try await BenchMember.start(id: leaderID, clusterID: options.clusterID,
                                                     raft: LeaderRaft(flow: flow, slots: slots, entries: options.entries, roundTrips: nil),
                                                     tls: tls, spin: options.spin, streamQueueLimit: options.streamQueueLimitBytes)
            started.append(leader)
            if options.workload == .pipeline {
                for f in followers { try leader.transport.addRemote(f.id, urls: [f.url]) }
            } else {
                for f in followers {
                    try leader.transport.addPeer(f.id, urls: [f.url])
                    try f.transport.addPeer(leaderID, urls: [leader.url])
                }
                try await poll(options.patience, "streams from the leader to every follower") {
                    followers.allSatisfy { leader.streamsAttached(to: $0.id) }
                }
            }
            var outcome = try await drive(options, leader: leader, followerIDs: followerIDs, flow: flow, roundTrips: nil)
            outcome.dropped = options.workload == .pipeline
                ? flow.slots.reduce(0) { $0 + $1.dropped.load(ordering: .relaxed) }
                : followerIDs.reduce(0) { $0 + (leader.transport.statistics(peer: $1)?.dropped ?? 0) }
            outcome.congestionEvents = followerIDs.reduce(0) { $0 + (leader.transport.backlog(peer: $1)?.congestionEvents ?? 0) }
            var histogram = makeLatencyHistogram()
            for r in followerRafts { histogram.add(r.histogram) }
            for m in started { await m.stop() }
            return Result(options: options, outcome: outcome, histogram: histogram, latencyKind: .oneWay)
        } catch {
            for m in started { await m.stop() }
            throw error
        }
    }

    // MARK: - the measured part, shared by every mode

    /// What the sending phase measured; the callers add drops and latency.
    struct Outcome {
        var sent = 0
        var delivered = 0
        var dropped = 0
        /// Times a follower became congested (``RaftHTTP/Raft/reportCongestion(_:state:)``).
        var congestionEvents = 0
        var seconds = 0.0
        var cpuSeconds = 0.0
        var io = StreamIOStatistics()
        /// Messages delivered per second, for each second of the run (the last one partial).
        var perSecond: [Double] = []
    }

    static func drive(_ options: Options, leader: BenchMember, followerIDs: [UInt64], flow: FlowControl,
                      roundTrips: RoundTripLog?) async throws -> Outcome {
        let ioBefore = leader.transport.streamIOStatistics
        let cpuBefore = ProcessUsage.now()
        let start = ContinuousClock.now
        let transport = leader.transport
        let sender = Sender(options: options, leaderID: leader.id, followers: followerIDs, flow: flow,
                            roundTrips: roundTrips) { transport.send($0) }
        let finished = Signal<[Int]>()
        let thread = Thread { finished.fire(sender.run()) }
        thread.name = "rafthttp-bench-sender"
        thread.start()
        let payload = options.payloadPerMessage
        let sampler = Task { [progress = options.progress] in
            await sampleEachSecond(flow: flow, payload: payload, start: start, report: progress)
        }
        let sent = await finished.wait()
        // The last deliveries: wait until every follower has completed what it was sent.
        let deadline = ContinuousClock.now + options.patience
        while zip(flow.slots, sent).contains(where: { $0.completed < $1 }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .microseconds(200))
        }
        let seconds = (ContinuousClock.now - start).seconds
        let cpu = ProcessUsage.now().cpuSeconds - cpuBefore.cpuSeconds
        sampler.cancel()
        let perSecond = await sampler.value
        let ioAfter = leader.transport.streamIOStatistics
        var outcome = Outcome()
        outcome.sent = sent.reduce(0, +)
        outcome.delivered = flow.slots.reduce(0) { $0 + $1.delivered.load(ordering: .relaxed) }
        outcome.seconds = seconds
        outcome.cpuSeconds = cpu
        outcome.perSecond = perSecond
        outcome.io = StreamIOStatistics(connections: ioAfter.connections,
                                        bytesWritten: ioAfter.bytesWritten &- ioBefore.bytesWritten,
                                        socketWrites: ioAfter.socketWrites &- ioBefore.socketWrites,
                                        appWrites: ioAfter.appWrites &- ioBefore.appWrites)
        return outcome
    }

    /// Samples the delivered count once a second until cancelled and returns the rate of each
    /// second (and of the last part-second, if it lasted at least a quarter second); with
    /// `report`, also gives it the progress line each second.
    private static func sampleEachSecond(flow: FlowControl, payload: Int, start: ContinuousClock.Instant,
                                         report: (@Sendable (String) -> Void)?) async -> [Double] {
        var rates: [Double] = []
        var lastDelivered = 0
        var last = start
        func delivered() -> Int { flow.slots.reduce(0) { $0 + $1.delivered.load(ordering: .relaxed) } }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { break }
            let now = ContinuousClock.now
            let total = delivered()
            let rate = Double(total - lastDelivered) / (now - last).seconds
            rates.append(rate)
            if let report {
                let dropped = flow.slots.reduce(0) { $0 + $1.dropped.load(ordering: .relaxed) }
                let inFlight = flow.sent.load(ordering: .relaxed) - total - dropped
                report("\(format((now - start).seconds, 1)) s  \(format(rate, 0)) msg/s  "
                       + "\(format(rate * Double(payload) / 1e6, 1)) MB/s  drops \(format(Double(dropped), 0))  "
                       + "in flight \(format(Double(max(0, inFlight)), 0))")
            }
            lastDelivered = total
            last = now
        }
        let tail = (ContinuousClock.now - last).seconds
        if tail >= 0.25 { rates.append(Double(delivered() - lastDelivered) / tail) }
        return rates
    }
}

/// The sending loop, on its own thread: it blocks while the window is full.
///
/// Its own cost per message is kept small, as it is charged to the transport in CPU per message:
/// a MsgApp's entry data is the shared payload (no copy) except for the messages sampled for
/// latency (one in ``TransportBench/Options/latencySampleEvery``), which carry their send time; the
/// clock is read for those, and every 64 rounds for the end of the run. `dryRun` measures this cost.
final class Sender: Sendable {
    let options: TransportBench.Options
    let leaderID: UInt64
    let followers: [UInt64]
    let flow: FlowControl
    let send: @Sendable ([Message]) -> Void
    let roundTrips: RoundTripLog?

    init(options: TransportBench.Options, leaderID: UInt64, followers: [UInt64], flow: FlowControl,
         roundTrips: RoundTripLog?, send: @escaping @Sendable ([Message]) -> Void) {
        self.options = options
        self.leaderID = leaderID
        self.followers = followers
        self.flow = flow
        self.roundTrips = roundTrips
        self.send = send
    }

    /// The harness's own CPU per message, in microseconds: the same generator run against
    /// followers' rafts directly, without a transport, on this thread, for `messages` messages.
    static func dryRun(_ options: TransportBench.Options, followers: Int, messages: Int) -> Double {
        var dry = options
        dry.messages = messages
        dry.rate = nil
        let ids = (0..<followers).map { options.localID + 1 + UInt64($0) }
        let flow = FlowControl(followers: followers)
        let rafts = ids.indices.map { FollowerRaft(flow: flow, slot: $0) }
        let slots = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        let sender = Sender(options: dry, leaderID: options.localID, followers: ids, flow: flow, roundTrips: nil) { batch in
            // As a stream reader delivers: one batch per follower.
            var start = 0
            while start < batch.count {
                var end = start + 1
                while end < batch.count, batch[end].to == batch[start].to { end += 1 }
                if let slot = slots[batch[start].to] { try? rafts[slot].process(batch: Array(batch[start..<end])) }
                start = end
            }
        }
        let before = threadCPUNanos()
        let sent = sender.run().reduce(0, +)
        let nanos = threadCPUNanos() - before
        return sent > 0 ? Double(nanos) / Double(sent) / 1000 : 0
    }

    /// Sends until the duration or message count is reached; returns the messages sent per follower.
    func run() -> [Int] {
        let n = followers.count
        let window = options.window
        let gap = max(1, window / 4) // resume at 3/4 of the window: one wake-up per quarter window
        let spins = window <= 16 ? 2_000 : 0 // a tiny window waits a few microseconds: spin, don't park
        // Unsampled entries share this payload: its first 8 bytes are zero, which no send time is.
        var shared = [UInt8](repeating: 0x61, count: options.entrySize)
        for i in 0..<min(8, shared.count) { shared[i] = 0 }
        let payload = shared
        let sampleEvery = options.latencySampleEvery
        let entries = options.entries
        let workload = options.workload
        let sendsApps = workload != .heartbeat
        let sendsHeartbeats = workload == .heartbeat || workload == .mix
        let limit = options.messages ?? .max
        let startNanos = monotonicNanos()
        let endNanos = options.messages == nil ? startNanos + UInt64(options.duration.seconds * 1e9) : .max
        // Rate: one round (a message to every follower) every `interval` nanoseconds.
        let interval = options.rate.map { Double(n) / $0 * 1e9 }
        var sent = [Int](repeating: 0, count: n)
        var total = 0
        var apps = 0
        var heartbeats = 0
        var round = 0
        // The messages of a round, one per follower, kept from round to round and updated in
        // place: building each anew cost the harness a copy and a destroy of every message.
        let toTarget = roundTrips != nil
        let roundEntries = (0..<entries).map { _ in Entry(term: 1, index: 0, data: payload[...]) }
        var appRound = followers.map { Self.msgApp(to: $0, from: leaderID, index: 0, entries: roundEntries) }
        var wasSampled = false
        // A target may be a real raft (etcd): term 0 makes its raft answer every heartbeat whatever
        // its term (a lower term would be ignored, a higher one would depose its leader), and
        // commit 0 is below any log (a commit past the end of its log panics etcd). Our followers
        // read the send time from `commit` (0: not sampled).
        var heartbeatRound = followers.map { Self.heartbeat(to: $0, from: leaderID, term: toTarget ? 0 : 1, commit: 0) }
        var stalled = false

        while total < limit, !stalled {
            let beats = sendsHeartbeats && (workload == .heartbeat || round % 8 == 7)
            let sampleApp = sendsApps && apps % sampleEvery == 0
            let sampleHeartbeat = beats && heartbeats % sampleEvery == 0
            var stamp: UInt64 = 0
            if sampleApp || sampleHeartbeat || interval != nil || round & 63 == 0 {
                stamp = monotonicNanos()
                if stamp >= endNanos { break }
            }
            if let interval {
                let scheduled = startNanos + UInt64(Double(round) * interval)
                if scheduled > stamp { sleepUntil(scheduled) }
                stamp = scheduled // the intended time: a late send shows as latency
            }
            if options.backpressure {
                for slot in 0..<n where !flow.waitUntilClear(slot: slot, deadline: ContinuousClock.now + options.patience) {
                    stalled = true
                }
                if stalled { break }
            }
            for slot in 0..<n where sent[slot] - flow.slots[slot].completed >= window {
                let deadline = ContinuousClock.now + options.patience
                if !flow.wait(slot: slot, completed: sent[slot] - window + gap, spins: spins, deadline: deadline) {
                    stalled = true
                }
            }
            if stalled { break }
            if sendsApps {
                let index = UInt64(apps * entries)
                // The entries are updated in place, as the messages are: the transport encoded
                // the last round's and let go of them (if it still holds them, in the pipeline's
                // queue, the first change copies). A sampled round's first entry carries its send
                // time in a copy of the payload; the next round puts the shared payload back.
                var stamped: ArraySlice<UInt8>?
                if sampleApp {
                    var data = payload
                    data.withUnsafeMutableBytes { $0.storeBytes(of: stamp.littleEndian, as: UInt64.self) }
                    stamped = data[...]
                }
                for slot in 0..<n {
                    appRound[slot].index = index
                    for k in 0..<entries {
                        appRound[slot].entries[k].index = index + UInt64(k) + 1
                    }
                    if let stamped {
                        appRound[slot].entries[0].data = stamped
                    } else if wasSampled {
                        appRound[slot].entries[0].data = payload[...]
                    }
                    if sampleApp { roundTrips?.sent(heartbeat: false, sequence: apps, slot: slot, at: stamp) }
                }
                wasSampled = sampleApp
                apps += 1
            }
            if beats {
                for slot in 0..<n {
                    heartbeatRound[slot].commit = toTarget || !sampleHeartbeat ? 0 : stamp
                    if sampleHeartbeat { roundTrips?.sent(heartbeat: true, sequence: heartbeats, slot: slot, at: stamp) }
                }
                heartbeats += 1
            }
            let count = (sendsApps ? n : 0) + (beats ? n : 0)
            for slot in 0..<n { sent[slot] += count / n }
            total += count
            flow.sent.add(count, ordering: .relaxed)
            switch (sendsApps, beats) {
            case (true, false): send(appRound)
            case (false, true): send(heartbeatRound)
            case (true, true): send(appRound + heartbeatRound)
            case (false, false): break
            }
            round += 1
        }
        return sent
    }

    private static func heartbeat(to: UInt64, from: UInt64, term: UInt64, commit: UInt64) -> Message {
        var m = Message()
        m.type = .msgHeartbeat
        m.to = to
        m.from = from
        m.term = term
        m.commit = commit
        return m
    }

    private static func msgApp(to: UInt64, from: UInt64, index: UInt64, entries: [Entry]) -> Message {
        var m = Message()
        m.type = .msgApp
        m.to = to
        m.from = from
        m.term = 1
        m.logTerm = 1
        m.index = index
        m.entries = entries
        return m
    }

    private func sleepUntil(_ nanos: UInt64) {
        var ts = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}

/// CPU time and peak memory from getrusage.
struct ProcessUsage {
    var cpuSeconds: Double
    var peakRSSBytes: Int

    static func now(who: Int32 = RUSAGE_SELF.rawValue) -> ProcessUsage {
        var u = rusage()
        getrusage(__rusage_who_t(who), &u)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return ProcessUsage(cpuSeconds: seconds(u.ru_utime) + seconds(u.ru_stime), peakRSSBytes: u.ru_maxrss * 1024)
    }
}
