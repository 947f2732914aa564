// The documentation catalog's promises, kept by tests: the getting-started article's code is this
// file's code between the `docs:getting-started` markers (compiled here, run by a test, and
// compared with the article's code block byte for byte), and the tuning article names every
// field of `Transport.Configuration`.
import Foundation
import Testing
import TestSupport

// docs:getting-started:begin
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB

/// The raft side of one member. The transport calls it on an event-loop thread, so it must not
/// block: it hands each message to the raft loop (here an `AsyncStream`) and returns.
final class InboxRaft: Raft {
    let inbox: AsyncStream<Message>
    private let continuation: AsyncStream<Message>.Continuation

    init() {
        (inbox, continuation) = AsyncStream.makeStream(of: Message.self)
    }

    func process(_ message: Message) throws { continuation.yield(message) }
    func isIDRemoved(_ id: UInt64) -> Bool { false }
    func reportUnreachable(_ id: UInt64) {} // a real raft probes the follower again
    func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {}
}

/// One member: an event loop, an HTTP server serving the raft routes, a transport.
struct Member {
    let id: UInt64
    let url: String
    let raft: InboxRaft
    let transport: Transport
    let server: HTTPServer
    let group: EventLoopGroup

    /// Starts a member listening on a free loopback port.
    static func start(id: UInt64, clusterID: UInt64) async throws -> Member {
        let group = try EventLoopGroup(loopCount: 1)
        let raft = InboxRaft()
        let configuration = Transport.Configuration(localID: id, clusterID: clusterID, localURLs: [])
        let transport = Transport(configuration: configuration, raft: raft, group: group)
        // Accepted peer sockets get the same keepalive and user timeout as dialed ones.
        let server = HTTPServer(configuration: .init(tcpLiveness: configuration.resolvedTCPLiveness))
        transport.registerRoutes(on: server)
        let port = try await server.start(host: "127.0.0.1", port: 0, on: group.next())
        return Member(id: id, url: "http://127.0.0.1:\(port)", raft: raft, transport: transport,
                      server: server, group: group)
    }

    /// Stops in order: the peer connections, the listener, then the loop.
    func stop() async {
        transport.stop()
        await server.shutdown(deadline: .seconds(1))
        group.shutdown() // joins the loop's thread: never call it on a loop thread
    }
}

/// Three members, each a peer of the other two; member 1 sends an append to members 2 and 3.
/// Returns what each follower's raft received.
func runThreeMemberCluster() async throws -> [UInt64: Message] {
    var members: [Member] = []
    for id: UInt64 in 1...3 {
        members.append(try await Member.start(id: id, clusterID: 0x1000))
    }
    for member in members {
        for other in members where other.id != member.id {
            try member.transport.addPeer(other.id, urls: [other.url])
        }
    }

    // Raft's loop sends; `send` never blocks and does not promise delivery. Until a peer's
    // streams are up, messages to it go by the pipeline (one POST each), then by its streams.
    let entry = Entry(term: 1, index: 1, data: Array("hello".utf8)[...])
    let appends = members.dropFirst().map { follower in
        Message(type: .msgApp, to: follower.id, from: 1, term: 1, entries: [entry])
    }
    members[0].transport.send(appends)

    var received: [UInt64: Message] = [:]
    for follower in members.dropFirst() {
        var inbox = follower.raft.inbox.makeAsyncIterator()
        received[follower.id] = await inbox.next()
    }
    for member in members { await member.stop() }
    return received
}
// docs:getting-started:end

// The limit covers the wait for ResourceGate: in a full run, exclusive tests hold it for a minute or more.
@Suite("the documentation's code and promises", .timeLimit(.minutes(5)))
struct DocumentationTests {
    /// The package's root, from this file's path.
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    private static let catalog = root.appendingPathComponent("Sources/RaftHTTP/RaftHTTP.docc")

    @Test("the getting-started cluster runs: both followers' raft receive member 1's append")
    func gettingStartedRuns() async throws {
        // Loops and sockets: alongside other such tests, never beside one that counts them.
        let received = try await ResourceGate.shared { try await runThreeMemberCluster() }
        #expect(received.keys.sorted() == [2, 3])
        for (id, message) in received {
            #expect(message.type == .msgApp && message.from == 1 && message.to == id)
            #expect(message.entries.first?.data.map { Array($0) } == Array("hello".utf8))
        }
    }

    @Test("the getting-started article's code block is the code this file compiles and runs")
    func gettingStartedMatches() async throws {
        // Reading files opens descriptors: never beside a test that counts them.
        let (source, article) = try await ResourceGate.shared {
            (try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8),
             try String(contentsOf: Self.catalog.appendingPathComponent("GettingStarted.md"), encoding: .utf8))
        }
        let begin = try #require(source.range(of: "// docs:getting-started:begin\n"))
        let end = try #require(source.range(of: "// docs:getting-started:end\n"))
        let code = String(source[begin.upperBound..<end.lowerBound])

        let blockStart = try #require(article.range(of: "```swift\n"), "the article has a swift code block")
        let blockEnd = try #require(article.range(of: "```\n", range: blockStart.upperBound..<article.endIndex))
        let block = String(article[blockStart.upperBound..<blockEnd.lowerBound])
        #expect(block == code, "GettingStarted.md's code block differs from DocumentationTests.swift's; copy the marked code into it")
    }

    @Test("the tuning article names every Transport.Configuration field")
    func tuningNamesEveryField() async throws {
        let article = try await ResourceGate.shared {
            try String(contentsOf: Self.catalog.appendingPathComponent("Tuning.md"), encoding: .utf8)
        }
        let configuration = Transport.Configuration(localID: 1, clusterID: 1, localURLs: [])
        let fields = Mirror(reflecting: configuration).children.compactMap(\.label)
        #expect(fields.count > 20)
        for field in fields {
            #expect(article.contains("``Transport/Configuration/\(field)``"), "Tuning.md does not describe \(field)")
        }
    }
}
