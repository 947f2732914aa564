// A start that fails releases everything it made: the event loop's thread, the listeners' and the
// transport's sockets, and the transport itself (its raft holds it weakly, so no cycle keeps it
// and its loop group alive).
import Dispatch
import Foundation
import Logging
import RaftHTTP
import RaftHTTPPeer
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("A failed start of the Swift member leaves nothing behind")
struct StartFailureTests {
    private func configuration(port: Int, dataDirectory: String?, role: PeerMember.RaftRole) throws -> PeerMember.Configuration {
        let cluster = try InitialCluster(parsing: "a=http://127.0.0.1:\(port),b=http://127.0.0.1:\(freePort())", token: "t")
        let url = [try PeerURL(parsing: "http://127.0.0.1:\(port)")]
        return try PeerMember.Configuration(name: "a", initialCluster: cluster, listenPeerURLs: url, advertisePeerURLs: url,
                                            logger: Logger(label: "test"), dataDirectory: dataDirectory, raftRole: role)
    }

    @Test("a data directory that cannot be created, and a port in use: start throws, and no loop thread, socket or descriptor is left")
    func noLeaks() async throws {
        try await ResourceGate.exclusive {
            let scratch = NSTemporaryDirectory() + "start-failure-\(UInt64.random(in: 0 ... .max))"
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            let file = scratch + "/file"
            #expect(FileManager.default.createFile(atPath: file, contents: Data()))
            let held = try PortHolder()
            try await eventually(.seconds(30), "no event loop thread left from earlier tests") {
                ProcessResources.threads(named: "rio-loop") == 0
            }
            // Process-wide descriptors opened on first use and kept: libuv's signal lock pipe (the
            // first loop), libdispatch's manager (the first queue). Open them before the baseline.
            let warm = try EventLoopGroup(loopCount: 1)
            await offCooperativePool { warm.shutdown() }
            await withCheckedContinuation { done in DispatchQueue(label: "warm-up").async { done.resume() } }
            try await eventually(.seconds(30), "the warm-up loop's thread gone") { ProcessResources.threads(named: "rio-loop") == 0 }
            let fds = ProcessResources.openFileDescriptors()
            let links = Self.descriptorLinks()
            let connections = Connection.liveCount

            for role in PeerMember.RaftRole.allCases {
                // A regular file where a directory must be: mkdir fails.
                await #expect(throws: PeerMemberError.invalidFlag("--data-dir", "cannot create \(file)/data/member/snap: "
                                                                  + "wal mkdir \(file)/data: Not a directory")) {
                    _ = try await PeerMember.start(configuration: try configuration(port: freePort(), dataDirectory: file + "/data", role: role))
                }
                // The listener fails after the transport was made and its peer dialed.
                do {
                    _ = try await PeerMember.start(configuration: try configuration(port: held.port, dataDirectory: scratch + "/\(role)", role: role))
                    Issue.record("started on a port in use")
                } catch {
                    #expect("\(error)".contains("address already in use"), "\(error)")
                }
            }
            try await eventually(.seconds(30), "no event loop thread left (\(ProcessResources.threads(named: "rio-loop")))") {
                ProcessResources.threads(named: "rio-loop") == 0
            }
            try await eventually(.seconds(30), "connection objects freed (\(Connection.liveCount) live, \(connections) before)") {
                Connection.liveCount <= connections
            }
            #expect(ProcessResources.openFileDescriptors() <= fds,
                    "descriptors: \(fds) before, \(ProcessResources.openFileDescriptors()) after; new: \(Self.descriptorLinks().subtracting(links))")
        }
    }

    /// What each open descriptor points at, for a failure message.
    private static func descriptorLinks() -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return Set(names.map { "\($0) -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) ?? "?") })
    }

    @Test("neither raft keeps its transport alive: the member owns it", arguments: PeerMember.RaftRole.allCases)
    func weakTransport(role: PeerMember.RaftRole) async throws {
        try await ResourceGate.shared {
            let directory = NSTemporaryDirectory() + "weak-transport-\(UInt64.random(in: 0 ... .max))"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let raft: any MemberRaft = switch role {
            case .voter: try VoterRaft(configuration: .init(localID: 1, directory: directory))
            case .observer: ObserverRaft(localID: 1, logger: Logger(label: "test"))
            }
            let group = try EventLoopGroup(loopCount: 1)
            let weakTransport = WeakReference()
            do {
                let transport = Transport(configuration: .init(localID: 1, clusterID: 1, localURLs: []), raft: raft, group: group)
                raft.attach(transport)
                weakTransport.object = transport
                transport.stop()
            }
            await offCooperativePool { group.shutdown() }
            try await eventually(.seconds(10), "the transport freed") { weakTransport.object == nil }
            await raft.detach()
        }
    }
}
