@testable import RaftHTTP
import RaftPB
import Testing

@Suite("RaftHTTPError texts and context")
struct RaftHTTPErrorTests {
    let peer: UInt64 = 0x8e9e05c52164694d
    let url = "http://127.0.0.1:2380"

    @Test("member removed says etcd's sentence and who said so")
    func memberRemoved() {
        let error = RaftHTTPError.memberRemoved(peer: peer, url: url, status: 410)
        #expect(error.code == .memberRemoved)
        #expect(error.peer == MemberID(peer))
        #expect(error.status == 410)
        #expect(error.description == "the member has been permanently removed from the cluster "
            + "(peer 8e9e05c52164694d at http://127.0.0.1:2380 answered 410)")
    }

    @Test("cluster ID mismatch names both IDs")
    func clusterIDMismatch() {
        let error = RaftHTTPError.clusterIDMismatch(peer: peer, url: url, local: 0x64d937c925e41b58, remote: "1")
        #expect(error.code == .clusterIDMismatch)
        #expect(error.status == 412)
        #expect(error.url == url)
        #expect(error.description == "peer 8e9e05c52164694d at http://127.0.0.1:2380 rejected the request: "
            + "cluster ID mismatch (local 64d937c925e41b58, remote 1)")
        #expect(RaftHTTPError.clusterIDMismatch(peer: 1, url: nil, local: 2, remote: nil).description
            == "peer 1 rejected the request: cluster ID mismatch (local 2, remote unknown)")
    }

    @Test("incompatible version names both versions")
    func incompatibleVersion() {
        let error = RaftHTTPError.incompatibleVersion(peer: peer, url: url, localVersion: "3.4.23", localMinCluster: "3.0.0",
                                                      remoteVersion: "2.0.0")
        #expect(error.code == .incompatibleVersion)
        #expect(error.description == "peer 8e9e05c52164694d at http://127.0.0.1:2380 rejected the request: "
            + "incompatible version (local 3.4.23 min cluster 3.0.0, remote 2.0.0)")
    }

    @Test("the other refusals read as a person can act on them")
    func others() {
        #expect(RaftHTTPError.peerNotFound(peer: peer, url: url, local: 1).description
            == "peer 8e9e05c52164694d at http://127.0.0.1:2380 failed to find local member 1")
        #expect(RaftHTTPError.toMismatch(peer: 2, url: url).description
            == "peer 2 at http://127.0.0.1:2380 rejected the stream: to field mismatch (another member listens there)")
        #expect(RaftHTTPError.unsupportedStreamType(peer: 2, url: nil, stream: "stream Message", remoteVersion: "2.0.0")
            .description == "peer 2 runs etcd 2.0.0, which does not support stream Message")
        #expect(RaftHTTPError.unexpectedStatus(peer: 2, url: url + "/raft", status: 500, what: "posting to",
                                               body: "error processing raft message\n").description
            == "unexpected http status 500 while posting to peer 2 at http://127.0.0.1:2380/raft: error processing raft message")
        #expect(RaftHTTPError.snapshotShortRead(peer: 2, read: 10, expected: 20).description
            == "snapshot to peer 2 failed: the database ended after 10 of 20 bytes")
        #expect(RaftHTTPError.snapshotSizeMismatch(peer: 2, received: 30, expected: 20).description
            == "snapshot from peer 2 has 30 bytes, the message declared 20")
        #expect(RaftHTTPError.transportStopped().description == "transport stopped")
        #expect(RaftHTTPError.unknownPeer(0xabc).description == "member not found: no peer abc")
        #expect(RaftHTTPError.unknownPeer(0xabc).code == .unknownPeer)
    }

    @Test("codes compare equal across instances and print their names")
    func codes() {
        #expect(RaftHTTPError.transportStopped().code == .transportStopped)
        #expect(RaftHTTPError.transportStopped().code != .unknownPeer)
        #expect(RaftHTTPError.Code.memberRemoved.description == "member removed")
    }

    @Test("a 412 answer is classified by its body as etcd's reader does")
    func preconditionFailed() {
        func classify(_ body: String) -> RaftHTTPError {
            RaftHTTPError.preconditionFailed(peer: 2, url: "http://a:1", body: body,
                                             local: LocalIdentity(clusterID: 3, serverVersion: "3.4.99", minClusterVersion: "3.0.0"),
                                             remoteClusterID: "e28f31bbd863d8c8", remoteVersion: "3.4.23")
        }
        #expect(classify("cluster ID mismatch\n").code == .clusterIDMismatch)
        #expect(classify("cluster ID mismatch\n").description
            == "peer 2 at http://a:1 rejected the request: cluster ID mismatch (local 3, remote e28f31bbd863d8c8)")
        #expect(classify("incompatible version\n").code == .incompatibleVersion)
        // The versions we sent, from the configuration, not the library's defaults.
        #expect(classify("incompatible version\n").description
            == "peer 2 at http://a:1 rejected the request: incompatible version (local 3.4.99 min cluster 3.0.0, remote 3.4.23)")
        #expect(classify("to field mismatch\n").code == .toMismatch)
        #expect(classify("something else\n").code == .unexpectedStatus)
        #expect(classify("something else\n").status == 412)
    }
}
