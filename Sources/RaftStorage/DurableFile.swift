// Whole files written so that a crash leaves either the old file or the new one, never a torn
// mix: the write-ahead log's rewrite and the key-value store's snapshot files both go this way.
//
// Happy path: open `<path>.tmp` (truncated) → write every byte → fsync → rename over `<path>` →
// fsync the directory (the rename itself must survive a crash). Failure modes: any step fails →
// thrown with the file and the system's reason; the temp file is closed, `<path>` is untouched
// (a leftover `.tmp` is overwritten by the next attempt).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Durable whole-file writes and the read and write loops under them (EINTR retried, short
/// writes continued).
public enum DurableFile {
    /// Replaces the file at `path` by `bytes` durably (see the file's header).
    ///
    /// - Parameters:
    ///   - path: the file to replace; `<path>.tmp` is written first, in the same directory.
    ///   - bytes: the whole new content.
    ///   - keepOpen: return the new file's descriptor (read-write, positioned at its end)
    ///     instead of closing it: the write-ahead log goes on appending to it.
    /// - Returns: the open descriptor when `keepOpen`, else nil. The caller closes it.
    /// - Throws: ``WALError`` naming the step and file that failed; `path` is then unchanged.
    @discardableResult
    public static func replace(_ path: String, with bytes: [UInt8], keepOpen: Bool = false) throws(WALError) -> Int32? {
        let temp = path + ".tmp"
        let fd = open(temp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WALError("open", temp) }
        do throws(WALError) {
            try write(bytes, to: fd, path: temp)
            guard fsync(fd) == 0 else { throw WALError("fsync", temp) }
            guard rename(temp, path) == 0 else { throw WALError("rename", path) }
            try syncDirectory(directory(of: path))
        } catch {
            _ = close(fd)
            throw error
        }
        if keepOpen { return fd }
        _ = close(fd)
        return nil
    }

    /// Writes all of `bytes` at `fd`'s position. `path` names the file in the error.
    /// - Throws: ``WALError`` for a failed write.
    public static func write(_ bytes: [UInt8], to fd: Int32, path: String) throws(WALError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { all in posixWrite(fd, all.baseAddress.map { $0 + written }, all.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw WALError("write", path)
            }
            written += n
        }
    }

    /// Everything from `fd`'s position to the end of the file. `path` names the file in the error.
    /// - Throws: ``WALError`` for a failed read.
    public static func readAll(_ fd: Int32, path: String) throws(WALError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw WALError("read", path) }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<n])
        }
    }

    /// The whole file at `path`.
    /// - Throws: ``WALError`` when it cannot be opened or read.
    public static func read(_ path: String) throws(WALError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WALError("open", path) }
        defer { _ = close(fd) }
        return try readAll(fd, path: path)
    }

    /// fsync on a directory, so that a rename or a new file in it survives a crash.
    /// - Throws: ``WALError`` when it cannot be opened or synced.
    public static func syncDirectory(_ directory: String) throws(WALError) {
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WALError("open", directory) }
        defer { _ = close(fd) }
        guard fsync(fd) == 0 else { throw WALError("fsync", directory) }
    }

    /// `mkdir -p`: the directory and any missing parents (etcd: os.MkdirAll).
    /// - Throws: ``WALError`` for a component that cannot be created.
    public static func makeDirectories(_ path: String) throws(WALError) {
        var prefix = ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += (prefix.isEmpty && !path.hasPrefix("/") ? "" : "/") + component
            if mkdir(prefix, 0o755) != 0, errno != EEXIST { throw WALError("mkdir", prefix) }
        }
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

// File-scope: inside the enum, `read` and `write` name its own methods.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
