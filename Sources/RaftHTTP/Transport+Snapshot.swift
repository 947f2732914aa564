// POST /raft/snapshot: the route and the checks before a transfer starts (etcd's
// `snapshotHandler`, spec 1.8, 4.3). The transfer itself is SnapshotReceiver.swift's.
import HTTPTypes
import PeerHTTP
import RaftIO
import RaftPB

extension Transport {
    /// Mounts POST /raft/snapshot, with no body limit (the database size is unbounded, spec 1.13)
    /// and no fixed read deadline (the receiver's is progress-based).
    func registerSnapshotRoute(on server: HTTPServer) {
        server.route(.post, Wire.Path.snapshot, bodyLimit: SnapshotReceiver.bodyLimit) { [self] request, response in
            serveSnapshot(request, response)
        }
    }

    private func serveSnapshot(_ request: HTTPServerRequest, _ response: HTTPResponseWriter) {
        var fields = HTTPFields()
        fields[wire: Wire.Header.clusterID] = MemberID(context.configuration.clusterID).description
        if let refusal = checkCluster(request) {
            context.metrics.receiveFailure(fromLabel: SnapshotReceiver.unknownSender)
            fields[.connection] = "close"
            return Self.answer(response, refusal, headers: fields)
        }
        addRemoteFromRequest(request)
        SnapshotReceiver(context: context, request: request, response: response, fields: fields).start()
    }
}
