// raftexample: a replicated key-value store over the transport, with etcd contrib/raftexample's
// flags and API. Three members on one machine:
//   raftexample --id 1 --cluster http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379 --port 12380
//   raftexample --id 2 --cluster ... --port 22380
//   raftexample --id 3 --cluster ... --port 32380
//   curl -L http://127.0.0.1:12380/my-key -XPUT -d hello; curl -L http://127.0.0.1:22380/my-key
// Member i of --cluster has ID i (1-based), as in raftexample; its WAL is ./raftexample-<id>.
import ArgumentParser
import Logging
import RaftKV
import ServiceLifecycle

@main
struct RaftExample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raftexample",
        abstract: "A key-value store replicated by raft over rafthttp (etcd's contrib/raftexample).")

    @Option(help: "Comma-separated cluster peer URLs; member i (1-based) has ID i.")
    var cluster = "http://127.0.0.1:9021"

    @Option(help: "This member's ID: its position in --cluster.")
    var id = 1

    @Option(help: "Key-value server port.")
    var port = 9121

    @Flag(help: "Join an existing cluster (start with no voters; the leader's log brings them).")
    var join = false

    @Option(help: "Raft tick in milliseconds (election after 100 to 199 ticks, heartbeat every 10).")
    var tickMilliseconds = 10

    @Option(help: "Applied entries between snapshots (etcd raftexample's defaultSnapshotCount).")
    var snapshotCount: UInt64 = 10_000

    @Option(help: "Append one line per applied entry (index, term, hash) to this file, to compare members after a run.")
    var appliedLog: String?

    mutating func run() async throws {
        let urls = cluster.split(separator: ",").map(String.init)
        guard id >= 1, id <= urls.count else { throw ValidationError("--id must be between 1 and \(urls.count)") }
        guard let self_ = PeerAddress(urls[id - 1]) else { throw ValidationError("cannot parse peer URL \(urls[id - 1])") }
        let peerURLs = Dictionary(uniqueKeysWithValues: urls.enumerated().map { (UInt64($0.offset + 1), $0.element) })

        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var node = RaftNode.Configuration(id: UInt64(id), voters: join ? [] : Set(peerURLs.keys),
                                          dataDirectory: "raftexample-\(id)")
        node.tickInterval = .milliseconds(tickMilliseconds)
        node.snapshotCount = snapshotCount
        node.appliedLogPath = appliedLog
        var configuration = KVMember.Configuration(node: node)
        configuration.peerHost = "0.0.0.0"
        configuration.peerPort = self_.port
        configuration.clientHost = "0.0.0.0"
        configuration.clientPort = port
        let member = try KVMember(configuration: configuration)
        let logger = Logger(label: "raftexample")
        let services = ServiceGroup(configuration: .init(services: [MemberService(member: member, peerURLs: peerURLs)],
                                                         gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await services.run()
    }
}

/// Runs a member until graceful shutdown (SIGTERM, SIGINT) or cancellation.
struct MemberService: Service {
    let member: KVMember
    let peerURLs: [UInt64: String]

    func run() async throws {
        _ = try await member.listen()
        do {
            try member.start(peerURLs: peerURLs)
        } catch {
            await member.stop()
            throw error
        }
        // Until SIGTERM/SIGINT, or until the member learns it was removed from the cluster.
        await withGracefulShutdownHandler {
            await member.node.waitUntilStopped()
        } onGracefulShutdown: {
            member.node.requestStop()
        }
        await member.stop()
    }
}

/// The port of a peer URL (`http://host:port`).
struct PeerAddress {
    let port: Int
    init?(_ url: String) {
        guard let colon = url.lastIndex(of: ":"), let port = Int(url[url.index(after: colon)...].prefix { $0.isNumber }) else {
            return nil
        }
        self.port = port
    }
}
