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

    @Option(help: "A folder with ca.pem, server.pem/key and client.pem/key: serve and dial with TLS (what bench --processes --tls passes; a TLS cluster's own files: --peer-cert-file).")
    var tlsDir: String?

    @Flag(help: "Answer each delivered batch with one cumulative MsgAppResp and MsgHeartbeatResp, not one answer per message.")
    var cumulativeAcks = false

    @Option(help: "Microseconds the loop keeps polling after activity before it sleeps (0: never spin).")
    var spinMicroseconds = 0

    @OptionGroup(title: "TLS with the cluster's certificates (etcd's flags)")
    var peerTLS: PeerTLSFlags

    @OptionGroup(title: "Metrics")
    var metrics: MetricsFlags

    /// Usage errors, answered with this command's usage before anything starts.
    func validate() throws {
        _ = try options()
    }

    func run() async throws {
        // A follower is a child of `rafthttp bench --processes`: it must not outlive its parent
        // (a killed benchmark would otherwise leave followers running).
        _ = rafthttp_exit_with_parent()
        let options = try options()
        let listener = try await metrics.start()
        // Unbuffered: the parent waits for each line.
        @Sendable func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        let report: BenchFollower.Report
        do {
            report = try await BenchFollower.run(options, output: say, untilStopped: {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    Thread.detachNewThread {
                        while let line = Swift.readLine(), line != "stop" {}
                        continuation.resume()
                    }
                }
            })
        } catch {
            await listener?.stop()
            throw error
        }
        await listener?.stop()
        let data = try JSONEncoder().encode(report)
        say("result " + String(decoding: data, as: UTF8.self))
    }

    /// The follower's options from the flags.
    /// - Throws: `ValidationError` for a flag's value or a combination that cannot run.
    private func options() throws(ValidationError) -> BenchFollower.Options {
        var options = BenchFollower.Options(id: try BenchCommand.memberID(id, "--id"),
                                            leaderID: try BenchCommand.memberID(leaderID, "--leader-id"),
                                            leaderURL: leaderURL)
        options.clusterID = try BenchCommand.memberID(clusterID, "--cluster-id")
        options.host = host
        options.port = port
        options.tlsDirectory = tlsDir
        options.tlsFiles = try peerTLS.files()
        if tlsDir != nil, options.tlsFiles != nil { throw ValidationError("--tls-dir and --peer-cert-file exclude each other") }
        options.cumulativeAcks = cumulativeAcks
        options.spin = .microseconds(spinMicroseconds)
        return options
    }
}
