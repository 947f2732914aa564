#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value guarded by a pthread mutex.
///
/// Used instead of `Synchronization.Mutex` because ThreadSanitizer on Linux understands pthread
/// mutexes (it reports false races through `Mutex`'s futex), and because `withLock` takes a plain
/// `inout` closure, which keeps raw-pointer payloads out of region-isolation trouble.
/// Critical sections must stay tiny: no I/O, no callbacks, no allocation where avoidable.
///
/// Public (not `package`) so that `withLock` inlines into the other modules of the package: with
/// Swift 6.3 an `@inlinable package` method was still called through its generic entry point.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched between lock and unlock of `mutex`.
    // Inlinable (and so these two usable from inlinable code): a lock taken from another module
    // through an opaque generic call costs a metadata lookup and a boxed closure on every use.
    // Unchecked exclusivity: the mutex already makes every access exclusive (a nested withLock
    // on the same lock deadlocks before it could overlap), and the dynamic check cost a runtime
    // call per critical section on every path that takes a lock.
    @exclusivity(unchecked) @usableFromInline var value: Value
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    /// A lock guarding `value`.
    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value; returns what `body` returns.
    @inlinable @inline(__always)
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
