import ArgumentParser

/// `rafthttp`: the project's command-line tool.
@main
struct RaftHTTPTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rafthttp",
        abstract: "etcd's raft peer transport in Swift: benchmarks and tools.",
        subcommands: [BenchCommand.self, BenchFollowerCommand.self, IOBenchCommand.self, PeerCommand.self]
    )
}
