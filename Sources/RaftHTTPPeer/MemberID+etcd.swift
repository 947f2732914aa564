// Member and cluster IDs of a statically bootstrapped etcd cluster, computed as etcd 3.4 computes
// them (`etcdserver/api/membership/member.go: newMember`, `cluster.go: genID`; spec 5), so that a
// Swift member configured with etcd's `--initial-cluster` and `--initial-cluster-token` knows its
// own ID and the cluster's without asking anyone.
//
// member ID = first 8 bytes, big-endian, of SHA-1(sorted peer URLs concatenated ‖ token [‖ time])
// cluster ID = first 8 bytes, big-endian, of SHA-1(member IDs sorted ascending, 8 bytes BE each)
import RaftHTTP
import RaftPB

extension MemberID {
    /// The ID etcd gives a member with `peerURLs` in a cluster bootstrapped with `clusterToken`
    /// (`--initial-cluster-token`, `etcd-cluster` by default).
    ///
    /// - Parameters:
    ///   - peerURLs: the member's peer URLs in any order; they are sorted as etcd sorts them.
    ///   - clusterToken: the initial cluster token.
    ///   - unixSeconds: `nil` for members of the initial (static) cluster. A member added later with
    ///     `member add` also hashes the Unix time (seconds) of the addition; pass it to reproduce
    ///     such an ID, which the member normally learns from the cluster instead.
    /// - Returns: the member ID, for example `8e9e05c52164694d` for `http://localhost:2380` with
    ///   token `etcd-cluster` (etcd's default single-member cluster).
    /// Pure function; any thread.
    public static func etcdMemberID(peerURLs: [PeerURL], clusterToken: String, addedAt unixSeconds: Int64? = nil) -> MemberID {
        var input: [UInt8] = []
        for url in peerURLs.sorted() { input += Array(url.description.utf8) }
        input += Array(clusterToken.utf8)
        if let unixSeconds { input += Array(String(unixSeconds).utf8) }
        return MemberID(rawValue: firstEightBytesBigEndian(SHA1.hash(input)))
    }

    /// The ID etcd gives a cluster whose initial members have `memberIDs` (in any order), for
    /// example `cdf818194e3a8c32` for etcd's default single-member cluster. Pure function; any thread.
    public static func etcdClusterID(memberIDs: [MemberID]) -> MemberID {
        var input: [UInt8] = []
        input.reserveCapacity(8 * memberIDs.count)
        for id in memberIDs.sorted() {
            for shift in stride(from: 56, through: 0, by: -8) { input.append(UInt8(truncatingIfNeeded: id.rawValue >> UInt64(shift))) }
        }
        return MemberID(rawValue: firstEightBytesBigEndian(SHA1.hash(input)))
    }

    private static func firstEightBytesBigEndian(_ digest: [UInt8]) -> UInt64 {
        digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
