import Foundation
import RaftIO

/// Runs `body` with a fresh event loop group, inside the shared resource gate, and shuts the
/// group down afterwards (also when `body` throws).
public func withEventLoop<T>(loops: Int = 1, _ body: (EventLoopGroup) async throws -> T) async throws -> T {
    try await ResourceGate.shared {
        let group = try EventLoopGroup(loopCount: loops)
        do {
            let r = try await body(group)
            await group.shutdownOffPool()
            return r
        } catch {
            await group.shutdownOffPool()
            throw error
        }
    }
}

/// Runs a blocking call (a thread join, a child process's exit) on a thread of its own and
/// awaits it, so that it does not hold one of Swift concurrency's cooperative threads. There are
/// as many of those as cores (two here): each one held up by a blocking call stalls every other
/// test's tasks, and with them their deadlines and pacing.
public func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (cont: CheckedContinuation<T, Never>) in
        Thread { cont.resume(returning: body()) }.start()
    }
}

extension EventLoopGroup {
    /// ``EventLoopGroup/shutdown()`` (which joins the loop threads) off the cooperative pool.
    public func shutdownOffPool() async {
        await offCooperativePool { self.shutdown() }
    }
}

/// Runs `body`, then `cleanUp`, also when `body` throws: the `defer` that async code cannot write.
public func withCleanUp<T>(_ body: () async throws -> T, cleanUp: () async -> Void) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await cleanUp()
        throw error
    }
    await cleanUp()
    return result
}

/// A weak reference that a `@Sendable` condition may read, to check that an object was freed.
public final class WeakReference: @unchecked Sendable {
    // @unchecked Sendable: `object` is a weak reference, whose loads and stores are atomic.
    public weak var object: AnyObject?
    public init(_ object: AnyObject? = nil) { self.object = object }
}
