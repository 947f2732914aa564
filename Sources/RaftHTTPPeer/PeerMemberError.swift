/// Why a Swift member cannot start: a flag it cannot use, or a listener it cannot open.
///
/// An open set: compare by ``description``, which names the flag and what is wrong with it.
public struct PeerMemberError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, in words a person can act on.
    public let description: String

    private init(_ description: String) { self.description = description }

    /// `flag` has a value the member cannot use.
    public static func invalidFlag(_ flag: String, _ reason: String) -> PeerMemberError {
        PeerMemberError("invalid \(flag): \(reason)")
    }

    /// The member could not listen on `url`.
    public static func listen(_ url: String, _ reason: String) -> PeerMemberError {
        PeerMemberError("cannot listen on \(url): \(reason)")
    }
}
