import Foundation
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

/// Members on etcd's `unix://` and `unixs://` peer URLs: the socket file is the URL's `host:port`
/// in the working directory (`unixs://localhost:<n>` is the file `localhost:<n>`), TLS checks the
/// certificate against the host, `localhost`. Client certificates are not checked against the
/// connecting address (a Unix socket's client has none), as etcd members on unixs:// must be run
/// (with --experimental-peer-skip-client-san-verification).
@Suite("Transport over Unix sockets")
struct UnixSocketTransportTests {
    let certs = TestCertificates.shared

    @Test("three members over unixs:// with mutual TLS: streams up both ways, messages delivered, socket files removed on stop")
    func threeMembersOverUnixs() async throws {
        try await ResourceGate.shared {
            let server = try TLSContext(configuration: certs.server(clientAuth: .require), role: .server)
            let client = try TLSContext(configuration: certs.client(), role: .client)
            let paths: [String] = try await TestCluster.with(count: 3, serverTLS: server, clientTLS: client, unixSockets: true) { cluster in
                for i in 0..<3 {
                    #expect(cluster[i].url.hasPrefix("unixs://localhost:"))
                }
                let paths = (0..<3).compactMap { cluster[$0].unixSocketPath }
                #expect(paths.count == 3 && paths.allSatisfy { FileManager.default.fileExists(atPath: $0) })
                try await cluster.waitUntilConnected()
                try await eventually(.seconds(10), "every stream reader reading") {
                    (0..<3).allSatisfy { i in
                        (0..<3).filter { $0 != i }.allSatisfy { other in
                            let s = cluster[i].transport.statistics(peer: cluster[other].id)
                            return s?.msgAppStreamReading == true && s?.messageStreamReading == true
                        }
                    }
                }
                // Each member to each other: appends on the msgapp stream, heartbeats on the message
                // stream, and a MsgSnap by pipeline (a POST on its own connection).
                for i in 0..<3 {
                    var batch: [Message] = []
                    for other in 0..<3 where other != i {
                        let from = cluster[i].id, to = cluster[other].id
                        batch += (1...20 as ClosedRange<UInt64>).map { message(.msgApp, from: from, to: to, term: 1, index: $0, entries: 1) }
                        batch += (1...5 as ClosedRange<UInt64>).map { message(.msgHeartbeat, from: from, to: to, term: $0) }
                        var snap = message(.msgSnap, from: from, to: to, term: 1)
                        snap.snapshot.metadata.index = 7
                        batch.append(snap)
                    }
                    cluster[i].transport.send(batch)
                }
                for i in 0..<3 {
                    try await cluster[i].raft.wait(timeout: .seconds(10), "52 messages at member \(i + 1)") { $0.received.count >= 52 }
                    let got = cluster[i].raft.record.received
                    #expect(got.count == 52)
                    for other in 0..<3 where other != i {
                        let fromOther = got.filter { $0.from == cluster[other].id }
                        #expect(fromOther.filter { $0.type == .msgApp }.map(\.index) == Array(1...20))
                        #expect(fromOther.filter { $0.type == .msgHeartbeat }.count == 5)
                        #expect(fromOther.filter { $0.type == .msgSnap }.count == 1)
                    }
                }
                return paths
            }
            #expect(paths.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "socket files left: \(paths)")
        }
    }

    @Test("a plain unix:// pair: streams up both ways and messages delivered in order")
    func plainUnixPair() async throws {
        try await ResourceGate.shared {
            try await TestCluster.with(count: 2, unixSockets: true) { cluster in
                #expect(cluster[0].url.hasPrefix("unix://localhost:"))
                try await cluster.waitUntilConnected()
                cluster[0].transport.send((1...100 as ClosedRange<UInt64>).map { message(.msgApp, from: 1, to: 2, term: 1, index: $0, entries: 1) })
                cluster[1].transport.send((1...100 as ClosedRange<UInt64>).map { message(.msgHeartbeat, from: 2, to: 1, term: $0) })
                try await cluster[1].raft.wait { $0.received.count == 100 }
                try await cluster[0].raft.wait { $0.received.count == 100 }
                #expect(cluster[1].raft.record.received.map(\.index) == Array(1...100))
                #expect(cluster[0].raft.record.received.map(\.term) == Array(1...100))
            }
        }
    }

    @Test("a member whose unixs:// peer does not listen is reported unreachable, and reaches it once it listens")
    func peerNotYetListening() async throws {
        try await ResourceGate.shared {
            let server = try TLSContext(configuration: certs.server(clientAuth: .require), role: .server)
            let client = try TLSContext(configuration: certs.client(), role: .client)
            let one = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000, serverTLS: server, clientTLS: client,
                                                        unixSocket: true)
            // The socket file of member 2 does not exist yet: dials fail with ENOENT and are retried.
            let number = freePort()
            try one.transport.addPeer(2, urls: ["unixs://localhost:\(number)"])
            try await eventually(.seconds(10), "stream dials to the missing socket fail") {
                (one.transport.statistics(peer: 2)?.failures ?? 0) >= 2
            }
            let two = try await TestCluster.startMember(id: 2, port: number, clusterID: 0x1000, serverTLS: server, clientTLS: client,
                                                        unixSocket: true)
            try two.transport.addPeer(1, urls: [one.url])
            try await eventually(.seconds(10), "streams up both ways") {
                [(one, UInt64(2)), (two, UInt64(1))].allSatisfy { member, peer in
                    let s = member.transport.statistics(peer: peer)
                    return s?.isActive == true && s?.msgAppStreamAttached == true && s?.messageStreamAttached == true
                }
            }
            await one.stop()
            await two.stop()
        }
    }
}
