import Logging
import RaftHTTP
import RaftHTTPPeer
import RaftPB
import Testing

@Suite("The Swift member's configuration and observer, without etcd")
struct PeerMemberUnitTests {
    @Test("--initial-cluster gives etcd's IDs (checked against etcdctl member list of 3.4.23)")
    func initialClusterIDs() throws {
        let cluster = try InitialCluster(
            parsing: "a=http://127.0.0.1:23801,b=http://127.0.0.1:23802,s=http://127.0.0.1:23803", token: "tok")
        #expect(cluster.member(named: "s")?.id.description == "80af5d65a6e2f603")
        #expect(cluster.clusterID.description == "64d937c925e41b58")
        #expect(cluster.members.map(\.id) == cluster.members.map(\.id).sorted())
    }

    @Test("a name given twice gets both URLs, sorted; bad entries name the flag")
    func initialClusterParsing() throws {
        let cluster = try InitialCluster(parsing: "a=http://127.0.0.2:2380,a=http://127.0.0.1:2380", token: "t")
        #expect(cluster.members.count == 1)
        #expect(cluster.members[0].peerURLs.map(\.description) == ["http://127.0.0.1:2380", "http://127.0.0.2:2380"])
        #expect(throws: PeerMemberError.invalidFlag("--initial-cluster", "a is not name=url")) {
            try InitialCluster(parsing: "a", token: "t")
        }
        let two = try InitialCluster(parsing: "a=http://127.0.0.1:1,b=http://127.0.0.1:2", token: "t")
        #expect(throws: PeerMemberError.self) {
            try PeerMember.Configuration(name: "c", initialCluster: two, listenPeerURLs: [try PeerURL(parsing: "http://127.0.0.1:3")],
                                         advertisePeerURLs: [try PeerURL(parsing: "http://127.0.0.1:3")], raftRole: .observer)
        }
        #expect(throws: PeerMemberError.self) {
            try PeerMember.Configuration(name: "a", initialCluster: two, listenPeerURLs: [try PeerURL(parsing: "http://127.0.0.1:1")],
                                         advertisePeerURLs: [try PeerURL(parsing: "http://127.0.0.1:9")], raftRole: .observer)
        }
    }

    @Test("the learned-remote bounds: defaults as the transport's, carried to the configuration; bad values name their flag")
    func learnedRemoteFlags() throws {
        let one = try InitialCluster(parsing: "a=http://127.0.0.1:1", token: "t")
        let url = [try PeerURL(parsing: "http://127.0.0.1:1")]
        let defaults = try PeerMember.Configuration(name: "a", initialCluster: one, listenPeerURLs: url, advertisePeerURLs: url, raftRole: .observer)
        let transport = Transport.Configuration(localID: 1, clusterID: 1, localURLs: [])
        #expect(defaults.maxLearnedRemotes == transport.maxLearnedRemotes)
        #expect(defaults.learnedRemoteIdleTimeout == transport.learnedRemoteIdleTimeout)
        #expect(defaults.learnedRemoteDialBurst == transport.learnedRemoteDialBurst)
        #expect(defaults.learnedRemoteDialsPerSecond == transport.learnedRemoteDialsPerSecond)
        let set = try PeerMember.Configuration(name: "a", initialCluster: one, listenPeerURLs: url, advertisePeerURLs: url,
                                               maxLearnedRemotes: 3, learnedRemoteIdleTimeout: nil,
                                               learnedRemoteDialBurst: 0, learnedRemoteDialsPerSecond: 0.5, raftRole: .observer)
        #expect(set.maxLearnedRemotes == 3 && set.learnedRemoteIdleTimeout == nil)
        #expect(set.learnedRemoteDialBurst == 0 && set.learnedRemoteDialsPerSecond == 0.5)
        #expect(throws: PeerMemberError.invalidFlag("--peer-learned-remote-dial-burst", "must not be negative")) {
            try PeerMember.Configuration(name: "a", initialCluster: one, listenPeerURLs: url, advertisePeerURLs: url,
                                         learnedRemoteDialBurst: -1, raftRole: .observer)
        }
        #expect(throws: PeerMemberError.invalidFlag("--peer-learned-remote-dials-per-second", "must be a number, 0 or above")) {
            try PeerMember.Configuration(name: "a", initialCluster: one, listenPeerURLs: url, advertisePeerURLs: url,
                                         learnedRemoteDialsPerSecond: -.infinity, raftRole: .observer)
        }
        #expect(throws: PeerMemberError.invalidFlag("--peer-max-learned-remotes", "must not be negative")) {
            try PeerMember.Configuration(name: "a", initialCluster: one, listenPeerURLs: url, advertisePeerURLs: url,
                                         maxLearnedRemotes: -1, raftRole: .observer)
        }
    }

    @Test("the observer answers heartbeats, rejects appends above its hint, stays silent at it, and refuses votes")
    func observerAnswers() throws {
        let raft = ObserverRaft(localID: 3, logger: Logger(label: "test"))
        try raft.process(batch: [
            Message(type: .msgHeartbeat, to: 3, from: 1, term: 2, commit: 0, context: [7]),
            Message(type: .msgApp, to: 3, from: 1, term: 2, logTerm: 2, index: 9, commit: 9),
            Message(type: .msgApp, to: 3, from: 1, term: 2, index: 0, commit: 9),
            Message(type: .msgVote, to: 3, from: 2, term: 5),
            Message(type: .msgPreVote, to: 3, from: 2, term: 6),
        ])
        let seen = raft.observations
        #expect(seen.count(.msgApp) == 2 && seen.count(.msgHeartbeat) == 1)
        #expect(seen.answersByType == [.msgHeartbeatResp: 1, .msgAppResp: 1, .msgVoteResp: 1, .msgPreVoteResp: 1])
        #expect(seen.lastHeartbeat?.context == [7])
        #expect(seen.lastAppend?.commit == 9)
        #expect(seen.term == 5) // a vote moves the term, a pre-vote does not
    }
}
