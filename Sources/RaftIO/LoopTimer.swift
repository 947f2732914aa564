import CRaftIO

/// A timer on an event loop. Create with ``EventLoop/scheduleTimer(after:repeating:_:)``; every
/// method must be called on the loop's thread; the callback runs there too.
public final class LoopTimer {
    private var raw: OpaquePointer?
    /// Dropped once the timer is closed (cancelled, or its loop stopped), so a callback that
    /// captures the timer (to cancel itself) makes no lasting cycle.
    private var fire: (() -> Void)?

    fileprivate init(fire: @escaping () -> Void) { self.fire = fire }

    fileprivate func attach(_ loop: EventLoop) {
        let me = Unmanaged.passRetained(self).toOpaque() // released by the close callback
        raw = rio_timer_new(loop.raw, { data in
            guard let data else { return }
            Unmanaged<LoopTimer>.fromOpaque(data).takeUnretainedValue().fire?()
        }, { data in
            guard let data else { return }
            let timer = Unmanaged<LoopTimer>.fromOpaque(data).takeRetainedValue()
            timer.raw = nil
            timer.fire = nil
        }, me)
        if raw == nil { // the loop is stopping: the timer never fires
            fire = nil
            Unmanaged<LoopTimer>.fromOpaque(me).release()
        }
    }

    /// (Re)arms the timer: first after `milliseconds`, then every `repeating` milliseconds (0: once).
    public func start(after milliseconds: UInt64, repeating: UInt64 = 0) {
        if let raw { rio_timer_start(raw, milliseconds, repeating) }
    }

    /// Disarms the timer; it can be started again.
    public func stop() {
        if let raw { rio_timer_stop(raw) }
    }

    /// Releases the timer for good. Idempotent.
    public func cancel() {
        if let raw { rio_timer_close(raw) }
    }
}

extension EventLoop {
    /// Creates and starts a timer. Loop thread only. On a loop that is stopping (a callback run
    /// during ``EventLoopGroup/shutdown()``) the timer never fires.
    public func scheduleTimer(after milliseconds: UInt64, repeating: UInt64 = 0, _ fire: @escaping () -> Void) -> LoopTimer {
        assertInLoop()
        let timer = LoopTimer(fire: fire)
        timer.attach(self)
        timer.start(after: milliseconds, repeating: repeating)
        return timer
    }
}
