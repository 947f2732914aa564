// The routes of an etcd peer port that are not rafthttp's (`etcdserver/api/etcdhttp/peer.go`,
// `version.go`; spec 1.16, 4.5), which etcd members call on each other:
// - GET /version every 4 s, to decide the cluster version:
//   `{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}`, application/json, no trailing newline.
// - GET /members at bootstrap (`isMemberBootstrapped`): a JSON array of the members, sorted by ID,
//   `{"id":<decimal>,"peerURLs":[...],"name":"..."}` (clientURLs left out while unknown, as etcd
//   leaves them out of a member that has not published its attributes), `json.Encoder` output
//   with its trailing newline, and the `X-Etcd-Cluster-Id` header.
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
    /// `version.Version` and the cluster version a 3.4 cluster settles on.
    static let versionBody = #"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#
    static let clusterIDField = HTTPField.Name("X-Etcd-Cluster-Id")
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")
    static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The `/members` body for `cluster`.
    static func membersBody(_ cluster: InitialCluster) -> String {
        let members = cluster.members.map { m in
            let urls = m.peerURLs.map { "\"\(jsonEscaped($0.description))\"" }.joined(separator: ",")
            return #"{"id":\#(m.id.rawValue),"peerURLs":[\#(urls)],"name":"\#(jsonEscaped(m.name))"}"#
        }
        return "[" + members.joined(separator: ",") + "]\n"
    }

    static func register(on server: HTTPServer, cluster: InitialCluster, metrics: PrometheusCollectorRegistry?, metricsOnly: Bool = false) {
        if let metrics { registerMetrics(on: server, registry: metrics) }
        guard !metricsOnly else { return }
        let version = Array(versionBody.utf8)
        get(server, versionPath) { response in
            respond(response, .ok, contentType: "application/json", body: version)
        }
        let members = Array(membersBody(cluster).utf8)
        let clusterID = cluster.clusterID.description
        get(server, membersPath) { response in
            respond(response, .ok, contentType: "application/json", body: members, clusterID: clusterID)
        }
    }

    /// `GET /metrics` alone: the text exposition of `registry`.
    static func registerMetrics(on server: HTTPServer, registry: PrometheusCollectorRegistry) {
        get(server, metricsPath) { response in
            respond(response, .ok, contentType: prometheusContentType, body: registry.emitToBuffer())
        }
    }

    private static func get(_ server: HTTPServer, _ path: String, _ body: @escaping @Sendable (HTTPResponseWriter) -> Void) {
        server.route(.get, path) { _, response in body(response) }
        for method in [HTTPRequest.Method.post, .put, .delete, .patch] {
            server.route(method, path) { _, response in
                var fields = HTTPFields()
                fields[.allow] = "GET"
                fields[.contentType] = "text/plain; charset=utf-8"
                if let nosniff = contentTypeOptions { fields[nosniff] = "nosniff" }
                response.respond(HTTPResponse(status: .methodNotAllowed, headerFields: fields), body: Array("Method Not Allowed\n".utf8))
            }
        }
    }

    private static func respond(_ response: HTTPResponseWriter, _ status: HTTPResponse.Status, contentType: String,
                                body: [UInt8], clusterID: String? = nil) {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        if let clusterID, let name = clusterIDField { fields[name] = clusterID }
        response.respond(HTTPResponse(status: status, headerFields: fields), body: body)
    }

    private static func jsonEscaped(_ s: String) -> String {
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
