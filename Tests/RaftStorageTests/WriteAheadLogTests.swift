// The write-ahead log on a real file: what is saved comes back after a reopen, a later entry
// record replaces a conflicting suffix, and a torn tail is cut off.
import Foundation
import RaftPB
import Testing

@testable import RaftStorage

@Suite("write-ahead log")
struct WriteAheadLogTests {
    private func withDirectory(_ body: (String) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "raftkv-wal-\(UInt64.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }

    private func entry(_ term: UInt64, _ index: UInt64, _ text: String) -> Entry {
        Entry(term: term, index: index, data: Array(text.utf8)[...])
    }

    @Test("entries and hard state come back after a reopen; a later record replaces a conflicting suffix")
    func replay() throws {
        try withDirectory { dir in
            do {
                let (wal, replayed) = try WriteAheadLog.open(directory: dir)
                #expect(replayed.entries.isEmpty)
                try wal.save(hardState: HardState(term: 1, vote: 2, commit: 0), entries: [entry(1, 1, "a"), entry(1, 2, "b"), entry(1, 3, "c")])
                try wal.save(hardState: HardState(term: 2, vote: 3, commit: 2), entries: [entry(2, 3, "C")])
                wal.close()
            }
            let (_, replayed) = try WriteAheadLog.open(directory: dir)
            #expect(replayed.hardState == HardState(term: 2, vote: 3, commit: 2))
            #expect(replayed.entries == [entry(1, 1, "a"), entry(1, 2, "b"), entry(2, 3, "C")])
            #expect(replayed.log.committed == 2)
        }
    }

    @Test("a torn last record is cut off and the log goes on from the record before it")
    func tornTail() throws {
        try withDirectory { dir in
            do {
                let (wal, _) = try WriteAheadLog.open(directory: dir)
                try wal.save(hardState: nil, entries: [entry(1, 1, "a"), entry(1, 2, "b")])
                wal.close()
            }
            let path = dir + "/wal"
            let full = try #require(FileManager.default.contents(atPath: path))
            try full.prefix(full.count - 3).write(to: URL(fileURLWithPath: path))
            do {
                let (wal, replayed) = try WriteAheadLog.open(directory: dir)
                #expect(replayed.entries == [entry(1, 1, "a")])
                #expect(replayed.truncatedBytes > 0)
                try wal.save(hardState: nil, entries: [entry(1, 2, "B")])
                wal.close()
            }
            let (_, replayed) = try WriteAheadLog.open(directory: dir)
            #expect(replayed.entries == [entry(1, 1, "a"), entry(1, 2, "B")])
            #expect(replayed.truncatedBytes == 0)
        }
    }
}
