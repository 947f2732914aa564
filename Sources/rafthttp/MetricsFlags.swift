import ArgumentParser
import Metrics
import Prometheus
import RaftHTTP
import RaftHTTPPeer

/// etcd's `--listen-metrics-urls` for the bench commands: while the command runs, plain-HTTP
/// listeners serve `GET /metrics` with the transport's metrics under etcd's names.
struct MetricsFlags: ParsableArguments {
    @Option(name: .customLong("listen-metrics-urls"),
            help: "Plain-HTTP URLs serving GET /metrics (Prometheus text) while this runs, comma-separated. The transport records metrics only when given (a small cost per message).")
    var listenMetricsURLs = ""

    func validate() throws {
        _ = try urls()
    }

    /// The URLs given; empty when none is.
    func urls() throws(ValidationError) -> [PeerURL] {
        guard !listenMetricsURLs.isEmpty else { return [] }
        let urls: [PeerURL]
        do {
            urls = try PeerURL.parseList(listenMetricsURLs.split(separator: ",").map(String.init))
        } catch {
            throw ValidationError("invalid --listen-metrics-urls: \(error)")
        }
        if let bad = urls.first(where: \.isTLS) { throw ValidationError("invalid --listen-metrics-urls: \(bad) must be http") }
        return urls
    }

    /// With URLs: bootstraps the process's metrics into a Prometheus registry and serves it on
    /// each URL. Nil when none is given (the metrics stay off). Call once per process.
    /// - Throws: ``PeerMemberError`` when a URL cannot be listened on (a port in use).
    func start() async throws -> MetricsListener? {
        let urls = try urls()
        guard !urls.isEmpty else { return nil }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return try await MetricsListener.start(urls: urls, registry: registry)
    }
}
