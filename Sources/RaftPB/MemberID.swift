/// A member or cluster ID, printed the way etcd prints it: lower-case hex without padding
/// (`8e9e05c52164694d`, and `1` for member 1). This is the form in stream paths, in the
/// `X-Etcd-Cluster-ID` and `X-Raft-To` headers and in etcd's logs.
///
/// The raftpb types keep plain `UInt64`s; wrap one in a `MemberID` to print or parse it.
public struct MemberID: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Creates an ID from its raw value.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// Parses hex as etcd writes it (upper or lower case, no prefix, at most 16 digits); `nil` for
    /// anything else, the empty string included.
    public init?(hex: some StringProtocol) {
        guard !hex.isEmpty, hex.utf8.count <= 16, let value = UInt64(hex, radix: 16) else { return nil }
        // UInt64(_:radix:) takes a leading sign; etcd's parser does not.
        guard hex.utf8.first != UInt8(ascii: "+"), hex.utf8.first != UInt8(ascii: "-") else { return nil }
        self.rawValue = value
    }

    /// Lower-case hex, no padding.
    public var description: String { String(rawValue, radix: 16) }

    public static func < (lhs: MemberID, rhs: MemberID) -> Bool { lhs.rawValue < rhs.rawValue }
}
