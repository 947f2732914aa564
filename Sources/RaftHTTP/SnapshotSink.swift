// Where a received snapshot's database goes (etcd's `Snapshotter.SaveDBFrom`, spec 1.8): the
// receiver streams the body into a writer and tells raft only after `finish` returned, so a
// MsgSnap that raft sees always has its database durable on disk.
//
// Happy path: begin (a temp file) → write, write, ... → finish (fsync, rename to
// `%016x.snap.db`, fsync the directory). Failure modes: the body is cut off, stalls or a write
// fails → abort (temp file deleted, nothing renamed); the final name exists already → the temp
// file is deleted and the existing file kept (etcd does the same).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftIO
import RaftPB

/// Stores received snapshot databases; set it as ``Transport/Configuration/snapshotSink``.
public protocol SnapshotSink: Sendable {
    /// Starts storing the database that follows `message` (a MsgSnap from member `from`).
    ///
    /// Called on an event-loop thread once the body's head decoded: must not block for long
    /// (creating a file is fine). Throwing refuses the snapshot with etcd's 500 "failed to save
    /// KV snapshot (<error>)".
    func begin(from: UInt64, message: Message) throws -> any SnapshotSinkWriter
}

/// One database being stored.
///
/// The receiver calls ``write(_:)`` and ``finish()`` off the event loop (in a task), one call at
/// a time and in order, and ``abort()`` at most once, never concurrently with another call. After
/// `finish` or `abort` no call follows.
public protocol SnapshotSinkWriter: AnyObject, Sendable {
    /// Appends database bytes (about 1 MiB per call). May block on the disk.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// The whole body arrived: make the database durable and visible (fsync, rename). Raft gets
    /// the MsgSnap only after this returns. Throwing refuses the snapshot with 500.
    func finish() throws
    /// The transfer failed: discard what was written.
    func abort()
    /// Where the database is, once ``finish()`` returned: raft gets it with the MsgSnap
    /// (``Raft/process(snapshot:storedAt:)``). Nil (the default) when there is no path to give.
    var storedPath: String? { get }
}

extension SnapshotSinkWriter {
    /// None: the sink stores databases somewhere it does not name.
    public var storedPath: String? { nil }
}

/// The default sink: each database goes to `<directory>/%016x.snap.db` (the snapshot's index in
/// hex, etcd's name), written to a temp file first, fsynced, then renamed.
public struct FileSnapshotSink: SnapshotSink {
    /// A database that was stored.
    public struct Stored: Sendable, Hashable {
        /// The member that sent it.
        public var from: UInt64
        /// The MsgSnap's snapshot index.
        public var index: UInt64
        /// The final path.
        public var path: String
        /// Database bytes received. etcd 3.4 sends no size, so the transport cannot check it:
        /// compare it with what the state machine expects if it records sizes.
        public var bytes: UInt64
    }

    /// Where databases are stored.
    public let directory: String
    private let onStored: @Sendable (Stored) -> Void

    /// A sink writing into `directory`, which must exist. `onStored` runs (off the event loop)
    /// after each database was made durable and before raft is given its MsgSnap.
    public init(directory: String, onStored: @escaping @Sendable (Stored) -> Void = { _ in }) {
        self.directory = directory
        self.onStored = onStored
    }

    /// etcd's file name for the database of the snapshot at `index`.
    public static func fileName(index: UInt64) -> String {
        let hex = String(index, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".snap.db"
    }

    /// Creates the temp file.
    /// - Throws: ``SnapshotFileError`` when it cannot be created.
    public func begin(from: UInt64, message: Message) throws -> any SnapshotSinkWriter {
        let index = message.snapshot.metadata.index
        return try FileSnapshotWriter(directory: directory, final: directory + "/" + Self.fileName(index: index)) {
            [onStored] bytes, path in onStored(Stored(from: from, index: index, path: path, bytes: bytes))
        }
    }
}

final class FileSnapshotWriter: SnapshotSinkWriter, @unchecked Sendable {
    // @unchecked Sendable: the receiver makes every call one at a time, in order (protocol
    // contract), so the mutable state below is never touched concurrently.
    private let directory: String
    private let final: String
    private let temp: String
    private let stored: @Sendable (UInt64, String) -> Void
    private var fd: Int32
    private(set) var bytes: UInt64 = 0
    /// The final path once ``finish()`` stored the database there (or found it there already).
    private(set) var storedPath: String?

    init(directory: String, final: String, stored: @escaping @Sendable (UInt64, String) -> Void) throws(SnapshotFileError) {
        var template = Array((directory + "/tmpXXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { p in p.baseAddress.map { mkstemp($0) } ?? -1 }
        guard fd >= 0 else { throw SnapshotFileError(operation: "mkstemp", path: directory, errno: errno) }
        self.fd = fd
        self.temp = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.directory = directory
        self.final = final
        self.stored = stored
    }

    deinit { abort() }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard var base = chunk.baseAddress else { return }
        var left = chunk.count
        while left > 0 {
            let n = writeDescriptor(fd, base, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw SnapshotFileError(operation: "write", path: temp, errno: errno)
            }
            base += n
            left -= n
            bytes += UInt64(n)
        }
    }

    func finish() throws {
        guard fsync(fd) == 0 else { throw SnapshotFileError(operation: "fsync", path: temp, errno: errno) }
        closeDescriptor(fd)
        fd = -1
        if access(final, F_OK) == 0 {
            unlink(temp)
        } else {
            guard rename(temp, final) == 0 else {
                let e = errno
                unlink(temp)
                throw SnapshotFileError(operation: "rename", path: final, errno: e)
            }
            let dir = open(directory, O_RDONLY | O_CLOEXEC)
            if dir >= 0 {
                _ = fsync(dir)
                closeDescriptor(dir)
            }
        }
        storedPath = final
        stored(bytes, final)
    }

    func abort() {
        guard fd >= 0 else { return }
        closeDescriptor(fd)
        fd = -1
        unlink(temp)
    }
}

/// `write(2)`, out of reach of the `write(_:)` method that shadows it inside the writer.
private func writeDescriptor(_ fd: Int32, _ base: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, base, count)
}
