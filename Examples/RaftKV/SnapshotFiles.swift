// Where snapshots of the key-value store live: `<data>/snap/%016x.snap.db`, etcd's name and the
// transport's FileSnapshotSink's, so a snapshot this member took and one it received from the
// leader are the same kind of file in the same place. The data is KVStore.snapshotData().
//
// Happy path: save (DurableFile: temp file → write → fsync → rename → fsync the directory) → load by index →
// prune all but the newest few. A crash mid-save leaves a temp file and no snapshot: the WAL's
// snapshot record is written only after save returned, so it never names a missing file.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftHTTP
import RaftStorage

/// The snapshot directory of one member.
struct SnapshotFiles: Sendable {
    /// How many snapshot files to keep: the newest may be in use by a transfer of the one before.
    static let kept = 2

    let directory: String

    init(dataDirectory: String) throws(WALError) {
        directory = dataDirectory + "/snap"
        if mkdir(directory, 0o755) != 0, errno != EEXIST { throw WALError("mkdir", directory) }
    }

    func path(index: UInt64) -> String { directory + "/" + FileSnapshotSink.fileName(index: index) }

    /// Makes `data` the durable snapshot at `index`.
    func save(index: UInt64, _ data: [UInt8]) throws(WALError) {
        try DurableFile.replace(path(index: index), with: data)
    }

    /// The snapshot data at `index`.
    func load(index: UInt64) throws(WALError) -> [UInt8] {
        try DurableFile.read(path(index: index))
    }

    /// Deletes snapshot files older than the newest ``kept`` at or below `index`.
    func prune(below index: UInt64) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        var indices: [UInt64] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasSuffix(".snap.db"), let i = UInt64(name.prefix(16), radix: 16), i <= index else { continue }
            indices.append(i)
        }
        for old in indices.sorted(by: >).dropFirst(Self.kept) { unlink(path(index: old)) }
    }
}
