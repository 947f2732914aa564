@testable import RaftHTTPPeer
import RaftHTTP
import RaftPB
import Testing

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

@Suite("etcd member and cluster IDs")
struct MemberIDEtcdTests {
    @Test("SHA-1 matches the FIPS 180 test vectors")
    func sha1Vectors() {
        #expect(hex(SHA1.hash(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(SHA1.hash([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(hex(SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(hex(SHA1.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
            == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        // 55, 56 and 64 bytes: the padding boundaries.
        #expect(hex(SHA1.hash([UInt8](repeating: 0x61, count: 55))) == "c1c8bbdc22796e28c0e15163d20899b65621d65a")
        #expect(hex(SHA1.hash([UInt8](repeating: 0x61, count: 56))) == "c2db330f6083854c99d4b5bfb6e8f29f201be699")
        #expect(hex(SHA1.hash([UInt8](repeating: 0x61, count: 64))) == "0098ba824b5c16427bd7a1122a5a442a25ec644d")
    }

    @Test("etcd's default single-member cluster: member 8e9e05c52164694d, cluster cdf818194e3a8c32")
    func defaultCluster() throws {
        let member = MemberID.etcdMemberID(peerURLs: [try PeerURL(parsing: "http://localhost:2380")],
                                           clusterToken: "etcd-cluster")
        #expect(member.description == "8e9e05c52164694d")
        #expect(MemberID.etcdClusterID(memberIDs: [member]).description == "cdf818194e3a8c32")
    }

    // Checked with `etcdctl member list -w json` against Debian's etcd 3.4.23, started as
    //   etcd --name {a,b,c} --initial-cluster a=http://127.0.0.1:24801,b=http://127.0.0.1:24802,c=http://127.0.0.1:24803
    //        --initial-cluster-token swift-rafthttp-test --initial-cluster-state new
    // which printed cluster_id 5680842964246755039 (4ed66893dcb476df).
    @Test("a three-member static cluster gets the IDs etcdctl member list printed")
    func threeMembers() throws {
        let expected: [(String, String)] = [
            ("http://127.0.0.1:24801", "de2c5480d024b62"),
            ("http://127.0.0.1:24802", "4b0a7ba0bc3d499c"),
            ("http://127.0.0.1:24803", "107eda58680419d5"),
        ]
        var ids: [MemberID] = []
        for (url, id) in expected {
            let member = MemberID.etcdMemberID(peerURLs: [try PeerURL(parsing: url)], clusterToken: "swift-rafthttp-test")
            #expect(member.description == id, "\(url)")
            ids.append(member)
        }
        #expect(MemberID.etcdClusterID(memberIDs: ids).description == "4ed66893dcb476df")
        #expect(MemberID.etcdClusterID(memberIDs: ids.reversed()).description == "4ed66893dcb476df")
    }

    // etcd --name m --initial-cluster m=http://127.0.0.1:24812,m=http://127.0.0.1:24811
    //      --initial-cluster-token multi-url → member 4b71f3b543f6cde8, cluster c3539eff9792c295.
    @Test("a member with two peer URLs hashes them sorted, whatever order they were given in")
    func twoURLs() throws {
        let urls = [try PeerURL(parsing: "http://127.0.0.1:24812"), try PeerURL(parsing: "http://127.0.0.1:24811")]
        let member = MemberID.etcdMemberID(peerURLs: urls, clusterToken: "multi-url")
        #expect(member.description == "4b71f3b543f6cde8")
        #expect(MemberID.etcdMemberID(peerURLs: urls.reversed(), clusterToken: "multi-url") == member)
        #expect(MemberID.etcdClusterID(memberIDs: [member]).description == "c3539eff9792c295")
    }

    @Test("the spec's example: http://127.0.0.1:23803 with token tok is 80af5d65a6e2f603")
    func specExample() throws {
        let member = MemberID.etcdMemberID(peerURLs: [try PeerURL(parsing: "http://127.0.0.1:23803")], clusterToken: "tok")
        #expect(member.description == "80af5d65a6e2f603")
    }

    @Test("a member added at runtime also hashes the time of its addition")
    func addedLater() throws {
        let urls = [try PeerURL(parsing: "http://localhost:2380")]
        let static_ = MemberID.etcdMemberID(peerURLs: urls, clusterToken: "etcd-cluster")
        let added = MemberID.etcdMemberID(peerURLs: urls, clusterToken: "etcd-cluster", addedAt: 1_700_000_000)
        #expect(added != static_)
        // The time goes in as decimal text after the token.
        let digest = SHA1.hash(Array("http://localhost:2380etcd-cluster1700000000".utf8))
        #expect(added.rawValue == digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
    }
}
