// How the kernel notices a peer that vanished without a FIN or RST (powered off, blackholed,
// partitioned): TCP keepalive on idle connections and TCP_USER_TIMEOUT on ones with data in
// flight. The values travel to the C core (`rio_tcp_liveness_t`), which sets them on each socket
// when it connects or is accepted.
import CRaftIO

/// TCP keepalive and user-timeout settings of a connection's socket.
///
/// Without them Linux notices a dead peer only when TCP gives up retransmitting (~15 minutes), and
/// never on a connection that carries nothing. With them:
/// - an idle connection is probed after ``keepAliveIdle`` of silence, then every
///   ``keepAliveInterval``; the kernel drops it (`ETIMEDOUT`) once ``userTimeout`` has passed since
///   it last heard the peer, or after ``keepAliveCount`` unanswered probes where there is no user
///   timeout (macOS);
/// - a connection with data (or a window probe) unacknowledged for ``userTimeout`` is dropped.
///
/// So a dead peer is noticed within ``detectionBound`` wherever the connection is: in a pool, in
/// a request, in a stream. A peer whose process is stopped but whose kernel still answers is not a
/// dead link to TCP; the transport's read and progress timeouts cover that.
///
/// Keepalive and user timeout are given in whole seconds and milliseconds; `.zero` (or a count of
/// 0) leaves that setting at the core's default: keepalive on, first probe after 30 s (Go's dialer,
/// so etcd's peers), the rest the kernel's.
public struct TCPLiveness: Sendable, Hashable, CustomStringConvertible {
    /// Silence before the first keepalive probe (whole seconds, rounded up).
    public var keepAliveIdle: Duration
    /// Between unanswered probes (whole seconds, rounded up).
    public var keepAliveInterval: Duration
    /// Unanswered probes before the kernel drops the connection (where no user timeout decides).
    public var keepAliveCount: Int
    /// The longest time sent data or a probe may stay unacknowledged (`TCP_USER_TIMEOUT`, Linux
    /// only; ignored elsewhere).
    public var userTimeout: Duration

    /// Creates settings; see the properties.
    public init(keepAliveIdle: Duration, keepAliveInterval: Duration, keepAliveCount: Int, userTimeout: Duration) {
        self.keepAliveIdle = keepAliveIdle
        self.keepAliveInterval = keepAliveInterval
        self.keepAliveCount = keepAliveCount
        self.userTimeout = userTimeout
    }

    /// Settings derived from a transport's read timeout `t`: the first probe after `t` of silence,
    /// then one every `t / 5` (at least 1 s), five of them, and a user timeout of `t` plus those five
    /// intervals. With etcd's 5 s: probes after 5 s, every 1 s, dropped at 10 s. A link that carries
    /// stream heartbeats (every `t / 3`) is never probed.
    public init(readTimeout t: Duration) {
        let interval = max(Duration.seconds(1), t / 5)
        self.init(keepAliveIdle: t, keepAliveInterval: interval, keepAliveCount: 5, userTimeout: t + interval * 5)
    }

    /// How long after a peer's last answer the kernel drops a connection on which nothing more is
    /// written (Linux): the user timeout, or the first probe where that comes later, plus one probe
    /// interval (the kernel decides at its probe timer). With the values derived from 5 s: 11 s.
    public var idleDetectionBound: Duration {
        let idle = Duration.seconds(Self.wholeSeconds(keepAliveIdle))
        let interval = Duration.seconds(max(1, Self.wholeSeconds(keepAliveInterval)))
        guard userTimeout > .zero else { return idle + interval * max(1, keepAliveCount) + interval }
        return max(userTimeout, idle) + interval
    }

    /// The longest a dead peer goes unnoticed on a connection with these settings (Linux), whatever
    /// it carries: ``idleDetectionBound``, where a write just before the kernel's verdict starts the
    /// user timeout over (data unacknowledged for ``userTimeout`` drops the connection). With the
    /// values derived from 5 s: 21 s; a connection that writes steadily goes in ``userTimeout``
    /// after its first unanswered write.
    public var detectionBound: Duration {
        idleDetectionBound + (userTimeout > .zero ? userTimeout : .zero)
    }

    public var description: String {
        "keepalive \(keepAliveIdle) then every \(keepAliveInterval) x\(keepAliveCount), user timeout \(userTimeout)"
    }

    var raw: rio_tcp_liveness_t {
        rio_tcp_liveness_t(keepalive_idle_s: UInt32(clamping: Self.wholeSeconds(keepAliveIdle)),
                           keepalive_interval_s: UInt32(clamping: Self.wholeSeconds(keepAliveInterval)),
                           keepalive_count: UInt32(clamping: max(0, keepAliveCount)),
                           user_timeout_ms: UInt32(clamping: userTimeout.milliseconds))
    }

    init(_ raw: rio_tcp_liveness_t) {
        self.init(keepAliveIdle: .seconds(Int(raw.keepalive_idle_s)), keepAliveInterval: .seconds(Int(raw.keepalive_interval_s)),
                  keepAliveCount: Int(raw.keepalive_count), userTimeout: .milliseconds(Int(raw.user_timeout_ms)))
    }

    /// Whole seconds, rounded up (the socket options take seconds); zero or less is 0.
    private static func wholeSeconds(_ d: Duration) -> Int64 {
        let ms = d.milliseconds
        return Int64(clamping: (ms + 999) / 1000)
    }
}

extension Connection {
    /// Sets the socket's keepalive and user timeout (see ``TCPLiveness``). Loop thread only; on a
    /// connection still dialing they apply once it connects.
    /// - Throws: ``RaftIOError`` when the socket refuses an option.
    public func setTCPLiveness(_ liveness: TCPLiveness) throws(RaftIOError) {
        loop.assertInLoop()
        guard let raw else { return }
        var options = liveness.raw
        let rc = rio_conn_set_liveness(raw, &options)
        if rc != 0 { throw RaftIOError(code: rc, message: "setsockopt(): \(String(cString: rio_strerror(rc)))") }
    }

    /// The keepalive and user timeout in effect on the socket, read back from the kernel (a
    /// keepalive idle of zero: keepalive is off). Loop thread only, once open.
    /// - Throws: ``RaftIOError`` when the connection has no socket.
    public func tcpLivenessInEffect() throws(RaftIOError) -> TCPLiveness {
        loop.assertInLoop()
        guard let raw else { throw RaftIOError(kind: .closed, message: "the connection has no socket") }
        var out = rio_tcp_liveness_t()
        let rc = rio_conn_get_liveness(raw, &out)
        if rc != 0 { throw RaftIOError(code: rc, message: "getsockopt(): \(String(cString: rio_strerror(rc)))") }
        return TCPLiveness(out)
    }
}
