// etcd's static bootstrap configuration: `--initial-cluster name=url,name=url2,...` and
// `--initial-cluster-token`, and the member and cluster IDs etcd derives from them
// (`etcdserver/api/membership/cluster.go: NewClusterFromURLsMap`, spec 5). A Swift member given the
// same flags as its etcd peers computes the same IDs without asking anyone.
import RaftHTTP
import RaftPB

/// The members of a statically configured etcd cluster, as `--initial-cluster` lists them.
///
/// A name may appear several times: each occurrence adds a URL to that member
/// (`a=http://10.0.0.1:2380,a=http://10.0.0.2:2380`), as etcd's `types.NewURLsMap` reads it.
public struct InitialCluster: Sendable, Hashable {
    /// One member: its name, its sorted peer URLs and the ID etcd derives from them.
    public struct Member: Sendable, Hashable {
        /// The `--name` of the member.
        public var name: String
        /// Its peer URLs, sorted as etcd sorts them.
        public var peerURLs: [PeerURL]
        /// The member ID: SHA-1 over the sorted URLs and the cluster token.
        public var id: MemberID
    }

    /// The members, sorted by ID (the order etcd lists them in).
    public let members: [Member]
    /// The cluster ID: SHA-1 over the sorted member IDs.
    public let clusterID: MemberID
    /// The token the IDs were computed with.
    public let token: String

    /// Parses `--initial-cluster` text and computes every ID with `token`.
    ///
    /// - Throws: ``PeerMemberError`` for an entry that is not `name=url`, an invalid URL, a URL
    ///   given to two members, or an empty list.
    public init(parsing text: String, token: String) throws(PeerMemberError) {
        var order: [String] = []
        var urls: [String: [PeerURL]] = [:]
        for entry in text.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw .invalidFlag("--initial-cluster", "\(entry) is not name=url")
            }
            let name = String(parts[0])
            let url: PeerURL
            do { url = try PeerURL(parsing: parts[1]) } catch { throw .invalidFlag("--initial-cluster", "\(error)") }
            if urls[name] == nil { order.append(name) }
            urls[name, default: []].append(url)
        }
        guard !order.isEmpty else { throw .invalidFlag("--initial-cluster", "no members given") }
        var seen: Set<PeerURL> = []
        var members: [Member] = []
        for name in order {
            let sorted = (urls[name] ?? []).sorted()
            for url in sorted where !seen.insert(url).inserted {
                throw .invalidFlag("--initial-cluster", "\(url) is given to more than one member")
            }
            members.append(Member(name: name, peerURLs: sorted,
                                  id: MemberID.etcdMemberID(peerURLs: sorted, clusterToken: token)))
        }
        self.members = members.sorted { $0.id < $1.id }
        self.clusterID = MemberID.etcdClusterID(memberIDs: members.map(\.id))
        self.token = token
    }

    /// The member called `name`, if the cluster lists one.
    public func member(named name: String) -> Member? {
        members.first { $0.name == name }
    }
}
