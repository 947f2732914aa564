import Foundation
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

/// Soak length: `SOAK_SECONDS` (default 30; `make soak` runs the 120).
let soakTime: Duration = .seconds(Int(ProcessInfo.processInfo.environment["SOAK_SECONDS"] ?? "") ?? 30)

/// One sender-side record per (from, to, class): for each sequence number, how many unreachable
/// reports for `to` the sender's raft had seen just before the send.
final class SoakLedger: Sendable {
    struct Key: Hashable { var from: UInt64; var to: UInt64; var app: Bool }
    let sent = Locked<[Key: [Int]]>([:])
}

@Suite("Soak: mixed traffic under faults, nothing lost silently, nothing duplicated or reordered")
struct SoakTests {
    @Test("3 members, appends and heartbeats, a proxy fault every few seconds: every message delivered once in order per stream, or raft told unreachable; resources flat")
    func soak() async throws {
        try await ResourceGate.exclusive {
            try await ProxiedCluster.with(count: 3, configure: { c in
                c.connectionReadTimeout = .seconds(1)
                c.streamQueueLimitBytes = 1 << 20
            }) { cluster in
                try await cluster.waitUntilConnected()
                let ledger = SoakLedger()
                let members = cluster.members
                let seq = Locked<[SoakLedger.Key: UInt64]>([:])
                let traffic = Task {
                    while !Task.isCancelled {
                        for a in members {
                            var batch: [Message] = []
                            for b in members where b.id != a.id {
                                let reports = a.raft.record.unreachable.filter { $0 == b.id }.count
                                for app in [true, false] {
                                    let key = SoakLedger.Key(from: a.id, to: b.id, app: app)
                                    let n = seq.withLock { s -> UInt64 in s[key, default: 0] += 1; return s[key, default: 0] }
                                    ledger.sent.withLock { $0[key, default: []].append(reports) }
                                    batch.append(app ? message(.msgApp, from: a.id, to: b.id, term: 1, index: n, entries: 1, entrySize: 512)
                                                     : message(.msgHeartbeat, from: a.id, to: b.id, term: 1, commit: n))
                                }
                            }
                            a.transport.send(batch)
                        }
                        try? await Task.sleep(for: .milliseconds(2))
                    }
                }
                // Warm-up, then the baseline.
                try await Task.sleep(for: .seconds(3))
                let rss = ProcessResources.residentBytes(), fds = ProcessResources.openFileDescriptors()
                let threads = ProcessResources.threads()
                let faults: [(String, FaultProxy.Faults?)] = [
                    ("reset", .init(refuse: true)), ("latency 20 ms", .init(latency: .milliseconds(20))),
                    ("blackhole", .init(blackhole: true)), ("1 MB/s", .init(bytesPerSecond: 1 << 20)),
                    ("one-way", .init(cut: [.toClient])), ("reset burst", nil),
                ]
                let end = ContinuousClock.now + soakTime
                var round = 0
                while ContinuousClock.now < end {
                    let (name, fault) = faults[round % faults.count]
                    let victim = UInt64(round % 3 + 1)
                    if let fault { await cluster.isolate(victim, fault) } else { for p in cluster.proxies(touching: victim) { await p.resetAll() } }
                    try await Task.sleep(for: .milliseconds(1500))
                    await cluster.heal()
                    try await cluster.waitUntilConnected(timeout: .seconds(10))
                    try await Task.sleep(for: .milliseconds(1500))
                    _ = name
                    round += 1
                }
                traffic.cancel()
                _ = await traffic.value
                try await cluster.waitUntilConnected()
                // Settle: the counts stop moving (pipeline posts in flight land or fail).
                let last = Locked(-1)
                try await eventually(.seconds(10), "deliveries settle") {
                    let now = members.reduce(0) { $0 + $1.raft.record.received.count }
                    return last.withLock { l in defer { l = now }; return l == now }
                }
                // The invariant, per (sender, receiver, class).
                var delivered = 0, lostReported = 0, inversions = 0
                for b in members {
                    let got = b.raft.record.received
                    for a in members where a.id != b.id {
                        let reportsAtEnd = a.raft.record.unreachable.filter { $0 == b.id }.count
                        for app in [true, false] {
                            let key = SoakLedger.Key(from: a.id, to: b.id, app: app)
                            let seqs = got.filter { $0.from == a.id && ($0.type == .msgApp) == app && ($0.type == .msgApp || $0.type == .msgHeartbeat) }
                                .map { app ? $0.index : $0.commit }
                            #expect(Set(seqs).count == seqs.count, "\(key): duplicates")
                            // Inversions can only come from the pipeline (4 concurrent posts) used
                            // while both streams are down; within one stream order is kept.
                            inversions += zip(seqs, seqs.dropFirst()).filter { $0 > $1 }.count
                            let sentLog = ledger.sent.withLock { $0[key] ?? [] }
                            let have = Set(seqs)
                            for (i, reportsBefore) in sentLog.enumerated() where !have.contains(UInt64(i + 1)) {
                                #expect(reportsAtEnd > reportsBefore, "\(key) #\(i + 1) lost and raft never told")
                                lostReported += 1
                            }
                            delivered += seqs.count
                        }
                    }
                }
                print("[soak] \(soakTime), \(round) faults: delivered \(delivered), lost and reported \(lostReported), pipeline inversions \(inversions)")
                var open = 0
                for p in cluster.allProxies { open += await p.statistics().open }
                print("[soak] fds \(fds) -> \(ProcessResources.openFileDescriptors()), proxy links open \(open), threads \(threads) -> \(ProcessResources.threads()), RSS \(rss >> 20) -> \(ProcessResources.residentBytes() >> 20) MiB")
                // Resources back near the warm-up baseline. While streams were down, messages went by
                // the pipeline, whose kept-alive connections (up to 16 per peer and loop, 4 descriptors
                // each through a proxy) stay pooled until their idle timeout: close them, then count.
                for m in cluster.members { m.transport.closeIdleConnections() }
                try await eventually(.seconds(10), "descriptors near the baseline") { ProcessResources.openFileDescriptors() <= fds + 16 }
                #expect(ProcessResources.threads() <= threads + 4)
                // The RecordingRafts keep every delivered message (a 512 B entry each, ~1 KiB with
                // overhead): RSS may grow by that record, plus 64 MiB of margin, and no more.
                if !ProcessResources.underAddressSanitizer { // its quarantine holds freed memory
                    #expect(ProcessResources.residentBytes() - rss < (64 << 20) + delivered * 1024)
                }
            }
        }
    }
}
