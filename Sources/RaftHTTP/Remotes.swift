// The remotes: pipeline-only helpers for members that are not peers yet (a member that just
// joined and must be caught up). The user adds some (`Transport.addRemote`); others are learned
// from requests: a stream or snapshot request from an unknown sender that names its URLs
// (`X-PeerURLs`), as etcd does. A sender names any ID and any URL it likes, so learned remotes are
// bounded three ways (etcd, which keeps one for every ID it ever saw, grew to gigabytes under a
// flood of made-up IDs, and dials whatever URL a sender named whenever raft answers it):
//
// - Count: at `Configuration.maxLearnedRemotes`, the least recently used learned remote is
//   stopped to make room (`evicted`).
// - Time: a learned remote that nobody used for `Configuration.learnedRemoteIdleTimeout` (raft
//   sent nothing to it, its sender made no request, no post of it is in flight) is stopped
//   (`evictedIdle`); a sweep on a loop timer looks every quarter of the timeout.
// - Dials: connecting to a URL that a sender supplied costs a token from one bucket shared by
//   every learned remote (`learnedRemoteDialBurst` tokens, refilled at
//   `learnedRemoteDialsPerSecond`); without one the post fails before it dials (`dialsRefused`)
//   and raft hears unreachable, as for any failed post; raft resends. A flood of requests naming
//   new senders and URLs, answered by raft (a vote or heartbeat response goes to any sender),
//   thus turns into at most burst + rate x time connection attempts, not one per request.
//
// A real member that was evicted is learned again from its next request (its stream readers redial
// every `dialRetryFrequency`). Remotes the user added are never evicted and never budgeted; a
// learned remote the user then adds becomes the user's.
//
// Time enters through the injected clock `now`, so tests drive eviction and the bucket with a
// manual clock and no sockets.

/// The remotes of one transport, under the context's lock. A value type: its owner locks it.
/// Generic over what a remote is (the transport's `Pipeline`; anything in tests).
struct Remotes<Remote> {
    /// When a learned remote was last used: `sequence` orders uses (least recently used first),
    /// `at` is the clock's reading.
    private struct LastUse {
        var sequence: UInt64
        var at: ContinuousClock.Instant
    }

    private var remotes: [UInt64: Remote] = [:]
    /// Learned remotes (not the user's), by ID.
    private var learned: [UInt64: LastUse] = [:]
    private var sequence: UInt64 = 0
    private var dialBudget: TokenBucket
    private let now: @Sendable () -> ContinuousClock.Instant
    /// The counters; `count` is kept current.
    private(set) var statistics = RemoteStatistics()

    /// `dialBurst` and `dialsPerSecond` shape the learned remotes' dial budget; `now` is the
    /// clock, injectable for tests.
    init(dialBurst: Int, dialsPerSecond: Double,
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.now = now
        dialBudget = TokenBucket(burst: dialBurst, perSecond: dialsPerSecond, now: now())
    }

    /// Whether `id` is a remote, without counting it as a use.
    func contains(_ id: UInt64) -> Bool { remotes[id] != nil }

    /// Whether `id` is a remote learned from a request (not the user's).
    func isLearned(_ id: UInt64) -> Bool { learned[id] != nil }

    /// The remote `id`, if any; a use of a learned remote keeps it from eviction.
    mutating func use(_ id: UInt64) -> Remote? {
        guard let remote = remotes[id] else { return nil }
        touch(id)
        return remote
    }

    /// Adds a remote the user asked for. A learned remote `id` becomes the user's (never evicted,
    /// never budgeted): it is replaced by `make()`, and the learned one is returned, to be stopped
    /// outside the lock. Returns whether a remote was made.
    mutating func add(_ id: UInt64, _ make: () -> Remote) -> (added: Bool, replaced: Remote?) {
        if let existing = remotes[id] {
            guard learned.removeValue(forKey: id) != nil else { return (false, nil) }
            remotes[id] = make()
            return (true, existing)
        }
        remotes[id] = make()
        statistics.count = remotes.count
        return (true, nil)
    }

    /// Adds a remote learned from a request, evicting the least recently used learned remote when
    /// `limit` of them exist. A learned remote learned again counts as a use. Returns whether `id`
    /// was added and the remote evicted to make room (to be stopped outside the lock).
    mutating func learn(_ id: UInt64, limit: Int, _ make: () -> Remote) -> (added: Bool, evicted: (UInt64, Remote)?) {
        if remotes[id] != nil {
            touch(id)
            return (false, nil)
        }
        guard limit > 0 else { return (false, nil) }
        var victim: (UInt64, Remote)?
        if learned.count >= limit, let oldest = learned.min(by: { $0.value.sequence < $1.value.sequence })?.key,
           let remote = remotes.removeValue(forKey: oldest) {
            learned[oldest] = nil
            statistics.evicted += 1
            victim = (oldest, remote)
        }
        remotes[id] = make()
        sequence += 1
        learned[id] = LastUse(sequence: sequence, at: now())
        statistics.count = remotes.count
        return (true, victim)
    }

    /// Removes the learned remotes not used for `idle` or longer, except those `isBusy` says
    /// have work in flight; returns them, to be stopped outside the lock.
    mutating func evictIdle(after idle: Duration, isBusy: (Remote) -> Bool) -> [(UInt64, Remote)] {
        let now = now()
        var evicted: [(UInt64, Remote)] = []
        for (id, use) in learned where now - use.at >= idle {
            guard let remote = remotes[id], !isBusy(remote) else { continue }
            remotes[id] = nil
            learned[id] = nil
            evicted.append((id, remote))
        }
        statistics.evictedIdle += evicted.count
        statistics.count = remotes.count
        return evicted
    }

    /// Takes a token from the learned remotes' dial budget: false (and counted) when none is left.
    mutating func admitLearnedDial() -> Bool {
        if dialBudget.take(now: now()) {
            statistics.dialsAdmitted += 1
            return true
        }
        statistics.dialsRefused += 1
        return false
    }

    /// Removes every remote; returns them, to be stopped outside the lock.
    mutating func removeAll() -> [Remote] {
        defer {
            remotes = [:]
            learned = [:]
            statistics.count = 0
        }
        return Array(remotes.values)
    }

    private mutating func touch(_ id: UInt64) {
        guard learned[id] != nil else { return }
        sequence += 1
        learned[id] = LastUse(sequence: sequence, at: now())
    }
}

/// A token bucket: at most `burst` tokens, one more each `1 / perSecond` seconds. Time is kept as
/// exact durations (credit toward the next token), so counts over a manual clock are exact.
struct TokenBucket {
    private let burst: Int
    /// The time that earns one token; nil: no refill.
    private let interval: Duration?
    private var tokens: Int
    private var credit: Duration = .zero
    private var last: ContinuousClock.Instant

    /// A full bucket. A burst or rate at or below 0 (or not finite) means no token ever / no refill.
    init(burst: Int, perSecond: Double, now: ContinuousClock.Instant) {
        self.burst = max(0, burst)
        interval = perSecond > 0 && perSecond.isFinite ? .seconds(1 / perSecond) : nil
        tokens = self.burst
        last = now
    }

    /// Takes one token if there is one.
    mutating func take(now: ContinuousClock.Instant) -> Bool {
        if let interval, interval > .zero, now > last {
            credit += now - last
            last = now
            let earned = Int((credit / interval).rounded(.down))
            if earned >= burst - tokens {
                tokens = burst
                credit = .zero
            } else if earned > 0 {
                tokens += earned
                credit -= interval * earned
            }
        }
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }
}
