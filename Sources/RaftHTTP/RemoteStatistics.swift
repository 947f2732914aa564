// The counters of a transport's remotes (see Remotes.swift for the bounds they count).

/// Counters of a transport's remotes, read with ``Transport/remoteStatistics``: how many exist
/// and what the bounds on remotes learned from requests of unknown senders did.
public struct RemoteStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Remotes now, learned from requests or added by the user.
    public var count = 0
    /// Learned remotes stopped to make room at ``Transport/Configuration/maxLearnedRemotes``
    /// (least recently used first), since the start.
    public var evicted = 0
    /// Learned remotes stopped because nobody used them for
    /// ``Transport/Configuration/learnedRemoteIdleTimeout``, since the start.
    public var evictedIdle = 0
    /// Connections that learned remotes were allowed to dial, since the start.
    public var dialsAdmitted = 0
    /// Posts of learned remotes that failed without dialing because the dial budget
    /// (``Transport/Configuration/learnedRemoteDialBurst``,
    /// ``Transport/Configuration/learnedRemoteDialsPerSecond``) was spent, since the start.
    public var dialsRefused = 0

    /// Zero counters.
    public init() {}

    public var description: String {
        "remotes \(count), evicted \(evicted) (full) + \(evictedIdle) (idle), dials admitted \(dialsAdmitted), refused \(dialsRefused)"
    }
}
