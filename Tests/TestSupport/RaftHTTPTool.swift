import Foundation
import RaftHTTPPeer

/// Why the `rafthttp` binary cannot be run as asked.
public struct ToolError: Error, CustomStringConvertible {
    public var description: String

    static let missing = ToolError(description: "the rafthttp binary is not built (swift build --build-tests builds it)")
}

/// Runs the `rafthttp` binary built beside the tests (``PeerProcess/executable``) to completion
/// with `arguments`, off the cooperative pool, and returns its exit status and output.
/// - Throws: ``ToolError`` when there is no binary; an error when it cannot be started.
public func runTool(_ arguments: [String]) async throws -> ShellResult {
    guard let executable = PeerProcess.executable else { throw ToolError.missing }
    return try await runDetached(executable, arguments)
}

/// `bench --target` flags that make the bench the member `local` of the cluster `initialCluster`
/// (etcd's `--initial-cluster` text, bootstrapped with `token`) sending to the member `target`:
/// the IDs as etcd computes them, and our listener on the port `initialCluster` gives `local`.
/// - Throws: when the text does not parse or names no such members.
public func benchTargetArguments(initialCluster: String, token: String, target: String, local: String) throws -> [String] {
    let cluster = try InitialCluster(parsing: initialCluster, token: token)
    guard let to = cluster.member(named: target), let me = cluster.member(named: local),
          let targetURL = to.peerURLs.first, let localURL = me.peerURLs.first else {
        throw ToolError(description: "\(initialCluster) has no member \(target) or \(local)")
    }
    return ["bench", "--target", targetURL.description, "--target-id", to.id.description, "--local-id", me.id.description,
            "--cluster-id", cluster.clusterID.description, "--local-port", "\(localURL.port)"]
}
