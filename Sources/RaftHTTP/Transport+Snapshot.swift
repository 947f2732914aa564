import PeerHTTP

extension Transport {
    /// Mounts POST /raft/snapshot. (The snapshot receiver lands with the snapshot work.)
    func registerSnapshotRoute(on server: HTTPServer) {}
}
