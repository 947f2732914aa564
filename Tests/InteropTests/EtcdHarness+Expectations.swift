// What every interop test checks of our member in a running cluster, whatever the etcd releases:
// the streams, the leader's traffic, the answers reaching the leader.
import Logging
import RaftHTTPPeer
import Testing
import TestSupport

extension EtcdHarness {
    /// Streams up both ways with a and b (step 1): etcd's metric for our ID, our active peers, our
    /// writers attached, our readers established for both types.
    func expectStreamsUp(_ member: PeerMember, _ logs: CapturingLogHandler.Store) async throws {
        let harness = self
        let ours = member.memberID.description
        let ids = try harness.etcdIDs()
        for i in 0..<2 {
            try await eventually("etcd \(harness.names[i]) reports our member \(ours) active", harness: harness) {
                try await harness.metric(i, #"etcd_network_active_peers{Local="\#(ids[i])",Remote="\#(ours)"}"#) == 1
            }
        }
        try await eventually("our member has both etcd members active with all four streams", harness: harness) {
            member.transport.activePeers == 2 && ids.allSatisfy { id in
                let s = member.transport.statistics(peer: id.rawValue)
                return s?.msgAppStreamAttached == true && s?.messageStreamAttached == true
            }
        }
        for id in ids {
            let established = logs.lines.filter {
                $0.message == "established TCP streaming connection with remote peer" && $0.metadata["remote-peer-id"] == id.description
            }
            for type in ["stream MsgApp v2", "stream Message"] {
                #expect(established.contains { $0.metadata["stream-reader-type"] == type }, "our \(type) reader from \(id)")
                #expect(established.contains { $0.metadata["stream-writer-type"] == type }, "our \(type) writer to \(id)")
            }
        }
    }

    /// The leader's heartbeats and appends reach our raft with the leader's term and commit, and
    /// our answers reach the leader (step 2).
    func expectLeaderTraffic(_ member: PeerMember) async throws {
        let harness = self
        try await harness.put("interop", "hello")
        var status = try await harness.status()
        try await eventually("a heartbeat and an append from the leader with its term and commit", harness: harness) {
            status = try await harness.status()
            let seen = member.raft.observations
            guard let heartbeat = seen.lastHeartbeat, let append = seen.lastAppend else { return false }
            return heartbeat.from == status.leader && append.from == status.leader && heartbeat.term == status.term
                && append.term == status.term && append.commit == status.index
        }
        let seen = member.raft.observations
        let heartbeat = try #require(seen.lastHeartbeat)
        let append = try #require(seen.lastAppend)
        #expect(heartbeat.to == member.memberID.rawValue && append.to == member.memberID.rawValue)
        // raft sends a follower min(its match index, committed): we hold no log, so 0.
        #expect(heartbeat.commit == 0)
        #expect(append.type == .msgApp && append.commit > 0)
        #expect(seen.answersByType[.msgHeartbeatResp, default: 0] > 0)
        #expect(seen.answersByType[.msgAppResp, default: 0] > 0)

        let leader = try harness.index(of: status.leader)
        let series = #"etcd_network_peer_received_bytes_total{From="\#(member.memberID)"}"#
        let before = try await harness.metric(leader, series) ?? 0
        try await eventually("the leader receives more bytes from us (\(series) > \(before))", harness: harness) {
            (try await harness.metric(leader, series) ?? 0) > before
        }
    }
}
