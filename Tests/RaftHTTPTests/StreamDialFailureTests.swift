import Logging
import RaftHTTP
import RaftIO
import Testing
import TestSupport

@Suite("Stream dial failures are logged")
struct StreamDialFailureTests {
    @Test("a peer that never answers: the failed dial is logged with its error, at most once a second per stream type")
    func failedDialIsLoggedRateLimited() async throws {
        try await withEventLoop { group in
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            let transport = Transport(configuration: .init(localID: 1, clusterID: 0x1000, localURLs: [], logger: logger),
                                      raft: RecordingRaft(), group: group)
            defer { transport.stop() }
            let closedPort = freePort() // nothing listens there
            // The clock starts before the first dial and stops after the lines are taken, so every
            // line counted falls inside the measured time (a rate, not a speed: a slower machine
            // measures a longer time and allows more lines).
            let clock = ContinuousClock()
            let started = clock.now
            try transport.addPeer(2, urls: ["http://127.0.0.1:\(closedPort)"])
            // 10 failures take 5 retry intervals (0.5 s); the hang guard is 60x that.
            try await eventually(.seconds(30), "10 failed dials") { (transport.statistics(peer: 2)?.failures ?? 0) >= 10 }
            let lines = logs.lines.filter { $0.message == "failed to dial remote peer" }
            let elapsed = clock.now - started
            for type in ["stream MsgApp v2", "stream Message"] {
                let ofType = lines.filter { $0.metadata["stream-reader-type"] == type }
                #expect(!ofType.isEmpty, "no dial failure logged for \(type)")
                #expect(ofType.count <= Int(elapsed / .seconds(1)) + 1, "\(ofType.count) lines in \(elapsed)")
                #expect(ofType.allSatisfy { $0.metadata["remote-peer-id"] == "2" && !($0.metadata["error"] ?? "").isEmpty })
            }
            // Never active, so no "became inactive": the dial warning is the only word about it.
            #expect(!logs.messages.contains("peer became inactive (message send to peer failed)"))
        }
    }

    @Test("an https peer URL without a client TLS context: the dial fails at once, is logged with the reason, and is retried")
    func httpsWithoutTLS() async throws {
        try await withEventLoop { group in
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            let transport = Transport(configuration: .init(localID: 1, clusterID: 0x1000, localURLs: [], logger: logger),
                                      raft: RecordingRaft(), group: group)
            defer { transport.stop() }
            try transport.addPeer(2, urls: ["https://127.0.0.1:\(freePort())"])
            // Two stream types, each refused before its request starts, then redialed: the
            // failure reaches the reader although it came before the request's task existed.
            try await eventually(.seconds(30), "4 failed dials") { (transport.statistics(peer: 2)?.failures ?? 0) >= 4 }
            #expect((transport.statistics(peer: 2)?.streamDials ?? 0) >= 4)
            let lines = logs.lines.filter { $0.message == "failed to dial remote peer" }
            #expect(!lines.isEmpty)
            #expect(lines.allSatisfy { ($0.metadata["error"].map { "\($0)" } ?? "").contains("https needs a TLS context") }, "\(lines.map(\.metadata))")
        }
    }
}
