import Foundation
import Logging
import PeerHTTP
import RaftHTTP
import RaftHTTPService
import RaftIO
import RaftPB
import ServiceLifecycle
import Testing
import TestSupport

@Suite("TransportService: a member under swift-service-lifecycle")
struct TransportServiceTests {
    /// Two members, each a `TransportService` in its own `ServiceGroup`, as two servers would run.
    private static func member(id: UInt64, peers: [UInt64: [String]] = [:], raft: RecordingRaft,
                               port: Int = 0, unixSocket: String? = nil) throws -> TransportService {
        let group = try EventLoopGroup(loopCount: 1)
        var logger = Logger(label: "service-test-\(id)")
        logger.logLevel = .critical
        let configuration = Transport.Configuration(localID: id, clusterID: 0x5e, localURLs: [], logger: logger)
        return TransportService(transport: Transport(configuration: configuration, raft: raft, group: group),
                                server: HTTPServer(), group: group,
                                listeners: [unixSocket.map { .init(unixSocket: $0) } ?? .init(host: "127.0.0.1", port: port)],
                                peers: peers,
                                drainDeadline: .seconds(5), logger: logger)
    }

    /// Open sockets of this process (file descriptors that are sockets): what a stopped service
    /// must have closed while it is still referenced. (Its loops' own descriptors, epoll and the
    /// wake-up eventfd, go with the loop objects.)
    private static func openSockets() -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { fd in
            ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? "").hasPrefix("socket:")
        }.count
    }

    private static func group(_ service: TransportService) -> ServiceGroup {
        var logger = Logger(label: "service-group")
        logger.logLevel = .critical
        return ServiceGroup(configuration: .init(services: [service], logger: logger))
    }

    @Test("two members under ServiceGroups: streams come up, messages flow; graceful shutdown stops each in order and leaves no socket, loop thread or connection object")
    func gracefulShutdown() async throws {
        try await ResourceGate.exclusive {
            let sockets = Self.openSockets()
            let loops = ProcessResources.threads(named: "rio-loop")
            let connections = Connection.liveCount
            let raft1 = RecordingRaft(), raft2 = RecordingRaft()
            let first = try Self.member(id: 1, raft: raft1)
            let firstGroup = Self.group(first)
            let firstRun = Task { try await firstGroup.run() }
            let port1 = try await first.boundPorts()[0]
            let second = try Self.member(id: 2, peers: [1: ["http://127.0.0.1:\(port1)"]], raft: raft2)
            let secondGroup = Self.group(second)
            let secondRun = Task { try await secondGroup.run() }
            let port2 = try await second.boundPorts()[0]
            try first.transport.addPeer(2, urls: ["http://127.0.0.1:\(port2)"])
            try await eventually(.seconds(10), "streams up both ways") {
                first.transport.statistics(peer: 2)?.msgAppStreamAttached == true
                    && second.transport.statistics(peer: 1)?.msgAppStreamAttached == true
            }
            var m = Message()
            m.type = .msgApp
            m.from = 1
            m.to = 2
            m.index = 7
            first.transport.send([m])
            try await raft2.wait(timeout: .seconds(10), "delivered") { $0.received.contains { $0.index == 7 } }

            // The first member goes away gracefully: its peer sees its streams close at once
            // (not after a read timeout) and hears it is unreachable.
            await firstGroup.triggerGracefulShutdown()
            try await firstRun.value
            #expect(first.transport.isStopped)
            try await raft2.wait(timeout: .seconds(10), "peer 1 reported unreachable") { $0.unreachable.contains(1) }
            await secondGroup.triggerGracefulShutdown()
            try await secondRun.value

            try await eventually(.seconds(30), "loop threads gone") { ProcessResources.threads(named: "rio-loop") <= loops }
            try await eventually(.seconds(30), "sockets closed (\(Self.openSockets()) open, \(sockets) before)") {
                Self.openSockets() <= sockets
            }
            try await eventually(.seconds(30), "connection objects freed") { Connection.liveCount == connections }
        }
    }

    @Test("two members on unix:// sockets (etcd's unix://localhost:<n>): streams come up; graceful shutdown removes the socket files")
    func unixSockets() async throws {
        try await ResourceGate.shared {
            let files = ["localhost:\(freePort())", "localhost:\(freePort())"]
            let raft2 = RecordingRaft()
            let first = try Self.member(id: 1, peers: [2: ["unix://\(files[1])"]], raft: RecordingRaft(), unixSocket: files[0])
            let second = try Self.member(id: 2, peers: [1: ["unix://\(files[0])"]], raft: raft2, unixSocket: files[1])
            let groups = [Self.group(first), Self.group(second)]
            let runs = groups.map { g in Task { try await g.run() } }
            #expect(try await first.boundPorts() == [0])
            #expect(try await second.boundPorts() == [0])
            try await eventually(.seconds(10), "streams up both ways") {
                first.transport.statistics(peer: 2)?.msgAppStreamAttached == true
                    && second.transport.statistics(peer: 1)?.msgAppStreamAttached == true
            }
            var m = Message()
            m.type = .msgApp
            m.from = 1
            m.to = 2
            m.index = 7
            first.transport.send([m])
            try await raft2.wait(timeout: .seconds(10), "delivered") { $0.received.contains { $0.index == 7 } }
            #expect(files.allSatisfy { FileManager.default.fileExists(atPath: $0) })
            for g in groups { await g.triggerGracefulShutdown() }
            for r in runs { try await r.value }
            #expect(!files.contains { FileManager.default.fileExists(atPath: $0) })
        }
    }

    @Test("a cancelled ServiceGroup stops the member at once and leaves nothing behind")
    func cancellation() async throws {
        try await ResourceGate.exclusive {
            let sockets = Self.openSockets()
            let loops = ProcessResources.threads(named: "rio-loop")
            let service = try Self.member(id: 1, peers: [2: ["http://127.0.0.1:9"]], raft: RecordingRaft())
            let group = Self.group(service)
            let run = Task { try await group.run() }
            _ = try await service.boundPorts()
            run.cancel()
            _ = try? await run.value
            #expect(service.transport.isStopped)
            try await eventually(.seconds(30), "loop threads gone") { ProcessResources.threads(named: "rio-loop") <= loops }
            try await eventually(.seconds(30), "sockets closed") { Self.openSockets() <= sockets }
        }
    }

    @Test("a listener that cannot be opened (port in use) ends run with the error and stops what started")
    func portInUse() async throws {
        try await ResourceGate.exclusive {
            let holder = try Self.member(id: 9, raft: RecordingRaft())
            let holderGroup = Self.group(holder)
            let holderRun = Task { try await holderGroup.run() }
            let taken = try await holder.boundPorts()[0]
            let sockets = Self.openSockets()
            let loops = ProcessResources.threads(named: "rio-loop")

            let service = try Self.member(id: 1, raft: RecordingRaft(), port: taken)
            await #expect(throws: (any Error).self) { try await Self.group(service).run() }
            await #expect(throws: (any Error).self) { _ = try await service.boundPorts() }
            #expect(service.transport.isStopped)
            try await eventually(.seconds(30), "its loop thread gone") { ProcessResources.threads(named: "rio-loop") <= loops }
            try await eventually(.seconds(30), "its sockets closed") { Self.openSockets() <= sockets }

            await holderGroup.triggerGracefulShutdown()
            try await holderRun.value
        }
    }
}
