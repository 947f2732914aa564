// Where a sent snapshot's database comes from: a readable stream with a declared size (etcd's
// `snap.Message.ReadCloser` + `TotalSize`). The sender reads it in bounded chunks, so a multi-GiB
// database is never held in memory.
import RaftIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The database of a snapshot being sent: `size` bytes, read in order.
///
/// The sender calls ``read(into:)`` from one task, one call at a time, until it has `size` bytes,
/// then calls ``close(error:)`` exactly once with how the transfer ended (etcd's
/// `CloseWithError` / `CloseNotify`). It never reads beyond `size`.
public protocol SnapshotSource: Sendable {
    /// The database's size in bytes. Exactly this many are sent; a source that ends earlier fails
    /// the transfer with ``RaftHTTPError/Code/snapshotShortRead``.
    var size: UInt64 { get }

    /// Reads up to `buffer.count` bytes into `buffer` and returns how many; 0 means end of data.
    /// May block briefly (a file read) or suspend. Throwing fails the transfer.
    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int

    /// Called once when the transfer ended: `nil` when the peer stored the database and its raft
    /// processed the MsgSnap, otherwise why it failed. Close files here.
    func close(error: (any Error)?)
}

extension SnapshotSource {
    /// Does nothing.
    public func close(error: (any Error)?) {}
}

/// A database in a file, read with `pread` from the start; the size is the file's size when the
/// source is opened.
public final class FileSnapshotSource: SnapshotSource, @unchecked Sendable {
    // @unchecked Sendable: `fd` and `size` are immutable; `offset` is touched only by `read`,
    // which the sender calls from one task at a time; `closed` is behind a lock.
    private let fd: Int32
    /// The file's size when it was opened.
    public let size: UInt64
    private var offset: UInt64 = 0
    private let closed = Locked(false)

    /// Opens `path` for reading.
    /// - Throws: ``SnapshotFileError`` when the file cannot be opened or examined.
    public init(path: String) throws(SnapshotFileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SnapshotFileError(operation: "open", path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let e = errno
            closeDescriptor(fd)
            throw SnapshotFileError(operation: "fstat", path: path, errno: e)
        }
        self.fd = fd
        self.size = UInt64(info.st_size)
    }

    deinit { close(error: nil) }

    /// Reads the next bytes of the file.
    /// - Throws: ``SnapshotFileError`` for a failed `pread`.
    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        while true {
            let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 {
                offset += UInt64(n)
                return n
            }
            if errno != EINTR { throw SnapshotFileError(operation: "pread", path: "fd \(fd)", errno: errno) }
        }
    }

    /// Closes the file. Idempotent.
    public func close(error: (any Error)?) {
        let wasClosed = closed.withLock { c in
            defer { c = true }
            return c
        }
        if !wasClosed { closeDescriptor(fd) }
    }
}

/// A database held in memory: for tests and small state machines.
public struct InMemorySnapshotSource: SnapshotSource {
    private let bytes: [UInt8]
    private let position = Locked(0)

    /// A source that yields `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The number of bytes.
    public var size: UInt64 { UInt64(bytes.count) }

    /// Copies the next bytes.
    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        position.withLock { p in
            let n = min(buffer.count, bytes.count - p)
            guard n > 0, let base = buffer.baseAddress else { return 0 }
            bytes.withUnsafeBytes { src in
                if let from = src.baseAddress { base.copyMemory(from: from + p, byteCount: n) }
            }
            p += n
            return n
        }
    }
}

/// A file operation of a snapshot source or sink failed.
public struct SnapshotFileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The system call, such as `open` or `fsync`.
    public let operation: String
    /// The file (or directory) involved.
    public let path: String
    /// The `errno` value.
    public let errno: Int32

    /// Creates an error.
    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// `open(/var/lib/etcd/member/snap/tmp123): No such file or directory`.
    public var description: String {
        "\(operation)(\(path)): \(String(cString: strerror(errno)))"
    }
}

/// `close(2)`, out of reach of the `close(error:)` methods that shadow it inside the types.
func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
