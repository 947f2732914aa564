// Waiting for a real etcd to answer, not for its port to accept.
//
// etcd 3.4 opens its peer listener early in embed.StartEtcd (configurePeerListeners), then builds
// the server (etcdserver.NewServer: WAL, backend), starts it, and only then serves the listener
// (servePeers, through cmux). Connections made in between wait in the kernel's accept queue and
// are answered later, so a port that accepts says little: it may not even be our etcd. Had
// another listener taken the port (freePort() now picks below the ephemeral range, so no port-0
// listener can), etcd would exit at once while the port still accepts; and etcd can exit after
// opening its peer port (say, its client port was taken), resetting whatever was queued. A client
// test that only waited for the port then fails with a client error that points at the wrong code.
import Foundation

/// Waits until the etcd that `etcd` runs answers `GET <peerURL>/version` with etcd's version JSON,
/// asked with curl so that the client under test is not its own judge.
///
/// - Parameters:
///   - curlOptions: extra curl arguments, such as the CA and client certificate for an `https` URL.
///   - deadline: a hang guard, far above the second or so a start takes on a slow machine.
/// - Returns: nil once etcd answered; otherwise why not (etcd exited, or the deadline passed),
///   with etcd's log.
public func waitForEtcdToAnswer(_ etcd: ChildProcess, peerURL: String, curlOptions: [String] = [],
                                deadline: Duration = .seconds(60)) async -> String? {
    let clock = ContinuousClock()
    let end = clock.now + deadline
    while clock.now < end {
        guard etcd.isRunning else {
            return "etcd exited before answering on \(peerURL):\n\(etcd.log)"
        }
        // A request made before etcd serves waits in the accept queue and returns once it does;
        // --max-time only bounds an answer that never comes (a listener that is not etcd's).
        // HTTP/1.1: over TLS curl would offer h2, and etcd's cmux hands HTTP/2 to its gRPC server.
        let answer = try? await runDetached("curl", ["-sS", "--http1.1", "--max-time", "10"] + curlOptions + [peerURL + "/version"])
        if let answer, answer.status == 0, answer.stdout.contains(#""etcdserver":"#) { return nil }
        try? await Task.sleep(for: .milliseconds(50)) // a retry interval after a refused connect, not a wait for a condition
    }
    return "etcd did not answer on \(peerURL) within \(deadline):\n\(etcd.log)"
}
