// raftexample processes of one cluster, as an operator runs them, and the client calls the process
// tests make: PUT until acknowledged, GET until a key is there, retried while a member is down or
// has no leader (the deadlines are hang guards). A member may run inside a network namespace
// (NetworkNamespaceLab): it then listens on the lab's address, and the others, on this namespace's
// end of the veth, are reached by it there.
import Foundation
import HTTPTypes
import PeerHTTP
import TestSupport
import Testing

/// The `raftexample` binary built beside the test bundle (`swift build --build-tests` builds it).
let raftexampleExecutable = builtExecutable(named: "raftexample")

/// Members 1...n of one raftexample cluster, each a child process with its WAL in a shared
/// temporary directory (`raftexample-<id>`).
final class RaftExampleCluster: @unchecked Sendable {
    // @unchecked Sendable: the test's task is the only user; processes are replaced by it alone.

    /// Where one member runs.
    struct Placement {
        /// The address its peer URL names and its client API is reached at.
        var host: String
        var peerPort: Int
        var clientPort: Int
        /// The network namespace it runs in (`ip netns exec`), or nil for this one.
        var namespace: String?
        /// More flags (`--tick-milliseconds 5`).
        var extraArguments: [String] = []
    }

    let executable: String
    let directory: String
    let client: HTTPClient
    private(set) var placements: [Placement]
    private(set) var processes: [ChildProcess?]

    /// The `--cluster` flag every member gets.
    var clusterFlag: String { placements.map { "http://\($0.host):\($0.peerPort)" }.joined(separator: ",") }

    init(executable: String, placements: [Placement], client: HTTPClient) throws {
        self.executable = executable
        self.placements = placements
        self.client = client
        processes = placements.map { _ in nil }
        directory = NSTemporaryDirectory() + "raftexample-\(UInt64.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// `count` members on loopback, on free ports.
    static func loopback(_ count: Int, executable: String, client: HTTPClient) throws -> RaftExampleCluster {
        try RaftExampleCluster(executable: executable,
                               placements: (0..<count).map { _ in Placement(host: "127.0.0.1", peerPort: freePort(), clientPort: freePort()) },
                               client: client)
    }

    /// Three members with member 1 (index 0) inside `lab` on its namespace address and the other
    /// two on this side of its veth, on free ports; `arguments(id)` are member `id`'s extra flags.
    static func inLab(_ lab: NetworkNamespaceLab, executable: String, client: HTTPClient,
                      arguments: (Int) -> [String]) throws -> RaftExampleCluster {
        try RaftExampleCluster(executable: executable, placements: [
            .init(host: lab.namespaceAddress, peerPort: 12380, clientPort: 12379, namespace: lab.name, extraArguments: arguments(1)),
            .init(host: lab.hostAddress, peerPort: freePort(), clientPort: freePort(), extraArguments: arguments(2)),
            .init(host: lab.hostAddress, peerPort: freePort(), clientPort: freePort(), extraArguments: arguments(3)),
        ], client: client)
    }

    /// Runs `body`; when it throws, prints every member's log tail first. Whatever happened, then
    /// closes the client's idle connections and removes the cluster (``remove()``).
    func run(_ body: () async throws -> Void) async throws {
        try await withCleanUp {
            do {
                try await body()
            } catch {
                print(logTails())
                throw error
            }
        } cleanUp: {
            client.closeIdleConnections()
            await remove()
        }
    }

    /// Starts member `i` (0-based; its raft ID is i + 1) from its WAL, if it ran before.
    func launch(_ i: Int) throws {
        let p = placements[i]
        processes[i]?.removeLog()
        let arguments = ["--id", "\(i + 1)", "--cluster", clusterFlag, "--port", "\(p.clientPort)"] + p.extraArguments
        if let namespace = p.namespace {
            // `ip netns exec` execs the member: the child's PID is its own, SIGKILL reaches it.
            processes[i] = try ChildProcess("ip", ["netns", "exec", namespace, executable] + arguments, cwd: directory)
        } else {
            processes[i] = try ChildProcess(executable, arguments, cwd: directory)
        }
    }

    /// SIGKILLs member `i` (no shutdown at all: what its WAL fsynced is all it keeps) and waits
    /// for it to exit. Its log is kept for ``log(_:)`` until it is launched again.
    func kill(_ i: Int) async {
        guard let process = processes[i] else { return }
        process.signal(SIGKILL)
        _ = await process.waitForExit()
    }

    /// Kills every member and deletes the logs and the data directory.
    func remove() async {
        for process in processes.compactMap({ $0 }) {
            await process.stopDetached()
            process.removeLog()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What member `i` logged so far.
    func log(_ i: Int) -> String { processes[i]?.log ?? "" }

    /// The last lines of every member's log, for a failure's context.
    func logTails(_ lines: Int = 15) -> String {
        processes.indices.map { i in
            "--- raftexample \(i + 1) ---\n" + log(i).split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// Every `(term, role)` member `i` logged, in order ("raft state" lines).
    func roles(_ i: Int) -> [(term: Int, role: String)] {
        log(i).split(separator: "\n").compactMap { line in
            guard line.contains("raft state"), let r = line.range(of: "role="), let t = line.range(of: "term="),
                  let term = Int(line[t.upperBound...].prefix { $0.isNumber }) else { return nil }
            return (term, String(line[r.upperBound...].prefix { $0.isLetter }))
        }
    }

    /// The member whose log last says it became leader at the highest term, if any.
    func leader() -> Int? {
        var best: (index: Int, term: Int)?
        for i in processes.indices {
            for (term, role) in roles(i) where role == "leader" && best.map({ term > $0.term }) ?? true { best = (i, term) }
        }
        return best?.index
    }

    private func url(_ i: Int, _ key: String) -> String {
        "http://\(placements[i].host):\(placements[i].clientPort)/\(key)"
    }

    /// One PUT through member `i`: its status code (204 acknowledged, 503 not), or nil when the
    /// member could not be reached.
    /// A response that stalls `progressTimeout` (a member cut off) counts as unreachable.
    func putOnce(_ i: Int, _ key: String, _ value: String, progressTimeout: Duration = .seconds(10)) async -> Int? {
        let request = HTTPClientRequest(method: .put, url: url(i, key), body: .bytes(Array(value.utf8)),
                                        progressTimeout: progressTimeout)
        guard let response = try? await client.execute(request) else { return nil }
        _ = try? await response.body.collect(upTo: 1 << 16)
        return response.status.code
    }

    /// PUT through each of `members` in turn until one acknowledges it (204); returns that member.
    @discardableResult
    func put(_ key: String, _ value: String, via members: [Int], timeout: Duration = .seconds(60)) async throws -> Int {
        var turn = 0
        return try await retrying("PUT \(key) via members \(members.map { $0 + 1 })", timeout: timeout) { () async -> Int? in
            let i = members[turn % members.count]
            turn += 1
            return await putOnce(i, key, value) == 204 ? i : nil
        }
    }

    /// One GET from member `i`: the value, nil for 404; throws when the member cannot be reached.
    func getOnce(_ i: Int, _ key: String) async throws -> String? {
        let response = try await client.execute(HTTPClientRequest(url: url(i, key), progressTimeout: .seconds(10)))
        let body = try await response.body.collect(upTo: 1 << 20)
        return response.status.code == 200 ? String(decoding: body, as: UTF8.self) : nil
    }

    /// GET from member `i` until the key is there (the member applied it); its value.
    func get(_ i: Int, _ key: String, timeout: Duration = .seconds(60)) async throws -> String {
        try await retrying("GET \(key) on member \(i + 1)", timeout: timeout) { try? await getOnce(i, key) }
    }

    /// A request to member `i`'s client API made from inside its network namespace (over the
    /// namespace's own loopback, which no lab fault touches): `curl`'s status code, 0 when no
    /// answer came within `seconds`.
    func curlInNamespace(_ i: Int, method: String, _ key: String, value: String? = nil, seconds: Int = 60) async throws -> Int {
        let namespace = try #require(placements[i].namespace)
        var arguments = ["netns", "exec", namespace, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                         "-m", "\(seconds)", "-X", method]
        if let value { arguments += ["--data-binary", value] }
        arguments.append("http://127.0.0.1:\(placements[i].clientPort)/\(key)")
        let result = try await runDetached("ip", arguments)
        return Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}

/// Retries `attempt` while it returns nil (a member down, no leader yet), up to a hang guard.
@discardableResult
func retrying<T>(_ what: String, timeout: Duration = .seconds(60), _ attempt: () async throws -> T?) async throws -> T {
    let clock = ContinuousClock()
    let end = clock.now + timeBound(timeout)
    while clock.now < end {
        if let value = try? await attempt() { return value }
        try await Task.sleep(for: .milliseconds(50)) // a retry interval, not a wait for a condition
    }
    throw RetryTimedOut(what: what)
}

struct RetryTimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out: \(what)" }
}
