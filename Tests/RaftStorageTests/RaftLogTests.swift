// The raft log's replicated append: entries held with the same term are skipped, a conflict above
// the commit index truncates, and an append that would break the log (a conflict with a committed
// entry, entries out of order or past the end, an index past maxIndex) is refused with the log
// unchanged, where etcd's raft panics.
import RaftPB
import Testing

@testable import RaftStorage

@Suite("raft log replicated append")
struct RaftLogTests {
    /// A log holding entries 1... with `terms`, committed through `committed`.
    private func log(_ terms: [UInt64], committed: UInt64) -> RaftLog {
        RaftLog(offset: 0, offsetTerm: 0, entries: entries(terms, from: 1), committed: committed)
    }

    private func entries(_ terms: [UInt64], from: UInt64) -> [Entry] {
        terms.enumerated().map { Entry(term: $1, index: from + UInt64($0)) }
    }

    @Test("entries held with the same term are skipped; a conflict above the commit index truncates there and appends the rest")
    func conflictAboveCommit() throws {
        var l = log([1, 1, 1, 1], committed: 2)
        try l.appendReplicated(entries([1, 2, 2], from: 2), after: 1)
        #expect(l.entries == entries([1, 1, 2, 2], from: 1))
        #expect(l.stable == 2, "the truncated entries are no longer stable")
    }

    @Test("an entry that conflicts with a committed one is refused with etcd's words and the log unchanged")
    func conflictAtCommittedIndex() {
        var l = log([1, 1, 1, 1], committed: 3)
        l.markStable(through: 4)
        let before = l
        #expect(throws: RaftLogError.conflictAtCommittedIndex(3, term: 2, existingTerm: 1, committed: 3)) {
            try l.appendReplicated(entries([2, 2], from: 3), after: 2)
        }
        #expect(l == before)
        #expect(RaftLogError.conflictAtCommittedIndex(3, term: 2, existingTerm: 1, committed: 3).description
            == "entry 3 conflict with committed entry [committed(3)]: term 2, committed term 1")
        // The committed prefix again with its own terms is fine: skipped.
        try? l.appendReplicated(entries([1, 1], from: 2), after: 1)
        #expect(l == before)
    }

    @Test("entries that do not follow the matched index one by one are refused, also when the bad one comes after good ones")
    func notContiguous() {
        var l = log([1, 1], committed: 1)
        let before = l
        #expect(throws: RaftLogError.notContiguous(after: 2, position: 1, index: 5)) {
            try l.appendReplicated([Entry(term: 1, index: 3), Entry(term: 1, index: 5)], after: 2)
        }
        #expect(throws: RaftLogError.notContiguous(after: 1, position: 0, index: 1)) {
            try l.appendReplicated([Entry(term: 1, index: 1)], after: 1)
        }
        #expect(l == before)
        #expect(RaftLogError.notContiguous(after: 2, position: 1, index: 5).description
            == "entries do not follow index 2 one by one: entry 1 of the append has index 5")
    }

    @Test("an append after an index past the last one is refused: it would leave a gap")
    func gap() {
        var l = log([1, 1], committed: 1)
        let before = l
        #expect(throws: RaftLogError.gap(after: 5, lastIndex: 2)) {
            try l.appendReplicated(entries([1], from: 6), after: 5)
        }
        #expect(l == before)
        #expect(RaftLogError.gap(after: 5, lastIndex: 2).description == "an append after index 5 leaves a gap: the log ends at index 2")
    }

    @Test("an entry past maxIndex is refused before any index sum can overflow")
    func pastMaxIndex() throws {
        let top = RaftLog.maxIndex
        var l = RaftLog(offset: top - 1, offsetTerm: 1, entries: [], committed: top - 1)
        let before = l
        #expect(throws: RaftLogError.pastMaxIndex(top + 1)) {
            try l.appendReplicated(entries([1, 1], from: top), after: top - 1)
        }
        #expect(l == before)
        try l.appendReplicated(entries([1], from: top), after: top - 1)
        #expect(l.lastIndex == top)
    }
}
