// Remotes learned from requests of unknown senders: made with a dial budget, stopped when the cap
// is reached or when idle (Remotes.swift tells the story of the bounds). The idle sweep is a timer
// on one loop, every quarter of the idle timeout: a remote is stopped between the timeout and a
// quarter past it.
import Logging
import RaftIO
import RaftPB

extension Transport {
    /// Adds a remote learned from a request of an unknown sender (`X-Server-From` with
    /// `X-PeerURLs`), at most ``Configuration/maxLearnedRemotes`` of them: the least recently used
    /// learned remote is stopped to make room.
    func learnRemote(_ id: UInt64, urls: [String]) {
        guard !isStopped, let parsed = try? Self.parse(urls), context.peers.withLock({ $0[id] == nil }) else { return }
        let limit = context.configuration.maxLearnedRemotes
        let (added, evicted) = context.remotes.withLock { remotes in remotes.learn(id, limit: limit) { learnedPipeline(id, parsed) } }
        if let (evictedID, pipeline) = evicted {
            pipeline.stop()
            context.rateLimitedWarning(key: "remote-evicted", "stopped the least recently used remote peer to make room",
                                       metadata: ["remote-peer-id": "\(MemberID(evictedID))", "limit": "\(limit)"])
        }
        if added {
            context.logger.info("added new remote peer", metadata: ["remote-peer-id": "\(MemberID(id))"])
        }
    }

    /// Stops the learned remotes idle for ``Configuration/learnedRemoteIdleTimeout`` (the sweep's
    /// timer calls it). Any thread.
    func evictIdleLearnedRemotes() {
        guard let idle = context.configuration.learnedRemoteIdleTimeout, !isStopped else { return }
        let evicted = context.remotes.withLock { $0.evictIdle(after: idle) { $0.isBusy } }
        for (id, pipeline) in evicted {
            pipeline.stop()
            context.warnings.log(level: .info, key: "remote-evicted-idle", "stopped an idle remote peer learned from a request",
                                 metadata: ["remote-peer-id": "\(MemberID(id))", "idle-timeout": "\(idle)"])
        }
    }

    /// A learned remote's pipeline: its own connection pool, each dial within the budget.
    private func learnedPipeline(_ id: UInt64, _ urls: [PeerURL]) -> Pipeline {
        let admit: @Sendable (PeerURL) -> Bool = { [weak context] url in
            guard let context else { return false }
            if context.remotes.withLock({ $0.admitLearnedDial() }) { return true }
            let c = context.configuration
            context.rateLimitedWarning(key: "learned-remote-dial-refused",
                                       "refused to dial a remote peer learned from a request: the dial budget is spent",
                                       metadata: ["remote-peer-id": "\(MemberID(id))", "remote-peer-url": "\(url)",
                                                  "dial-burst": "\(c.learnedRemoteDialBurst)",
                                                  "dials-per-second": "\(c.learnedRemoteDialsPerSecond)"])
            return false
        }
        return Pipeline(peerID: id, context: context, loop: context.group.next(), picker: URLPicker(urls: urls),
                        learned: .init(client: context.learnedClient, admit: admit))
    }
}

/// The timer that evicts idle learned remotes, on one loop.
final class LearnedRemoteSweep: @unchecked Sendable {
    // @unchecked Sendable: `timer` and `stopped` are touched on `loop` only (start and stop hop
    // there); `loop` and `every` are immutable.

    // MARK: immutable, any thread
    private let loop: EventLoop
    private let every: UInt64

    // MARK: loop thread only
    private var timer: LoopTimer?
    private var stopped = false

    /// A sweep every quarter of `idleTimeout`, on `loop`; not started.
    init(loop: EventLoop, idleTimeout: Duration) {
        self.loop = loop
        every = max(1, idleTimeout.milliseconds / 4)
    }

    /// Arms the timer; `sweep` runs on the loop at each tick. Any thread.
    func start(_ sweep: @escaping @Sendable () -> Void) {
        loop.execute { [self] in
            guard !stopped, timer == nil else { return }
            timer = loop.scheduleTimer(after: every, repeating: every, sweep)
        }
    }

    /// Cancels the timer for good. Any thread.
    func stop() {
        loop.executeSoon { [self] in
            stopped = true
            timer?.cancel()
            timer = nil
        }
    }
}
