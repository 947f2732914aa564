import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("Stopped transports are freed")
struct ReleaseTests {
    // Counting connection objects is process-wide: the test runs alone.
    @Test("a stopped cluster's transports, servers, loop groups, rafts and connection objects are all freed")
    func stoppedClusterIsFreed() async throws {
        try await ResourceGate.exclusive {
            let connections = Connection.liveCount
            let refs: [WeakReference] = try await TestCluster.with(count: 3) { cluster in
                try await cluster.waitUntilConnected()
                for n in 1...100 as ClosedRange<UInt64> {
                    cluster[0].transport.send([message(.msgApp, from: 1, to: 2, term: 1, index: n, entries: 1),
                                               message(.msgHeartbeat, from: 1, to: 3, term: n)])
                }
                try await cluster[1].raft.wait { $0.received.count == 100 }
                try await cluster[2].raft.wait { $0.received.count == 100 }
                return (0..<3).flatMap { i in
                    [WeakReference(cluster[i].transport), WeakReference(cluster[i].server),
                     WeakReference(cluster[i].group), WeakReference(cluster[i].raft)]
                }
            }
            // Once stopped and dropped, nothing may keep them: a reference cycle through a
            // stream's response writer once kept every stopped transport alive, with its buffers.
            try await eventually(.seconds(30), "all freed") { refs.allSatisfy { $0.object == nil } }
            try await eventually(.seconds(30), "connection objects freed (\(Connection.liveCount) live, \(connections) before)") {
                Connection.liveCount == connections
            }
        }
    }
}
