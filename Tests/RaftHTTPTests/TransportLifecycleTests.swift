import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("Transport: TLS, five members, closing leaves nothing behind")
struct TransportLifecycleTests {
    @Test("a TLS cluster with mutual authentication works; a peer signed by another CA never reaches raft")
    func tlsCluster() async throws {
        try await ResourceGate.shared {
            let certs = TestCertificates.shared
            let serverTLS = try TLSContext(configuration: certs.server(clientAuth: .require), role: .server)
            let clientTLS = try TLSContext(configuration: certs.client(), role: .client)
            try await TestCluster.with(count: 3, serverTLS: serverTLS, clientTLS: clientTLS) { cluster in
                try await cluster.waitUntilConnected()
                cluster[0].transport.send([message(.msgApp, from: 1, to: 2, term: 3, index: 0, entries: 1)])
                try await cluster[1].raft.wait { $0.received.contains { $0.type == .msgApp && $0.term == 3 } }

                // A fourth member whose certificate comes from a rogue CA: the handshake fails, raft
                // never sees its messages, and it never becomes active.
                let rogueTLS = try TLSContext(configuration: certs.client("rogue-client"), role: .client)
                let rogue = try await TestCluster.startMember(id: 9, port: 0, clusterID: cluster.clusterID, serverTLS: serverTLS,
                                                              clientTLS: rogueTLS)
                try rogue.transport.addPeer(1, urls: [cluster[0].url])
                rogue.transport.send([message(.msgHeartbeat, from: 9, to: 1, term: 77)])
                try await eventually(.seconds(10), "rogue's dial fails") {
                    (rogue.transport.statistics(peer: 1)?.failures ?? 0) >= 2
                }
                #expect(rogue.transport.activePeers == 0)
                #expect(rogue.transport.statistics(peer: 1)?.lastError?.contains("unknown ca") == true,
                        "\(rogue.transport.statistics(peer: 1)?.lastError ?? "")")
                #expect(!cluster[0].raft.record.received.contains { $0.from == 9 })
                await rogue.stop()
            }
        }
    }

    @Test("five members: a message to each peer arrives at that peer only")
    func fiveMembers() async throws {
        try await ResourceGate.shared {
            try await TestCluster.with(count: 5) { cluster in
                try await cluster.waitUntilConnected(timeout: .seconds(20))
                for i in 0..<5 {
                    let from = cluster[i].id
                    let batch = (0..<5).filter { $0 != i }.map { message(.msgHeartbeat, from: from, to: cluster[$0].id, term: from * 10) }
                    cluster[i].transport.send(batch)
                }
                for i in 0..<5 {
                    try await cluster[i].raft.wait { $0.received.count == 4 }
                    let got = cluster[i].raft.record.received
                    #expect(got.allSatisfy { $0.to == cluster[i].id })
                    #expect(Set(got.map(\.from)) == Set((0..<5).filter { $0 != i }.map { cluster[$0].id }))
                }
            }
        }
    }

    @Test("removePeer and stop close every socket and loop thread they used")
    func closesEverything() async throws {
        try await ResourceGate.exclusive {
            // Warm up what lives for the process (resolver pool, certificates) before the baseline.
            let warm = try await TestCluster(count: 2)
            try await warm.waitUntilConnected()
            await warm.stop()
            let fds = ProcessResources.openFileDescriptors()

            let cluster = try await TestCluster(count: 3)
            try await cluster.waitUntilConnected()
            cluster[0].transport.send([message(.msgApp, from: 1, to: 2, entries: 1)])
            try await cluster[1].raft.wait { !$0.received.isEmpty }
            #expect(ProcessResources.openFileDescriptors() > fds)
            // Removing a peer closes its four stream connections on both sides.
            cluster[0].transport.removePeer(3)
            cluster[2].transport.removePeer(1)
            try await eventually(.seconds(10), "peer 3's connections to 1 closed") {
                cluster[0].transport.statistics(peer: 3) == nil && cluster[2].transport.activePeers == 1
            }
            await cluster.stop()
            // A loop thread leaves the thread list once it has exited, which can trail `stop` on a
            // busy machine: wait for the event (as LifecycleTests and StartFailureTests do).
            try await eventually(.seconds(30), "no event loop thread left (\(ProcessResources.threads(named: "rio-loop")))") {
                ProcessResources.threads(named: "rio-loop") == 0
            }
            #expect(ProcessResources.openFileDescriptors() == fds)
        }
    }
}
