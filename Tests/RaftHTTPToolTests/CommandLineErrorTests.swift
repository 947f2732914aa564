// The command line answers as the tools people know: a usage error (a flag's value, flags that
// exclude each other) prints the error and that subcommand's usage and exits 64 (EX_USAGE); a
// runtime error (a target that never answers, a port in use) prints the error alone and exits 1.
import Foundation
import Testing
import TestSupport

@Suite("rafthttp's errors: usage errors show the subcommand's usage, runtime errors print alone",
       .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"),
       .timeLimit(.minutes(5))) // with the wait for ResourceGate, which exclusive tests hold for minutes in a full run
struct CommandLineErrorTests {
    /// The root command's usage line, which no subcommand's error may end with.
    private let rootUsage = "Usage: rafthttp <subcommand>"

    @Test("a usage error prints the error, then the subcommand's usage, and exits 64",
          arguments: [
              (["bench", "--workload", "nope"],
               "Error: unknown workload nope; one of: msgapp, heartbeat, mix, snapshot, pipeline", "Usage: rafthttp bench "),
              (["bench", "--members", "1"], "Error: --members must be at least 2 (a leader and a follower)", "Usage: rafthttp bench "),
              (["bench", "--target", "http://127.0.0.1:1"], "Error: --target needs --target-id", "Usage: rafthttp bench "),
              (["bench", "--peer-cert-file", "member.pem"], "Error: --peer-cert-file and --peer-key-file go together",
               "Usage: rafthttp bench "),
              (["bench", "--listen-metrics-urls", "https://127.0.0.1:1"],
               "Error: invalid --listen-metrics-urls: https://127.0.0.1:1 must be http", "Usage: rafthttp bench "),
              (["bench-follower", "--id", "zz", "--leader-id", "1", "--leader-url", "http://127.0.0.1:1"],
               "Error: --id: zz is not a hex member ID", "Usage: rafthttp bench-follower "),
              (["peer", "--log-level", "loud"],
               "Error: --log-level must be one of trace, debug, info, notice, warning, error, critical", "Usage: rafthttp peer "),
              (["peer", "--name", "x"], "Error: invalid --name: x is not in --initial-cluster", "Usage: rafthttp peer "),
              (["peer", "--raft-role", "leader"], "Error: --raft-role must be one of voter, observer", "Usage: rafthttp peer "),
              (["peer", "--election-timeout", "300"],
               "Error: invalid --election-timeout: 300ms should be at least 5 times --heartbeat-interval (100ms)",
               "Usage: rafthttp peer "),
          ])
    func usageError(arguments: [String], error: String, usage: String) async throws {
        // Child processes hold pipes: alongside other such tests, never beside one that counts descriptors.
        try await ResourceGate.shared {
            let r = try await runTool(arguments)
            #expect(r.status == 64, "\(r.stderr)")
            let lines = r.stderr.split(separator: "\n").map(String.init)
            #expect(lines.first == error, "\(r.stderr)")
            #expect(lines.dropFirst().first?.hasPrefix(usage) == true, "\(r.stderr)")
            #expect(!r.stderr.contains(rootUsage), "\(r.stderr)")
        }
    }

    @Test("a target that never answers: the error alone, exit 1")
    func targetNeverAnswers() async throws {
        // Child processes hold pipes: alongside other such tests, never beside one that counts descriptors.
        try await ResourceGate.shared {
            let nobody = freePort()
            let r = try await runTool(["bench", "--target", "http://127.0.0.1:\(nobody)", "--target-id", "2", "--workload", "heartbeat",
                                       "--patience", "1", "--quiet"])
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr.hasPrefix("Error: streams to http://127.0.0.1:\(nobody) (it must know member 1 at http://127.0.0.1:"),
                    "\(r.stderr)")
            #expect(r.stderr.hasSuffix("): not within 1.0 seconds\n"), "\(r.stderr)")
            #expect(!r.stderr.contains("Usage:"), "\(r.stderr)")
        }
    }

    @Test("a port in use: the error alone, exit 1, for bench, bench-follower and peer")
    func portInUse() async throws {
        // Child processes hold pipes: alongside other such tests, never beside one that counts descriptors.
        try await ResourceGate.shared {
            let held = try PortHolder()
            let p = held.port
            let listenError = "uv_listen(): address already in use (127.0.0.1 port \(p))"
            let bench = try await runTool(["bench", "--target", "http://127.0.0.1:1", "--target-id", "2", "--workload", "heartbeat",
                                           "--local-port", "\(p)", "--quiet"])
            #expect(bench.status == 1)
            #expect(bench.stderr == "Error: \(listenError)\n", "\(bench.stderr)")

            let follower = try await runTool(["bench-follower", "--id", "2", "--leader-id", "1", "--leader-url", "http://127.0.0.1:1",
                                              "--port", "\(p)"])
            #expect(follower.status == 1)
            #expect(follower.stderr == "Error: \(listenError)\n", "\(follower.stderr)")

            let url = "http://127.0.0.1:\(p)"
            let dataDir = NSTemporaryDirectory() + "port-in-use-\(p)"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            let peer = try await runTool(["peer", "--name", "a", "--initial-cluster", "a=\(url)", "--listen-peer-urls", url,
                                          "--initial-advertise-peer-urls", url, "--data-dir", dataDir])
            #expect(peer.status == 1)
            // The member logs its shutdown on stderr first; the error is the last line, alone.
            #expect(peer.stderr.hasSuffix("\nError: cannot listen on \(url): \(listenError)\n"), "\(peer.stderr)")
            #expect(!peer.stderr.contains("Usage:"), "\(peer.stderr)")

            let metrics = try await runTool(["bench-follower", "--id", "2", "--leader-id", "1", "--leader-url", "http://127.0.0.1:1",
                                             "--listen-metrics-urls", url])
            #expect(metrics.status == 1)
            #expect(metrics.stderr == "Error: cannot listen on \(url): \(listenError)\n", "\(metrics.stderr)")
            withExtendedLifetime(held) {}
        }
    }
}
