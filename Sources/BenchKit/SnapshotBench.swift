// `rafthttp bench --workload snapshot`: the leader sends each follower one snapshot of
// `--snapshot-size` bytes over POST /raft/snapshot, all at once; a follower's sink counts the bytes
// and discards them (the transport alone), or with `--snapshot-dir` stores them with
// `FileSnapshotSink` (written, fsynced, renamed, as a member does; put the folder on tmpfs to
// leave the disk out). Done when the leader's raft heard `.finish` (or `.failure`) for every
// follower. Latency is each snapshot's duration, send call to `.finish`.
#if canImport(Glibc)
import Glibc
#endif
import Histogram
import RaftHTTP
import RaftIO
import RaftPB
import Synchronization

extension TransportBench {
    static func runSnapshots(_ options: Options) async throws -> Result {
        let tls = try options.tlsPair()
        let leaderID = options.localID
        let followerIDs = (0..<(options.members - 1)).map { leaderID + 1 + UInt64($0) }
        let reports = SnapshotReports()
        var started: [BenchMember] = []
        var folders: [String] = []
        defer { for folder in folders { Self.removeFolder(folder) } }
        do {
            var followers: [BenchMember] = []
            for id in followerIDs {
                let sink: any SnapshotSink
                if let folder = try options.snapshotDirectory.map({ try Self.makeFolder($0 + "/rafthttp-bench-\(getpid())-\(id)") }) {
                    folders.append(folder)
                    sink = FileSnapshotSink(directory: folder)
                } else {
                    sink = DiscardingSink()
                }
                followers.append(try await BenchMember.start(id: id, clusterID: options.clusterID, raft: SnapshotFollowerRaft(),
                                                             tls: tls, snapshotSink: sink, spin: options.spin))
            }
            started = followers
            let leader = try await BenchMember.start(id: leaderID, clusterID: options.clusterID, raft: SnapshotLeaderRaft(reports: reports),
                                                     tls: tls, spin: options.spin)
            started.append(leader)
            for f in followers { try leader.transport.addPeer(f.id, urls: [f.url]) }
            let cpuBefore = ProcessUsage.now()
            let start = ContinuousClock.now
            for id in followerIDs {
                var m = Message()
                m.type = .msgSnap
                m.from = leaderID
                m.to = id
                m.snapshot.metadata.index = 1
                m.snapshot.metadata.term = 1
                reports.started(id, at: ContinuousClock.now)
                leader.transport.sendSnapshot(m, database: GeneratedSnapshotSource(size: UInt64(options.snapshotSize)))
            }
            await reports.waitForAll(followerIDs.count)
            let seconds = (ContinuousClock.now - start).seconds
            var outcome = Outcome()
            outcome.sent = followerIDs.count
            outcome.delivered = reports.finished
            outcome.dropped = followerIDs.count - reports.finished
            outcome.seconds = seconds
            outcome.cpuSeconds = ProcessUsage.now().cpuSeconds - cpuBefore.cpuSeconds
            var histogram = makeLatencyHistogram()
            for d in reports.durations { _ = histogram.record(UInt64(max(0, d.seconds * 1e9))) } // nanoseconds, as the others
            for m in started { await m.stop() }
            return Result(options: options, outcome: outcome, histogram: histogram, latencyKind: .oneWay)
        } catch {
            for m in started { await m.stop() }
            throw error
        }
    }
}

extension TransportBench {
    /// Creates `path` (a follower's snapshot folder).
    static func makeFolder(_ path: String) throws -> String {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw TransportBenchError.invalid("--snapshot-dir: cannot create \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }

    /// Removes a follower's snapshot folder and the files in it (it holds no subfolders).
    static func removeFolder(_ path: String) {
        guard let dir = opendir(path) else { return }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { unlink(path + "/" + name) }
        }
        closedir(dir)
        rmdir(path)
    }
}

/// Database bytes made on the fly, so a 1 GiB snapshot needs no file: splitmix64 of each 8-byte
/// word's number, little-endian — the same work per byte as the etcd instrument's generator
/// (`fillGen`), so that neither side's harness is cheaper.
final class GeneratedSnapshotSource: SnapshotSource {
    let size: UInt64
    private let offset = Atomic<UInt64>(0)

    init(size: UInt64) { self.size = size }

    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        let at = offset.load(ordering: .relaxed)
        let n = Int(min(UInt64(buffer.count), size - at))
        var i = 0
        var position = at
        while i < n, position % 8 != 0 {
            buffer[i] = Self.byte(at: position)
            i += 1
            position += 1
        }
        while i + 8 <= n {
            buffer.storeBytes(of: Self.splitmix64(position / 8).littleEndian, toByteOffset: i, as: UInt64.self)
            i += 8
            position += 8
        }
        while i < n {
            buffer[i] = Self.byte(at: position)
            i += 1
            position += 1
        }
        offset.store(at + UInt64(n), ordering: .relaxed)
        return n
    }

    private static func byte(at position: UInt64) -> UInt8 {
        UInt8(truncatingIfNeeded: splitmix64(position / 8) >> (8 * (position % 8)))
    }

    @inline(__always)
    private static func splitmix64(_ k: UInt64) -> UInt64 {
        var z = k &* 0x9E37_79B9_7F4A_7C15 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Counts received database bytes and discards them.
final class DiscardingSink: SnapshotSink {
    func begin(from: UInt64, message: Message) throws -> any SnapshotSinkWriter { Writer() }

    final class Writer: SnapshotSinkWriter {
        let bytes = Atomic<Int>(0)
        func write(_ chunk: UnsafeRawBufferPointer) throws { bytes.add(chunk.count, ordering: .relaxed) }
        func finish() throws {}
        func abort() {}
    }
}

/// When each snapshot started and how it ended.
final class SnapshotReports: Sendable {
    private let state = Locked<(starts: [UInt64: ContinuousClock.Instant], durations: [Duration], finished: Int, ended: Int,
                                waiters: [(Int, CheckedContinuation<Void, Never>)])>(([:], [], 0, 0, []))

    func started(_ id: UInt64, at instant: ContinuousClock.Instant) { state.withLock { $0.starts[id] = instant } }

    func ended(_ id: UInt64, ok: Bool) {
        let now = ContinuousClock.now
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { s in
            if ok, let start = s.starts[id] {
                s.durations.append(now - start)
                s.finished += 1
            }
            s.ended += 1
            let ended = s.ended
            let ready = s.waiters.filter { ended >= $0.0 }.map(\.1)
            s.waiters.removeAll { ended >= $0.0 }
            return ready
        }
        for r in ready { r.resume() }
    }

    var finished: Int { state.withLock { $0.finished } }
    var durations: [Duration] { state.withLock { $0.durations } }

    func waitForAll(_ count: Int) async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let done: Bool = state.withLock { s in
                if s.ended >= count { return true }
                s.waiters.append((count, cont))
                return false
            }
            if done { cont.resume() }
        }
    }
}

/// The leader's raft in the snapshot workload: it only hears how each snapshot ended.
final class SnapshotLeaderRaft: Raft, Sendable {
    let reports: SnapshotReports
    init(reports: SnapshotReports) { self.reports = reports }
    func process(_ message: Message) throws {}
    func isIDRemoved(_ id: UInt64) -> Bool { false }
    func reportUnreachable(_ id: UInt64) {}
    func reportSnapshot(_ id: UInt64, status: SnapshotStatus) { reports.ended(id, ok: status == .finish) }
}

/// A follower's raft in the snapshot workload: accepts the MsgSnap once the sink has the database.
final class SnapshotFollowerRaft: Raft, Sendable {
    func process(_ message: Message) throws {}
    func isIDRemoved(_ id: UInt64) -> Bool { false }
    func reportUnreachable(_ id: UInt64) {}
    func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {}
}
