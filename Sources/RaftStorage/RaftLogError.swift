// Why the log refuses a leader's append: it would rewrite an entry the log has committed, it
// starts past the log's end, its entries do not follow each other from the index the leader
// matched, or an index is past the largest a log holds. Only a broken or hostile peer sends such an append (raft guarantees a
// leader holds every committed entry); etcd's raft panics on the first, and its slice arithmetic
// on the second. Ours throws, having changed nothing, and the caller refuses the message.

/// A replicated append that ``RaftLog`` refuses. When it is thrown the log is as it was.
public struct RaftLogError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case conflictAtCommittedIndex(index: UInt64, term: UInt64, existingTerm: UInt64, committed: UInt64)
        case gap(after: UInt64, lastIndex: UInt64)
        case notContiguous(after: UInt64, position: Int, index: UInt64)
        case pastMaxIndex(index: UInt64)
    }

    private let code: Code

    /// The entry at `index` has `term`, but the log committed an entry with `existingTerm` there
    /// (through `committed`).
    public static func conflictAtCommittedIndex(_ index: UInt64, term: UInt64, existingTerm: UInt64,
                                                committed: UInt64) -> RaftLogError {
        RaftLogError(code: .conflictAtCommittedIndex(index: index, term: term, existingTerm: existingTerm, committed: committed))
    }

    /// The append starts after index `after`, past the log's last index `lastIndex`.
    public static func gap(after: UInt64, lastIndex: UInt64) -> RaftLogError {
        RaftLogError(code: .gap(after: after, lastIndex: lastIndex))
    }

    /// The entry at `position` (0-based) of an append after index `after` has index `index`,
    /// not the one that follows its predecessor.
    public static func notContiguous(after: UInt64, position: Int, index: UInt64) -> RaftLogError {
        RaftLogError(code: .notContiguous(after: after, position: position, index: index))
    }

    /// An entry of the append would have an index past ``RaftLog/maxIndex``.
    public static func pastMaxIndex(_ index: UInt64) -> RaftLogError {
        RaftLogError(code: .pastMaxIndex(index: index))
    }

    /// What was wrong, for a person; etcd's words where etcd has them ("entry 2 conflict with
    /// committed entry [committed(3)]").
    public var description: String {
        switch code {
        case let .conflictAtCommittedIndex(index, term, existingTerm, committed):
            "entry \(index) conflict with committed entry [committed(\(committed))]: term \(term), committed term \(existingTerm)"
        case let .gap(after, lastIndex):
            "an append after index \(after) leaves a gap: the log ends at index \(lastIndex)"
        case let .notContiguous(after, position, index):
            "entries do not follow index \(after) one by one: entry \(position) of the append has index \(index)"
        case let .pastMaxIndex(index):
            "entry index \(index) is past the largest a log holds (\(RaftLog.maxIndex))"
        }
    }
}
