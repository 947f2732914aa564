import CRaftIO
import Synchronization

/// One libuv event loop running on its own thread.
///
/// Creating a loop ignores SIGPIPE for the process: libuv writes to sockets with write(2), and a
/// peer that reset its connection must cost an error on that connection, not the process.
///
/// Sockets, timers and TLS sessions belong to the loop they were created on; their callbacks run on
/// the loop's thread, one at a time. Other threads and tasks hand work to a loop with ``execute(_:)``:
/// a burst of jobs costs one wake-up.
public final class EventLoop: @unchecked Sendable {
    // @unchecked Sendable: `raw` is immutable and every C function called on it from another thread
    // is documented as any-thread in craftio.h; everything else runs on the loop thread.
    let raw: OpaquePointer

    init(spin: Duration) throws(RaftIOError) {
        var err = [CChar](repeating: 0, count: Int(RIO_ERRLEN))
        guard let loop = rio_loop_new(&err, err.count) else {
            throw RaftIOError(kind: .io, message: cString(err))
        }
        raw = loop
        rio_loop_set_spin(raw, UInt64(max(0, spin.nanoseconds)))
        let rc = rio_loop_start(raw)
        if rc != 0 {
            rio_loop_free(raw)
            throw RaftIOError(code: rc, message: "uv_thread_create(): \(String(cString: rio_strerror(rc)))")
        }
    }

    /// Whether the caller runs on this loop's thread.
    public var inEventLoop: Bool { rio_loop_on_thread(raw) != 0 }

    /// Runs `job` on the loop's thread, after the jobs submitted before it.
    ///
    /// Safe from any thread. Returns `false` (and never runs `job`) once the loop is stopping.
    @discardableResult
    public func execute(_ job: @escaping @Sendable () -> Void) -> Bool {
        let box = Unmanaged.passRetained(JobBox(job)).toOpaque()
        let rc = rio_loop_submit(raw, { arg in
            guard let arg else { return }
            Unmanaged<JobBox>.fromOpaque(arg).takeRetainedValue().job()
        }, box)
        if rc != 0 {
            Unmanaged<JobBox>.fromOpaque(box).release()
            return false
        }
        return true
    }

    /// Runs `job` now when called on the loop's thread, otherwise like ``execute(_:)``.
    @discardableResult
    public func executeSoon(_ job: @escaping @Sendable () -> Void) -> Bool {
        if inEventLoop {
            job()
            return true
        }
        return execute(job)
    }

    /// Runs `body` on the loop and returns its result to the calling task.
    ///
    /// Throws ``RaftIOError/Kind/eventLoopStopped`` when the loop no longer accepts work.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            let accepted = execute {
                do { cont.resume(returning: try body()) } catch { cont.resume(throwing: error) }
            }
            if !accepted { cont.resume(throwing: RaftIOError.eventLoopStopped()) }
        }
    }

    /// Milliseconds on the loop's clock (cached per loop turn). Loop thread only.
    public var now: UInt64 { rio_loop_now(raw) }

    /// Asserts (in debug builds) that the caller runs on this loop's thread: the first line of
    /// every loop-only method, here and in the modules above.
    package func assertInLoop(_ file: StaticString = #fileID, _ line: UInt = #line) {
        assert(inEventLoop, "called off the event loop thread", file: file, line: line)
    }

    fileprivate func stop() { rio_loop_stop(raw) }

    deinit {
        rio_loop_stop(raw)
        rio_loop_free(raw)
    }
}

private final class JobBox {
    let job: @Sendable () -> Void
    init(_ job: @escaping @Sendable () -> Void) { self.job = job }
}

/// A fixed set of event loops, one thread each, for spreading connections over cores.
public final class EventLoopGroup: Sendable {
    /// The loops, in creation order.
    public let loops: [EventLoop]
    private let counter = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)

    /// Starts `loopCount` loops (at least one), each on its own thread.
    ///
    /// `spin`: after its last read or job a loop keeps polling without blocking for this long, so
    /// a message that follows closely is handled at once instead of after a sleep and wake-up
    /// (tens of microseconds on a VM). It costs a core's time right after activity: worth it for
    /// a latency-bound member with a core per loop, harmful when busy loops outnumber cores (many
    /// spinning loops starve each other and everything else). Default `.zero`: no spinning.
    /// - Throws: ``RaftIOError`` when a loop or its thread cannot be created.
    public init(loopCount: Int = 1, spin: Duration = .zero) throws(RaftIOError) {
        var loops: [EventLoop] = []
        for _ in 0..<max(1, loopCount) { loops.append(try EventLoop(spin: spin)) }
        self.loops = loops
    }

    /// The next loop, round robin. Safe from any thread.
    public func next() -> EventLoop {
        let i = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[i % loops.count]
    }

    /// Stops every loop: closes the handles still open on them (each reports
    /// ``RaftIOError/Kind/eventLoopStopped``), then joins their threads.
    ///
    /// Blocks the calling thread until the loop threads have exited, usually for milliseconds.
    /// Must not be called from a loop thread. Idempotent.
    public func shutdown() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for loop in loops {
            precondition(!loop.inEventLoop, "EventLoopGroup.shutdown() called on one of its loops")
            loop.stop()
        }
    }

    deinit { shutdown() }
}
