// The raft log as the core sees it: entries after a compaction point, the commit index, and how
// far the write-ahead log has made them durable. Pure value code, no I/O.
//
// Indices: entries[i] has index `offset + 1 + i`; `offset`/`offsetTerm` are the index and term of
// the last entry folded into a snapshot (0/0 for a log never compacted), so `term(offset)` is
// still known: the log-matching check for the first entry after a snapshot needs it.
import RaftPB

/// A raft log: entries after a snapshot point, the commit index and the durable (stable) prefix.
public struct RaftLog: Sendable, Hashable {
    /// The index of the last entry folded into a snapshot (0 when never compacted).
    public private(set) var offset: UInt64 = 0
    /// The term of the entry at ``offset``.
    public private(set) var offsetTerm: UInt64 = 0
    /// The entries after ``offset``, in index order.
    public private(set) var entries: [Entry] = []
    /// The highest index known committed.
    public private(set) var committed: UInt64 = 0
    /// The highest index the write-ahead log holds (entries above it still need an fsync).
    public private(set) var stable: UInt64 = 0

    /// An empty log.
    public init() {}

    /// A log restored from the write-ahead log: everything in it is stable.
    public init(offset: UInt64, offsetTerm: UInt64, entries: [Entry], committed: UInt64) {
        self.offset = offset
        self.offsetTerm = offsetTerm
        self.entries = entries
        self.committed = committed
        stable = offset + UInt64(entries.count)
    }

    /// The index of the last entry (``offset`` when there is none after it).
    public var lastIndex: UInt64 { offset + UInt64(entries.count) }

    /// The term of the last entry.
    public var lastTerm: UInt64 { entries.last?.term ?? offsetTerm }

    /// The first index still held as an entry.
    public var firstIndex: UInt64 { offset + 1 }

    /// The term of the entry at `index`; nil when it was compacted away or is past the end.
    public func term(_ index: UInt64) -> UInt64? {
        if index == offset { return offsetTerm }
        guard index > offset, index <= lastIndex else { return nil }
        return entries[Int(index - offset - 1)].term
    }

    /// Whether the entry at `index` has `term` (raft's log-matching check).
    public func matches(index: UInt64, term: UInt64) -> Bool { self.term(index) == term }

    /// Entries in `from...to` (clamped to what is held), at most `maxBytes` of data but at least one.
    public func entries(from: UInt64, through to: UInt64, maxBytes: Int = .max) -> [Entry] {
        guard from > offset, from <= to, from <= lastIndex else { return [] }
        let end = min(to, lastIndex)
        var out: [Entry] = []
        var bytes = 0
        for index in from...end {
            let entry = entries[Int(index - offset - 1)]
            bytes += entry.data?.count ?? 0
            if !out.isEmpty, bytes > maxBytes { break }
            out.append(entry)
        }
        return out
    }

    /// Entries not yet in the write-ahead log.
    public var unstable: [Entry] { entries(from: stable + 1, through: lastIndex) }

    /// Appends one entry at the end (the leader's own proposals). `entry.index` must be
    /// ``lastIndex`` + 1.
    public mutating func append(_ entry: Entry) {
        precondition(entry.index == lastIndex + 1, "append out of order")
        entries.append(entry)
    }

    /// The largest index a log holds, 2^63 - 1: at a million entries a second a log reaches it in
    /// 292,000 years, so only a broken or hostile peer names a larger one. Keeping indices below
    /// it keeps every index sum of the log and its callers (an index plus an entry count, plus one)
    /// from overflowing.
    public static let maxIndex = UInt64(Int64.max)

    /// Appends a leader's entries after the log-matching check passed for `index` (the entry
    /// before the first of `incoming`): skips those already held with the same term, truncates at
    /// the first conflict, then appends the rest. Truncated entries are no longer stable.
    ///
    /// Checks the whole append before changing anything, and throws with the log unchanged when
    /// an entry conflicts with a committed one (raft guarantees a leader holds every committed
    /// entry; etcd's raft panics here), when `index` is past ``lastIndex``, when the entries are
    /// not `index + 1`, `index + 2`, ... in order, or when one would be past ``maxIndex``.
    /// - Throws: ``RaftLogError`` naming the first offending entry.
    public mutating func appendReplicated(_ incoming: [Entry], after index: UInt64) throws(RaftLogError) {
        guard incoming.isEmpty || index <= lastIndex else { throw .gap(after: index, lastIndex: lastIndex) }
        var expected = index
        for (position, entry) in incoming.enumerated() {
            if entry.index <= committed, let existing = term(entry.index), existing != entry.term {
                throw .conflictAtCommittedIndex(entry.index, term: entry.term, existingTerm: existing, committed: committed)
            }
            guard expected < Self.maxIndex else { throw .pastMaxIndex(entry.index) }
            expected += 1
            guard entry.index == expected else { throw .notContiguous(after: index, position: position, index: entry.index) }
        }
        for (i, entry) in incoming.enumerated() {
            if let existing = term(entry.index) {
                if existing == entry.term { continue }
                entries.removeSubrange(Int(entry.index - offset - 1)...)
                stable = min(stable, entry.index - 1)
            } else if entry.index <= offset {
                continue // folded into our snapshot: committed, so it matches
            }
            entries.append(contentsOf: incoming[i...])
            return
        }
    }

    /// Records that the write-ahead log now holds the entries through `index` (never lowers
    /// ``stable``; bounded by ``lastIndex``).
    public mutating func markStable(through index: UInt64) {
        stable = max(stable, min(index, lastIndex))
    }

    /// Raises the commit index to `index`, bounded by ``lastIndex`` (never lowers it).
    public mutating func commit(to index: UInt64) {
        if index > committed { committed = min(index, lastIndex) }
    }

    /// Drops the entries up to `index` (a snapshot now covers them). Nothing happens when
    /// `index` is at or below ``offset`` or past ``lastIndex``.
    public mutating func compact(through index: UInt64) {
        guard index > offset, let term = term(index) else { return }
        entries.removeSubrange(..<Int(index - offset))
        offset = index
        offsetTerm = term
    }

    /// Replaces the whole log by a snapshot's point (a follower far behind, or a conflicting log):
    /// no entries, committed and stable at `index`. `index` must be at most ``maxIndex``: a caller
    /// ignores a snapshot past it (``firstIndex`` and ``lastIndex`` would overflow).
    public mutating func restore(index: UInt64, term: UInt64) {
        entries = []
        offset = index
        offsetTerm = term
        committed = index
        stable = index
    }
}
