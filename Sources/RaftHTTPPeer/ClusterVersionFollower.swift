// The cluster version our `GET /version` reports as `etcdcluster`, learned from the leader.
//
// An etcd member reports the cluster version it has applied from the raft log (`cl.Version()`),
// or "not_decided" before it has applied one (`etcdhttp/version.go`). Our member applies no log (a
// voter stores entries but never decodes them), so it learns the version from the member whose log
// decides it: every 4 s (etcd's
// `monitorVersionInterval`) it asks the leader (the sender of the last MsgHeartbeat) for its
// `GET /version` and keeps the leader's `etcdcluster`. Until the leader has answered once it
// reports "not_decided", as a member that has applied nothing would.
//
// Why not simply "not_decided" forever: etcd 3.5's leader checks that every member reports the
// target cluster version before it ends a downgrade (`monitorDowngrade`, `isMatchedVersions`);
// a member stuck at "not_decided" would keep every downgrade open. Why not a fixed value: the
// version changes (3.4 -> 3.5 during a rolling upgrade), and a joining member compares our answer
// with its own range (`isCompatibleWithCluster`).
//
// Failure modes: no heartbeat yet (no leader known) -> ask no one, look again in 250 ms; the
// leader unreachable, a non-200 answer or a body that is not etcd's JSON -> keep the last value
// and log at debug level (the next round asks again, the leader may have changed by then).
import Foundation
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB

/// Follows the leader's cluster version. Thread-safe: the value is behind a lock, the polling
/// runs in one task that ``stop()`` cancels.
final class ClusterVersionFollower: Sendable {
    /// What etcd reports before it has applied a cluster version.
    static let notDecided = "not_decided"
    /// etcd's `monitorVersionInterval` (`rafthttp.ConnWriteTimeout - time.Second`).
    static let interval: Duration = .seconds(4)
    /// While no leader is known: how soon to look again. A leader heartbeats every 100 ms by
    /// default, so the first answer comes soon after the streams are up, not a round later.
    static let leaderUnknownInterval: Duration = .milliseconds(250)
    /// A version answer is about 45 bytes; anything far larger is not one.
    static let bodyLimit = 4096

    /// `GET /version`'s JSON (`version.Versions`).
    private struct Versions: Decodable {
        var etcdserver: String
        var etcdcluster: String
    }

    // MARK: guarded by locks
    private let version = Locked(ClusterVersionFollower.notDecided)
    private let task = Locked<Task<Void, Never>?>(nil)

    /// The cluster version to report: the leader's last answer, or "not_decided". Any thread.
    var current: String { version.withLock { $0 } }

    /// Starts asking the leader every ``interval``. `leaderURLs` gives the peer URLs of the member
    /// that sent the last heartbeat (empty while none has); `client` carries our TLS identity.
    func start(client: HTTPClient, logger: Logger, leaderURLs: @escaping @Sendable () -> [String]) {
        let poll = Task { [version] in
            while !Task.isCancelled {
                let urls = leaderURLs()
                for url in urls {
                    if let learned = await Self.ask(client, url + MemberRoutes.versionPath, logger: logger) {
                        let previous = version.withLock { v in defer { v = learned }; return v }
                        if previous != learned {
                            logger.info("learned cluster version from the leader",
                                        metadata: ["cluster-version": "\(learned)", "previous": "\(previous)", "address": "\(url)"])
                        }
                        break
                    }
                }
                try? await Task.sleep(for: urls.isEmpty ? Self.leaderUnknownInterval : Self.interval)
            }
        }
        task.withLock { $0 = poll }
    }

    /// Stops asking. Idempotent; any thread.
    func stop() {
        task.withLock { t in t?.cancel(); t = nil }
    }

    /// The `etcdcluster` of `url`'s answer: a `major.minor.patch` or "not_decided"; nil when the
    /// request fails or the answer is not etcd's.
    private static func ask(_ client: HTTPClient, _ url: String, logger: Logger) async -> String? {
        do {
            let response = try await client.execute(HTTPClientRequest(method: .get, url: url, progressTimeout: .seconds(2)))
            let body = try await response.body.collect(upTo: bodyLimit)
            guard response.status == .ok else {
                logger.debug("leader refused GET /version", metadata: ["address": "\(url)", "status": "\(response.status.code)"])
                return nil
            }
            guard let versions = try? JSONDecoder().decode(Versions.self, from: Data(body)), isClusterVersion(versions.etcdcluster) else {
                logger.debug("leader's GET /version is not etcd's answer", metadata: ["address": "\(url)",
                                                                                      "body": "\(String(decoding: body.prefix(200), as: UTF8.self))"])
                return nil
            }
            return versions.etcdcluster
        } catch {
            logger.debug("failed to get the leader's version", metadata: ["address": "\(url)", "error": "\(error)"])
            return nil
        }
    }

    /// "not_decided", or three dot-separated decimal numbers (a `semver.Version` as etcd prints
    /// a cluster version): nothing else is served back.
    static func isClusterVersion(_ text: String) -> Bool {
        if text == notDecided { return true }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 9 && part.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        }
    }
}
