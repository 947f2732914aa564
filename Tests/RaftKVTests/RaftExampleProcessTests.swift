// The raftexample executable as an operator runs it: three processes, the leader SIGKILLed (no
// shutdown at all: whatever its WAL had fsynced is all it keeps), then restarted from its WAL.
// Waits are on answers (a PUT acknowledged, a GET that finds its key), retried while a member is
// down or has no leader; the deadlines are hang guards.
import Foundation
import HTTPTypes
import PeerHTTP
import TestSupport
import Testing

@Suite("raftexample processes")
struct RaftExampleProcessTests {
    /// The `raftexample` binary built beside the test bundle (`swift build --build-tests` builds it).
    static let executable: String? = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("raftexample").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    @Test("the leader SIGKILLed: a new leader takes writes, no acknowledged write is lost, the old one restarts from its WAL",
          .enabled(if: executable != nil))
    func leaderKilled() async throws {
        let executable = try #require(Self.executable)
        let directory = NSTemporaryDirectory() + "raftexample-\(UInt64.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let peerPorts = (0..<3).map { _ in freePort() }
        let clientPorts = (0..<3).map { _ in freePort() }
        let cluster = peerPorts.map { "http://127.0.0.1:\($0)" }.joined(separator: ",")
        func launch(_ i: Int) throws -> ChildProcess {
            try ChildProcess(executable, ["--id", "\(i + 1)", "--cluster", cluster, "--port", "\(clientPorts[i])"], cwd: directory)
        }
        // Launched inside the shared resource gate (withEventLoop takes it): a running child holds
        // a socket in this process (Foundation's Process), which a test counting descriptors
        // under the exclusive gate would otherwise see, and wait on, for as long as it runs.
        try await withEventLoop { group in
            var members = try (0..<3).map(launch)
            let client = HTTPClient(configuration: .init(dialTimeout: .seconds(5)), eventLoopGroup: group)
            try await withCleanUp {
                for i in 0..<20 { try await put(client, clientPorts[0], "k\(i)", "v\(i)") }
                let leader = try #require(Self.leader(members))
                members[leader].signal(SIGKILL)
                _ = await members[leader].waitForExit()

                let survivor = (leader + 1) % 3
                try await put(client, clientPorts[survivor], "after", "kill")
                // It applied "after", so everything acknowledged before it is there already: no retry.
                for i in 0..<20 { #expect(try await getOnce(client, clientPorts[survivor], "k\(i)") == "v\(i)") }
                let other = (leader + 2) % 3
                #expect(try await get(client, clientPorts[other], "after") == "kill")
                for i in 0..<20 { #expect(try await get(client, clientPorts[other], "k\(i)") == "v\(i)") }

                members[leader] = try launch(leader)
                #expect(try await get(client, clientPorts[leader], "after") == "kill")
                for i in 0..<20 { #expect(try await get(client, clientPorts[leader], "k\(i)") == "v\(i)") }
            } cleanUp: {
                client.closeIdleConnections()
                for member in members {
                    await member.stopDetached()
                    member.removeLog()
                }
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
    }

    /// The member whose log last says it became leader (the highest term), if any.
    static func leader(_ members: [ChildProcess]) -> Int? {
        var best: (index: Int, term: Int)?
        for (i, member) in members.enumerated() {
            for line in member.log.split(separator: "\n") where line.contains("role=leader") {
                guard let range = line.range(of: "term="),
                      let term = Int(line[range.upperBound...].prefix { $0.isNumber }) else { continue }
                if best.map({ term > $0.term }) ?? true { best = (i, term) }
            }
        }
        return best?.index
    }
}

/// Retries `attempt` while it returns nil (a member down, no leader yet), up to a hang guard.
private func retrying<T>(_ what: String, _ attempt: () async throws -> T?) async throws -> T {
    let clock = ContinuousClock()
    let end = clock.now + .seconds(60)
    while clock.now < end {
        if let value = try? await attempt() { return value }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimedOut(what: what)
}

private struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out: \(what)" }
}

/// PUT until acknowledged (204).
private func put(_ client: HTTPClient, _ port: Int, _ key: String, _ value: String) async throws {
    _ = try await retrying("PUT \(key) on :\(port)") { () async throws -> Bool? in
        let response = try await client.execute(HTTPClientRequest(method: .put, url: "http://127.0.0.1:\(port)/\(key)",
                                                                   body: .bytes(Array(value.utf8))))
        _ = try await response.body.collect(upTo: 1 << 16)
        return response.status.code == 204 ? true : nil
    }
}

/// One GET: the value, or nil for 404.
private func getOnce(_ client: HTTPClient, _ port: Int, _ key: String) async throws -> String? {
    let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/\(key)"))
    let body = try await response.body.collect(upTo: 1 << 16)
    return response.status.code == 200 ? String(decoding: body, as: UTF8.self) : nil
}

/// GET until the key is there (the member applied it).
private func get(_ client: HTTPClient, _ port: Int, _ key: String) async throws -> String {
    try await retrying("GET \(key) on :\(port)") { () async throws -> String? in
        let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/\(key)"))
        let body = try await response.body.collect(upTo: 1 << 16)
        return response.status.code == 200 ? String(decoding: body, as: UTF8.self) : nil
    }
}
