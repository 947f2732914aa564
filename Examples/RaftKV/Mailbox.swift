// The hand-off from the transport's event-loop threads to the raft loop: `post` appends and
// signals (never blocks beyond a short critical section, so a loop thread is never held up by
// raft's fsync); the raft loop takes everything posted at once, or waits until a deadline (its
// next tick) when nothing is.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A multi-producer, single-consumer queue with a timed wait, on a pthread mutex and condition.
final class Mailbox<Element: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `items` and `closed` are read and written only with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var items: [Element] = []
    private var closed = false

    init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) // deadlines from ContinuousClock-like time
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Appends `item`; returns false (dropping it) once the mailbox is closed. Any thread.
    @discardableResult
    func post(_ item: Element) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard !closed else { return false }
        items.append(item)
        if items.count == 1 { pthread_cond_signal(condition) }
        return true
    }

    /// Refuses further posts. Items already posted are still taken.
    func close() {
        pthread_mutex_lock(mutex)
        closed = true
        pthread_mutex_unlock(mutex)
    }

    /// Everything posted so far, waiting until `deadline` (monotonic nanoseconds, see
    /// ``monotonicNanoseconds()``) while nothing is. Empty on timeout. The consumer thread only.
    func take(waitingUntil deadline: UInt64) -> [Element] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while items.isEmpty {
            if pthread_cond_timedwait(condition, mutex, &until) == ETIMEDOUT { break }
        }
        defer { items.removeAll(keepingCapacity: true) }
        return items
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the raft loop's tick clock.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
