// The errors of the write-ahead log and the snapshot files, with the file and the system's reason.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A write-ahead log operation that failed, with the file and the system's reason.
public struct WALError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, for a person: "wal fdatasync /data/wal: No space left on device".
    public let description: String

    /// The failure of `operation` on `path`, with `errno`'s text: call it right after the
    /// failing system call.
    public init(_ operation: String, _ path: String) {
        description = "wal \(operation) \(path): \(String(cString: strerror(errno)))"
    }

    private init(description: String) { self.description = description }

    /// The snapshot file at `path` holds data that does not decode.
    public static func badSnapshot(_ path: String) -> WALError {
        WALError(description: "snapshot \(path) does not decode")
    }

    static func gap(_ path: String, index: UInt64) -> WALError {
        WALError(description: "wal \(path): entry \(index) does not follow the entries before it")
    }
}
