// The routes of an etcd peer port that are not rafthttp's, which etcd members call on each other
// (etcd 3.5: `server/etcdserver/api/etcdhttp/peer.go`, `base.go`; 3.4: `etcdserver/api/etcdhttp`;
// spec 1.16, 4.5):
// - GET /version every 4 s (the leader, to decide the cluster version; a joining member, to check
//   it may join): `{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}`, application/json, no trailing
//   newline. `etcdserver` is our configured server version; `etcdcluster` the leader's cluster
//   version (ClusterVersionFollower), "not_decided" until learned.
// - GET /members at bootstrap (`isMemberBootstrapped`): a JSON array of the members, sorted by ID,
//   `{"id":<decimal>,"peerURLs":[...],"name":"..."}` (clientURLs left out while unknown, as etcd
//   leaves them out of a member that has not published its attributes), `json.Encoder` output
//   with its trailing newline, and the `X-Etcd-Cluster-Id` header. 3.4 and 3.5 agree.
// - The routes 3.5 added, refused as etcd refuses them: MemberRoutes+Etcd35.swift.
// - GET /metrics: the Prometheus text exposition of our registry (etcd serves it on the client
//   port; we have none, so the peer port and `--listen-metrics-urls` serve it).
// Any other method on these paths: 405 with `Allow: GET`, as Go's handlers answer.
import HTTPTypes
import PeerHTTP
import Prometheus
import RaftHTTP
import RaftPB

enum MemberRoutes {
    static let versionPath = "/version"
    static let membersPath = "/members"
    static let metricsPath = "/metrics"
    static let clusterIDField = HTTPField.Name("X-Etcd-Cluster-Id")
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")
    static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"
    /// Go's `http.Error` content type.
    static let plainText = "text/plain; charset=utf-8"

    /// The `/version` body: `version.Versions` as `json.Marshal` writes it.
    static func versionBody(server: String, cluster: String) -> String {
        #"{"etcdserver":"\#(jsonEscaped(server))","etcdcluster":"\#(jsonEscaped(cluster))"}"#
    }

    /// The `/members` body for `cluster`.
    static func membersBody(_ cluster: InitialCluster) -> String {
        let members = cluster.members.map { m in
            let urls = m.peerURLs.map { "\"\(jsonEscaped($0.description))\"" }.joined(separator: ",")
            return #"{"id":\#(m.id.rawValue),"peerURLs":[\#(urls)],"name":"\#(jsonEscaped(m.name))"}"#
        }
        return "[" + members.joined(separator: ",") + "]\n"
    }

    /// What the routes answer from: the cluster, our server version, the cluster version now.
    struct Context: Sendable {
        var cluster: InitialCluster
        var serverVersion: String
        var clusterVersion: @Sendable () -> String
    }

    static func register(on server: HTTPServer, context: Context, metrics: PrometheusCollectorRegistry?, metricsOnly: Bool = false) {
        if let metrics { registerMetrics(on: server, registry: metrics) }
        guard !metricsOnly else { return }
        only(.get, on: server, versionPath) { _, response in
            let body = versionBody(server: context.serverVersion, cluster: context.clusterVersion())
            respond(response, .ok, contentType: "application/json", body: Array(body.utf8))
        }
        let members = Array(membersBody(context.cluster).utf8)
        let clusterID = context.cluster.clusterID.description
        only(.get, on: server, membersPath) { _, response in
            respond(response, .ok, contentType: "application/json", body: members, clusterID: clusterID)
        }
        registerEtcd35Routes(on: server, context: context)
    }

    /// `GET /metrics` alone: the text exposition of `registry`.
    static func registerMetrics(on server: HTTPServer, registry: PrometheusCollectorRegistry) {
        only(.get, on: server, metricsPath) { _, response in
            respond(response, .ok, contentType: prometheusContentType, body: registry.emitToBuffer())
        }
    }

    /// Routes `method` on `path` to `body`; every other method gets Go's `allowMethod` answer:
    /// 405, `Allow: <method>`, "Method Not Allowed". `allowHeader` false: the answer of handlers
    /// that check the method without setting `Allow` (leasehttp).
    static func only(_ method: HTTPRequest.Method, on server: HTTPServer, _ path: String, allowHeader: Bool = true,
                     _ body: @escaping @Sendable (HTTPServerRequest, HTTPResponseWriter) -> Void) {
        server.route(method, path, body)
        for other in [HTTPRequest.Method.get, .post, .put, .delete, .patch] where other != method {
            server.route(other, path) { _, response in
                refuse(response, .methodNotAllowed, "Method Not Allowed", allow: allowHeader ? method.rawValue : nil)
            }
        }
    }

    static func respond(_ response: HTTPResponseWriter, _ status: HTTPResponse.Status, contentType: String,
                        body: [UInt8], clusterID: String? = nil) {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        if let clusterID, let name = clusterIDField { fields[name] = clusterID }
        response.respond(HTTPResponse(status: status, headerFields: fields), body: body)
    }

    /// Go's `http.Error(w, text, status)`: plain text with a newline, `nosniff`, plus the headers
    /// the handler set before it (`Allow`, `X-Etcd-Cluster-ID`).
    static func refuse(_ response: HTTPResponseWriter, _ status: HTTPResponse.Status, _ text: String,
                       allow: String? = nil, clusterID: String? = nil) {
        var fields = HTTPFields()
        if let allow { fields[.allow] = allow }
        if let clusterID, let name = clusterIDField { fields[name] = clusterID }
        fields[.contentType] = plainText
        if let nosniff = contentTypeOptions { fields[nosniff] = "nosniff" }
        response.respond(HTTPResponse(status: status, headerFields: fields), body: Array((text + "\n").utf8))
    }

    static func jsonEscaped(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
