// The remotes: pipeline-only helpers for members that are not peers yet (a member that just
// joined and must be caught up). The user adds some (`Transport.addRemote`); others are learned
// from requests: a stream or snapshot request from an unknown sender that names its URLs
// (`X-PeerURLs`), as etcd does. Learned remotes are bounded: a sender names any ID it likes, and
// etcd, which keeps one for every ID it ever saw, grew to gigabytes under a flood of made-up IDs.
// At `Configuration.maxLearnedRemotes`, the least recently used learned remote is stopped to make
// room; a real member that was evicted is learned again from its next request (its stream readers
// redial every `dialRetryFrequency`). Remotes the user added are never evicted.

/// The remotes of one transport, under the context's lock. A value type: its owner locks it.
struct Remotes {
    private var pipelines: [UInt64: Pipeline] = [:]
    /// Learned remotes (not the user's), by ID: when each was last learned again or sent to.
    private var lastUse: [UInt64: UInt64] = [:]
    private var clock: UInt64 = 0
    /// Learned remotes stopped to make room.
    private(set) var evicted = 0

    /// How many remotes there are, learned or added.
    var count: Int { pipelines.count }

    /// Whether `id` is a remote, without counting it as a use.
    func contains(_ id: UInt64) -> Bool { pipelines[id] != nil }

    /// The remote `id`, if any; a use of a learned remote keeps it from eviction.
    mutating func use(_ id: UInt64) -> Pipeline? {
        guard let pipeline = pipelines[id] else { return nil }
        if lastUse[id] != nil {
            clock += 1
            lastUse[id] = clock
        }
        return pipeline
    }

    /// Adds a remote the user asked for. Returns false when `id` is a remote already (a learned
    /// one then becomes the user's: never evicted).
    mutating func add(_ id: UInt64, _ make: () -> Pipeline) -> Bool {
        if pipelines[id] != nil {
            lastUse[id] = nil
            return false
        }
        pipelines[id] = make()
        return true
    }

    /// Adds a remote learned from a request, evicting the least recently used learned remote when
    /// `limit` of them exist. Returns whether `id` was added and the pipeline evicted to make room
    /// (to be stopped outside the lock).
    mutating func learn(_ id: UInt64, limit: Int, _ make: () -> Pipeline) -> (added: Bool, evicted: (UInt64, Pipeline)?) {
        clock += 1
        if pipelines[id] != nil {
            if lastUse[id] != nil { lastUse[id] = clock }
            return (false, nil)
        }
        guard limit > 0 else { return (false, nil) }
        var victim: (UInt64, Pipeline)?
        if lastUse.count >= limit, let oldest = lastUse.min(by: { $0.value < $1.value })?.key,
           let pipeline = pipelines.removeValue(forKey: oldest) {
            lastUse[oldest] = nil
            evicted += 1
            victim = (oldest, pipeline)
        }
        pipelines[id] = make()
        lastUse[id] = clock
        return (true, victim)
    }

    /// Removes every remote; returns them, to be stopped outside the lock.
    mutating func removeAll() -> [Pipeline] {
        defer {
            pipelines = [:]
            lastUse = [:]
        }
        return Array(pipelines.values)
    }
}
