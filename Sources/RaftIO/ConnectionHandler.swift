/// Receives a connection's events on its event loop's thread.
///
/// This is how a protocol parser runs on the loop with no task hop per chunk: the bytes passed to
/// ``connectionDidRead(_:_:)`` are valid only during the call, so parse them (or copy what must be
/// kept) before returning. Calls for one connection never overlap.
public protocol ConnectionHandler: AnyObject {
    /// Plaintext bytes arrived. Call ``Connection/pauseReading()`` to stop the flow (the socket is
    /// paused, so the kernel's window rather than our memory absorbs a slow consumer).
    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer)
    /// The peer finished sending (TCP FIN or TLS close_notify). The connection stays writable.
    func connectionDidReachEOF(_ connection: Connection)
    /// A socket write completed; `queued` bytes remain to be written.
    func connectionDidDrain(_ connection: Connection, queued: Int)
    /// The connection is closed: `error` is nil after a requested close, or says what failed.
    /// Called exactly once, last.
    func connectionDidClose(_ connection: Connection, error: RaftIOError?)
}

extension ConnectionHandler {
    public func connectionDidReachEOF(_ connection: Connection) {}
    public func connectionDidDrain(_ connection: Connection, queued: Int) {}
    public func connectionDidClose(_ connection: Connection, error: RaftIOError?) {}
}
