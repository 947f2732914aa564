@testable import RaftHTTP
import RaftIO
import Testing

/// The remotes' bookkeeping on a manual clock: idle eviction and the learned remotes' dial
/// budget, no sockets, no sleeps. A remote here is its own name.
@Suite("remotes bookkeeping: idle eviction and the dial budget, on a manual clock")
struct RemotesTests {
    /// Remotes over a manual clock that starts at an arbitrary instant; `advance` moves it.
    private final class Clock: Sendable {
        private let origin = ContinuousClock.now
        private let offset = Locked<Duration>(.zero)
        func now() -> ContinuousClock.Instant { origin + offset.withLock { $0 } }
        func advance(_ d: Duration) { offset.withLock { $0 += d } }
    }

    private func make(burst: Int = 8, perSecond: Double = 1) -> (Remotes<String>, Clock) {
        let clock = Clock()
        return (Remotes(dialBurst: burst, dialsPerSecond: perSecond) { clock.now() }, clock)
    }

    private static let idle = Duration.seconds(60)

    /// The IDs evicted now for being idle (`busy` names remotes with work in flight).
    private func sweep(_ remotes: inout Remotes<String>, busy: Set<String> = []) -> [UInt64] {
        remotes.evictIdle(after: Self.idle) { busy.contains($0) }.map(\.0).sorted()
    }

    /// How many of `n` dials in a row the budget admits.
    private func dials(_ n: Int, _ remotes: inout Remotes<String>) -> Int {
        (0 ..< n).reduce(0) { count, _ in count + (remotes.admitLearnedDial() ? 1 : 0) }
    }

    @Test("a learned remote unused for the idle timeout is evicted, not a millisecond before; a use starts the wait over")
    func idleEviction() {
        var (remotes, clock) = make()
        _ = remotes.learn(1, limit: 64) { "a" }
        _ = remotes.learn(2, limit: 64) { "b" }
        clock.advance(.seconds(30))
        _ = remotes.use(2) // raft sent to it
        clock.advance(.seconds(30) - .milliseconds(1))
        var evicted = sweep(&remotes)
        #expect(evicted.isEmpty)
        clock.advance(.milliseconds(1))
        evicted = sweep(&remotes)
        #expect(evicted == [1])
        #expect(!remotes.contains(1) && remotes.contains(2))
        #expect(remotes.statistics.evictedIdle == 1 && remotes.statistics.count == 1)
        // A request of the sender again (learned again) counts as a use as well.
        clock.advance(.seconds(59))
        let again = remotes.learn(2, limit: 64) { "b'" }
        #expect(!again.added && again.evicted == nil)
        clock.advance(.seconds(59))
        evicted = sweep(&remotes)
        #expect(evicted.isEmpty)
        clock.advance(.seconds(1))
        evicted = sweep(&remotes)
        #expect(evicted == [2])
        #expect(remotes.statistics.evictedIdle == 2 && remotes.statistics.count == 0)
        #expect(remotes.statistics.evicted == 0, "the cap's counter is apart")
    }

    @Test("a remote the user added is never evicted by time, nor a learned one the user then added")
    func usersRemotesStay() {
        var (remotes, clock) = make()
        let user = remotes.add(9) { "user" }
        #expect(user.added && user.replaced == nil)
        _ = remotes.learn(3, limit: 64) { "learned" }
        let (added, replaced) = remotes.add(3) { "user's now" }
        #expect(added && replaced == "learned", "the learned pipeline is handed back to be stopped")
        #expect(!remotes.isLearned(3) && remotes.statistics.count == 2)
        let twice = remotes.add(9) { "again" }
        #expect(!twice.added && twice.replaced == nil)
        clock.advance(.seconds(86_400))
        let evicted = sweep(&remotes)
        #expect(evicted.isEmpty)
        let three = remotes.use(3), nine = remotes.use(9)
        #expect(three == "user's now" && nine == "user")
    }

    @Test("a learned remote with a post in flight is not idle, however long ago it was used")
    func busyStays() {
        var (remotes, clock) = make()
        _ = remotes.learn(4, limit: 64) { "busy" }
        clock.advance(.seconds(600))
        var evicted = sweep(&remotes, busy: ["busy"])
        #expect(evicted.isEmpty)
        evicted = sweep(&remotes)
        #expect(evicted == [4])
    }

    @Test("the dial budget: a burst at once, then one per refill interval; an idle hour refills only to the burst; refusals counted")
    func dialBudget() {
        var (remotes, clock) = make(burst: 3, perSecond: 2)
        var admitted = dials(4, &remotes)
        #expect(admitted == 3)
        clock.advance(.milliseconds(499))
        admitted = dials(1, &remotes)
        #expect(admitted == 0)
        clock.advance(.milliseconds(1))
        admitted = dials(2, &remotes)
        #expect(admitted == 1)
        // A flood over a manual minute gets 2 per second, whatever it asks.
        admitted = 0
        for _ in 0 ..< 60_000 {
            clock.advance(.milliseconds(1))
            admitted += dials(3, &remotes)
        }
        #expect(admitted == 120)
        clock.advance(.seconds(3600))
        admitted = dials(4, &remotes)
        #expect(admitted == 3)
        let s = remotes.statistics
        #expect(s.dialsAdmitted == 3 + 1 + 120 + 3)
        #expect(s.dialsRefused == 1 + 1 + 1 + (60_000 * 3 - 120) + 1)
    }

    @Test("a burst of 0 dials none; a rate of 0 never refills")
    func noBudget() {
        var (none, clock) = make(burst: 0, perSecond: 100)
        clock.advance(.seconds(10))
        let fromNone = dials(1, &none)
        #expect(fromNone == 0)
        var (once, later) = make(burst: 2, perSecond: 0)
        var fromOnce = dials(2, &once)
        #expect(fromOnce == 2)
        later.advance(.seconds(86_400))
        fromOnce = dials(1, &once)
        #expect(fromOnce == 0)
    }
}
