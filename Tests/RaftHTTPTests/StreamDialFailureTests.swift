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
            try transport.addPeer(2, urls: ["http://127.0.0.1:\(closedPort)"])
            let clock = ContinuousClock()
            let started = clock.now
            while (transport.statistics(peer: 2)?.failures ?? 0) < 10 {
                try #require(clock.now - started < .seconds(10), "10 failed dials within 10 s")
                try await Task.sleep(for: .milliseconds(20)) // a poll interval, not a wait for the condition
            }
            let elapsed = clock.now - started
            let lines = logs.lines.filter { $0.message == "failed to dial remote peer" }
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
}
