import ArgumentParser
import CRaftTool
import BenchKit
import Foundation
import RaftIO

/// `rafthttp bench-follower`: one benchmark follower (a child of `bench --processes`, or a standing
/// target for `bench --target`). Prints `listening <port>`; stops on a `stop` line or the end of
/// its input and prints `result <json>`.
struct BenchFollowerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-follower",
        abstract: "Run one benchmark follower that acknowledges to its leader (used by bench --processes and --target).",
        shouldDisplay: false
    )

    @Option(help: "Our member ID, in hex.")
    var id: String

    @Option(help: "The leader's member ID, in hex.")
    var leaderID: String

    @Option(help: "The leader's peer URL.")
    var leaderURL: String

    @Option(help: "The cluster ID, in hex.")
    var clusterID = "1000"

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port).")
    var port = 0

    @Option(help: "A folder with ca.pem, server.pem/key and client.pem/key: serve and dial with TLS.")
    var tlsDir: String?

    @Flag(help: "Answer each delivered batch with one cumulative MsgAppResp and MsgHeartbeatResp, not one answer per message.")
    var cumulativeAcks = false

    @Option(help: "Microseconds the loop keeps polling after activity before it sleeps (0: never spin).")
    var spinMicroseconds = 0

    func run() async throws {
        // A follower is a child of `rafthttp bench --processes`: it must not outlive its parent
        // (a killed benchmark would otherwise leave followers running).
        _ = rafthttp_exit_with_parent()
        var options = BenchFollower.Options(id: try BenchCommand.memberID(id, "--id"),
                                            leaderID: try BenchCommand.memberID(leaderID, "--leader-id"),
                                            leaderURL: leaderURL)
        options.clusterID = try BenchCommand.memberID(clusterID, "--cluster-id")
        options.host = host
        options.port = port
        options.tlsDirectory = tlsDir
        options.cumulativeAcks = cumulativeAcks
        options.spin = .microseconds(spinMicroseconds)
        // Unbuffered: the parent waits for each line.
        @Sendable func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        let report = try await BenchFollower.run(options, output: say, untilStopped: {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    while let line = Swift.readLine(), line != "stop" {}
                    continuation.resume()
                }
            }
        })
        let data = try JSONEncoder().encode(report)
        say("result " + String(decoding: data, as: UTF8.self))
    }
}
