// The write-ahead log: what raft must not forget across a crash (term, vote, commit, entries,
// the latest snapshot's metadata), appended to one file and fsynced before any message that
// depends on it leaves (a vote granted, an append acknowledged).
//
// Happy path: open → replay every record → append a batch per Ready → fsync → ... → close.
// Failure modes: the process dies mid-write → the last record is torn (short, or its CRC does not
// match): replay stops there and the file is truncated to the last whole record, as etcd's WAL
// repairs a torn tail; a write or fsync fails → thrown, and the node stops (raft cannot go on
// with a log it is unsure of).
//
// Record layout (little-endian):
// | offset | bytes | meaning                                                        |
// |--------|-------|----------------------------------------------------------------|
// | 0      | 1     | kind: 1 entry, 2 hard state, 3 snapshot metadata               |
// | 1      | 4     | payload length n                                               |
// | 5      | 4     | CRC-32 (IEEE) of kind and payload                              |
// | 9      | n     | payload: the raftpb encoding of Entry/HardState/SnapshotMetadata |
// An entry record for index i replaces entries i and later from earlier records (a follower's
// log truncated at a conflict). A snapshot record drops the entries it covers.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftPB

/// A write-ahead log in one file (`<directory>/wal`).
///
/// Not thread-safe: the raft loop owns it.
public final class WriteAheadLog {
    /// What a replay found.
    public struct Replayed: Sendable {
        /// The last hard state written (zero for a new log).
        public var hardState = HardState()
        /// The latest snapshot's metadata (zero when none).
        public var snapshot = SnapshotMetadata()
        /// The entries after the snapshot, in index order.
        public var entries: [Entry] = []
        /// Bytes dropped from a torn tail.
        public var truncatedBytes = 0

        /// Nothing replayed: a new log (a member's first boot writes its initial records from it).
        public init() {}

        /// The raft log these records describe.
        public var log: RaftLog {
            RaftLog(offset: snapshot.index, offsetTerm: snapshot.term, entries: entries, committed: hardState.commit)
        }
    }

    enum Kind: UInt8 { case entry = 1, hardState = 2, snapshot = 3 }

    static let headerSize = 9

    /// The file's path.
    public let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    /// The term and vote last made durable: a hard state that changes only the commit index
    /// needs no fsync.
    private var synced: (term: UInt64, vote: UInt64) = (0, 0)

    /// Opens (creating if needed) the log in `directory` and replays it.
    /// - Throws: ``WALError`` when the directory or file cannot be opened or read.
    public static func open(directory: String) throws(WALError) -> (WriteAheadLog, Replayed) {
        try DurableFile.makeDirectories(directory)
        let path = directory + "/wal"
        let fd = openFile(path)
        guard fd >= 0 else { throw WALError("open", path) }
        let wal = WriteAheadLog(path: path, fd: fd)
        let replayed = try wal.replay()
        return (wal, replayed)
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { if fd >= 0 { closeFile(fd) } }

    /// Closes the file; later calls throw.
    public func close() {
        if fd >= 0 { closeFile(fd) }
        fd = -1
    }

    private func replay() throws(WALError) -> Replayed {
        let bytes = try DurableFile.readAll(fd, path: path)
        var out = Replayed()
        var at = 0
        while at + Self.headerSize <= bytes.count {
            let length = Int(Self.readUInt32(bytes, at + 1))
            let end = at + Self.headerSize + length
            guard end <= bytes.count, let kind = Kind(rawValue: bytes[at]) else { break }
            var crc = CRC32()
            crc.update(bytes[at ..< at + 1])
            crc.update(bytes[at + Self.headerSize ..< end])
            guard crc.value == Self.readUInt32(bytes, at + 5) else { break }
            let payload = bytes[at + Self.headerSize ..< end]
            do {
                switch kind {
                case .entry:
                    let entry = try Entry(decoding: payload)
                    let first = out.snapshot.index + 1
                    if entry.index < first { break }
                    let keep = Int(entry.index - first)
                    if keep < out.entries.count { out.entries.removeSubrange(keep...) }
                    guard keep == out.entries.count else { throw WALError.gap(path, index: entry.index) }
                    out.entries.append(entry)
                case .hardState:
                    out.hardState = try HardState(decoding: payload)
                case .snapshot:
                    let meta = try SnapshotMetadata(decoding: payload)
                    out.entries.removeAll { $0.index <= meta.index }
                    if let first = out.entries.first, first.index != meta.index + 1 { out.entries = [] }
                    out.snapshot = meta
                }
            } catch let error as WALError {
                throw error
            } catch {
                break // a record that does not decode is a torn or garbled tail
            }
            at = end
        }
        if at < bytes.count {
            out.truncatedBytes = bytes.count - at
            guard ftruncate(fd, off_t(at)) == 0 else { throw WALError("ftruncate", path) }
        }
        guard lseek(fd, 0, SEEK_END) >= 0 else { throw WALError("lseek", path) }
        synced = (out.hardState.term, out.hardState.vote)
        return out
    }

    /// Appends records for `hardState` (when given), `snapshot` (when given) and `entries`, and
    /// fsyncs them before returning when raft needs them durable: new entries, a snapshot, or a
    /// new term or vote (etcd raft's MustSync). A commit index alone is written but not synced:
    /// after a crash it is learned again from the leader, and losing it breaks no promise.
    /// - Throws: ``WALError`` for a failed write or fsync.
    public func save(hardState: HardState?, snapshot: SnapshotMetadata? = nil, entries: [Entry]) throws(WALError) {
        buffer.removeAll(keepingCapacity: true)
        if let snapshot { append(.snapshot, snapshot.encode()) }
        for entry in entries { append(.entry, entry.encode()) }
        if let hardState { append(.hardState, hardState.encode()) }
        guard !buffer.isEmpty else { return }
        try DurableFile.write(buffer, to: fd, path: path)
        let termOrVote = hardState.map { ($0.term, $0.vote) }
        let mustSync = snapshot != nil || !entries.isEmpty || (termOrVote.map { $0 != synced } ?? false)
        guard mustSync else { return }
        guard fdatasync(fd) == 0 else { throw WALError("fdatasync", path) }
        if let termOrVote { synced = termOrVote }
    }

    /// Replaces the whole log by `snapshot`, `hardState` and `entries` (those after the
    /// snapshot): written durably as a new file that replaces the old one (``DurableFile``).
    /// What the snapshot covers is no longer replayed, so the file stops growing.
    /// - Throws: ``WALError``; the old file is then still the log.
    public func rewrite(snapshot: SnapshotMetadata, hardState: HardState, entries: [Entry]) throws(WALError) {
        buffer.removeAll(keepingCapacity: true)
        append(.snapshot, snapshot.encode())
        for entry in entries { append(.entry, entry.encode()) }
        append(.hardState, hardState.encode())
        if let newFD = try DurableFile.replace(path, with: buffer, keepOpen: true) {
            closeFile(fd)
            fd = newFD
        }
    }

    private func append(_ kind: Kind, _ payload: [UInt8]) {
        var crc = CRC32()
        crc.update([kind.rawValue][...])
        crc.update(payload[...])
        buffer.append(kind.rawValue)
        Self.appendUInt32(UInt32(payload.count), to: &buffer)
        Self.appendUInt32(crc.value, to: &buffer)
        buffer.append(contentsOf: payload)
    }

    /// Appends `value` little-endian (the record header's encoding; the key-value example's
    /// snapshot format uses it too).
    public static func appendUInt32(_ value: UInt32, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    /// The little-endian `UInt32` at `bytes[at..<at + 4]`; the range must be in bounds.
    public static func readUInt32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << UInt32(8 * $1) }
    }
}

// File-scope: inside the class, `open` and `close` name its own methods.
private func openFile(_ path: String) -> Int32 { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
private func closeFile(_ fd: Int32) { _ = close(fd) }

/// CRC-32 (IEEE 802.3, reflected), table-driven.
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private var crc: UInt32 = 0xFFFF_FFFF

    mutating func update(_ bytes: ArraySlice<UInt8>) {
        for byte in bytes { crc = Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    }

    var value: UInt32 { crc ^ 0xFFFF_FFFF }
}
