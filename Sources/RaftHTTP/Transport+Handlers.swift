// The peer routes etcd serves (spec 1.4, 1.7, 1.9), on a PeerHTTP server, beside the user's own.
//
// Stream (GET /raft/stream/<type>/<from>), checked in etcd's order: method -> version ->
// cluster ID -> path -> from -> removed member (410) -> known peer (else add it as a remote and
// answer 404) -> X-Raft-To -> 200, headers flushed at once, and the peer's stream writer owns the
// response until the connection closes.
// Pipeline (POST /raft): method -> cluster ID header set -> version -> cluster ID -> add the
// sender as a remote -> read the body -> decode -> raft.process -> 204 (403 JSON for a removed
// member, 500 for any other error).
// Probing (any method, /raft/probing): 200 {"OK":true,"Now":"<RFC 3339 nano>"}.
import HTTPTypes
import PeerHTTP
import RaftIO
import RaftPB

extension Transport {
    /// Serves the raft routes (`/raft`, `/raft/stream/`, `/raft/probing` and `/raft/snapshot`; see
    /// ``Configuration/snapshotSink``) on `server`, beside any routes of the user's own.
    /// Call before the server starts accepting.
    public func registerRoutes(on server: HTTPServer) {
        let context = self.context
        // The server keeps the transport alive through these routes (strong captures: a weakly
        // referenced transport would take the slow reference-counting path on every send).
        server.route(.get, Wire.Path.streamPrefix) { [self] request, response in
            serveStream(request, response)
        }
        server.route(.post, Wire.Path.pipeline, bodyLimit: context.configuration.maxMessageSize) { [self] request, response in
            servePipeline(request, response)
        }
        for method in [HTTPRequest.Method.get, .head, .post, .put, .delete] {
            server.route(method, Wire.Path.probing) { _, response in
                var fields = HTTPFields()
                fields[.contentType] = Wire.ContentType.plainText
                response.respond(HTTPResponse(status: .ok, headerFields: fields),
                                 body: Probing.Response(now: .now()).encoded())
            }
        }
        registerSnapshotRoute(on: server)
    }

    static func answer(_ response: HTTPResponseWriter, _ error: Wire.ErrorResponse, headers: HTTPFields = [:]) {
        var fields = headers
        fields[.contentType] = error.contentType
        fields[wire: Wire.Header.contentTypeOptions] = "nosniff"
        response.respond(HTTPResponse(status: .init(code: error.status), headerFields: fields), body: Array(error.body.utf8))
    }

    /// The version and cluster checks both raft routes make (spec 1.4 steps 3-4, 1.7 step 3);
    /// nil when the request passes.
    func checkCluster(_ request: HTTPServerRequest) -> Wire.ErrorResponse? {
        let headers = request.head.headers
        if let refusal = VersionCompatibility.check(serverVersion: headers[Wire.Header.serverVersion],
                                                    minClusterVersion: headers[Wire.Header.minClusterVersion],
                                                    localServer: context.localServer, localMinCluster: context.localMinCluster) {
            context.rateLimitedWarning(key: "version-\(headers[Wire.Header.serverFrom] ?? "")",
                                       "request sent was ignored by remote peer due to server version incompatibility",
                                       metadata: ["remote-peer-id": "\(headers[Wire.Header.serverFrom] ?? "")", "error": "\(refusal)"])
            return .incompatibleVersion
        }
        let local = context.clusterIDText
        let remote = headers[Wire.Header.clusterID]
        if remote != local {
            context.rateLimitedWarning(key: "cluster-\(headers[Wire.Header.serverFrom] ?? "")",
                                       "request sent was ignored due to cluster ID mismatch",
                                       metadata: ["remote-peer-id": "\(headers[Wire.Header.serverFrom] ?? "")",
                                                  "remote-peer-cluster-id": "\(remote ?? "")", "local-member-cluster-id": "\(local)"])
            return .clusterIDMismatch
        }
        return nil
    }

    func addRemoteFromRequest(_ request: HTTPServerRequest) {
        let headers = request.head.headers
        guard let fromText = headers[Wire.Header.serverFrom], let from = MemberID(hex: fromText),
              let urls = headers[Wire.Header.peerURLs] else { return }
        learnRemote(from.rawValue, urls: urls.split(separator: ",").map(String.init))
    }

    // MARK: - streams

    private func serveStream(_ request: HTTPServerRequest, _ response: HTTPResponseWriter) {
        var fields = HTTPFields()
        fields[wire: Wire.Header.serverVersion] = context.configuration.serverVersion
        fields[wire: Wire.Header.clusterID] = MemberID(context.configuration.clusterID).description
        if let refusal = checkCluster(request) { return Self.answer(response, refusal, headers: fields) }
        guard let (type, fromText) = StreamType.parse(path: String(request.path)) else {
            return Self.answer(response, .invalidPath, headers: fields)
        }
        guard let from = MemberID(hex: fromText)?.rawValue else {
            return Self.answer(response, .invalidFrom, headers: fields)
        }
        if context.raft.isIDRemoved(from) {
            context.rateLimitedWarning(key: "removed-\(from)", "rejected stream from remote peer because it was removed",
                                       metadata: ["remote-peer-id": "\(MemberID(from))"])
            return Self.answer(response, .removedMember, headers: fields)
        }
        guard let peer = context.peers.withLock({ $0[from] }) else {
            addRemoteFromRequest(request)
            context.rateLimitedWarning(key: "unknown-\(from)", "failed to find remote peer in cluster",
                                       metadata: ["remote-peer-id-stream-handler": "\(MemberID(from))"])
            return Self.answer(response, .senderNotFound, headers: fields)
        }
        let to = request.head.headers[Wire.Header.raftTo]
        guard to == MemberID(context.configuration.localID).description else {
            context.rateLimitedWarning(key: "to-\(from)", "ignored streaming request; ID mismatch",
                                       metadata: ["remote-peer-id-header": "\(to ?? "")", "remote-peer-id-stream-handler": "\(MemberID(from))"])
            return Self.answer(response, .toFieldMismatch, headers: fields)
        }
        guard response.writeHead(HTTPResponse(status: .ok, headerFields: fields), body: .chunked) else { return }
        let writer = type == .msgAppV2 ? peer.msgAppWriter : peer.messageWriter
        if writer.attach(response) { peer.status.activate() }
    }

    // MARK: - pipeline

    private func servePipeline(_ request: HTTPServerRequest, _ response: HTTPResponseWriter) {
        var fields = HTTPFields()
        fields[wire: Wire.Header.clusterID] = MemberID(context.configuration.clusterID).description
        if let refusal = checkCluster(request) { return Self.answer(response, refusal, headers: fields) }
        addRemoteFromRequest(request)
        let context = self.context
        let from = request.head.headers[Wire.Header.serverFrom].flatMap { MemberID(hex: $0) }
        request.collect(limit: context.configuration.maxMessageSize) { result in
            guard case .success(let body) = result else {
                return Self.answer(response, .errorReadingMessage, headers: fields)
            }
            let message: Message
            do {
                message = try Message(decoding: body)
            } catch {
                context.logger.warning("failed to unmarshal raft message", metadata: ["error": "\(error)"])
                if let from { context.metrics.receiveFailure(fromLabel: from.description) }
                return Self.answer(response, .errorUnmarshallingMessage, headers: fields)
            }
            if let from, let peer = context.peers.withLock({ $0[from.rawValue] }) {
                peer.recordReceived(bytes: body.count)
                peer.recordReceived(messages: 1)
            }
            do {
                try context.raft.process(message)
            } catch {
                context.logger.warning("failed to process raft message", metadata: ["error": "\(error)"])
                return Self.answer(response, .pipelineAnswer(toProcessError: error), headers: fields)
            }
            response.respond(HTTPResponse(status: .noContent, headerFields: fields), body: [])
        }
    }
}
