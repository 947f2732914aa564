// The HTTP/1.x version of a message, as written in its start line ("HTTP/1.1").
// Part of HTTPWire, which imports nothing.

/// The protocol version of an HTTP/1.x message.
///
/// The parser accepts `HTTP/1.0` through `HTTP/1.9` (a higher minor version is treated as 1.1,
/// as RFC 9112 §2.3 asks); any other major version is rejected as an invalid version.
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    /// The major version; always 1 for a parsed message.
    public var major: UInt8
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minor: UInt8

    /// Creates a version from its two digits.
    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }

    /// `HTTP/1.0`: connections close after each message unless `Connection: keep-alive`.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// `HTTP/1.1`: connections stay open unless `Connection: close`.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// The version as it appears on the wire, e.g. `HTTP/1.1`.
    public var description: String { "HTTP/\(major).\(minor)" }
}
