// A record of what a member applied, one line per committed entry, for checking after a run that
// no two members applied different entries at the same index (raft's state machine safety).
//
// Line: "<index> <term> <hash>\n", the hash FNV-1a 64 over the entry's type and data, in hex.
// Appended with one write(2) per raft turn; a member restarted from its WAL applies the entries
// after its snapshot again and appends them again (the same lines, if all is well). A SIGKILL loses
// at most the turn being written: readers skip a line that does not parse.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftPB

/// The applied-entry record of one member (raftexample's `--applied-log`). Raft loop only.
final class AppliedLog {
    private let fd: Int32
    private var pending: [UInt8] = []

    /// Opens `path` for appending, creating it. Nil when it cannot be opened.
    init?(path: String) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
    }

    deinit { close(fd) }

    /// Records `entry` as applied (written at the next ``flush()``).
    func record(_ entry: Entry) {
        pending.append(contentsOf: "\(entry.index) \(entry.term) \(String(Self.hash(entry), radix: 16))\n".utf8)
    }

    /// Writes what was recorded since the last flush. No fsync: the record is for checking, and
    /// what a crash loses of it is only left unchecked.
    func flush() {
        guard !pending.isEmpty else { return }
        var at = 0
        while at < pending.count {
            let n = pending.withUnsafeBytes { all in write(fd, all.baseAddress.map { $0 + at }, all.count - at) }
            if n < 0 {
                if errno == EINTR { continue }
                break // UNTESTED: the record cannot be written; the member goes on without it
            }
            at += n
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// FNV-1a 64 over the entry's type and data.
    static func hash(_ entry: Entry) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        mix(UInt8(truncatingIfNeeded: entry.type.rawValue))
        for byte in entry.data ?? [] { mix(byte) }
        return h
    }
}
