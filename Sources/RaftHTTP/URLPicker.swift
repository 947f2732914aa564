// Which of a peer's URLs to use next (etcd's `urlPicker`, spec 1.10). Happy path: every channel
// uses the first (lexically smallest) URL. Failure mode: a channel that failed on URL u calls
// `unreachable(u)`, which moves everyone to the next URL round robin, but only if u is still the
// current one, so that several channels failing on the same URL at once advance once, not N times.
// `update` (the peer's URLs changed) starts again at the first URL.
import RaftIO

/// The URL choice shared by a peer's streams, pipeline and snapshot sender.
///
/// Thread-safe: a pthread lock guards the index; each call holds it for a few instructions.
final class URLPicker: Sendable {
    private struct State {
        var urls: [PeerURL]
        var picked: Int
    }

    // MARK: guarded by the lock
    private let state: Locked<State>

    /// A picker over `urls` (sorted, non-empty: ``PeerURL/parseList(_:)`` makes such a list),
    /// starting at the first.
    init(urls: [PeerURL]) {
        precondition(!urls.isEmpty, "a peer needs at least one URL")
        state = Locked(State(urls: urls, picked: 0))
    }

    /// The URL to use now.
    func pick() -> PeerURL {
        state.withLock { $0.urls[$0.picked] }
    }

    /// The URLs, in order.
    var urls: [PeerURL] { state.withLock { $0.urls } }

    /// Replaces the URLs and starts again at the first.
    func update(_ urls: [PeerURL]) {
        precondition(!urls.isEmpty, "a peer needs at least one URL")
        state.withLock { $0 = State(urls: urls, picked: 0) }
    }

    /// Reports that `url` failed: if it is still the current URL, the next one becomes current.
    func unreachable(_ url: PeerURL) {
        state.withLock { state in
            if state.urls[state.picked] == url {
                state.picked = (state.picked + 1) % state.urls.count
            }
        }
    }
}
