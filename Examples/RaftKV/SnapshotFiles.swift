// Where snapshots of the key-value store live: `<data>/snap/%016x.snap.db`, etcd's name and the
// transport's FileSnapshotSink's, so a snapshot this member took and one it received from the
// leader are the same kind of file in the same place. The data is KVStore.snapshotData().
//
// Happy path: save (temp file → write → fsync → rename → fsync the directory) → load by index →
// prune all but the newest few. A crash mid-save leaves a temp file and no snapshot: the WAL's
// snapshot record is written only after save returned, so it never names a missing file.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftHTTP

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
        let final = path(index: index)
        let temp = final + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WALError("open", temp) }
        defer { _ = close(fd) }
        var written = 0
        while written < data.count {
            let n = data.withUnsafeBytes { all in write(fd, all.baseAddress.map { $0 + written }, all.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw WALError("write", temp)
            }
            written += n
        }
        guard fsync(fd) == 0 else { throw WALError("fsync", temp) }
        guard rename(temp, final) == 0 else { throw WALError("rename", final) }
        try syncDirectory(directory)
    }

    /// The snapshot data at `index`.
    func load(index: UInt64) throws(WALError) -> [UInt8] {
        let file = path(index: index)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WALError("open", file) }
        defer { _ = close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw WALError("read", file) }
            if n == 0 { return out }
            out.append(contentsOf: chunk[..<n])
        }
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

/// fsync on a directory, so that a rename in it survives a crash.
func syncDirectory(_ directory: String) throws(WALError) {
    let fd = open(directory, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw WALError("open", directory) }
    defer { _ = close(fd) }
    guard fsync(fd) == 0 else { throw WALError("fsync", directory) }
}
