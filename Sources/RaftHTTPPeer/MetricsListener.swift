// etcd's `--listen-metrics-urls`: plain-HTTP listeners that serve only `GET /metrics`, the
// Prometheus text exposition of a registry, on a loop of their own. `rafthttp peer` serves the
// same route on its peer port too; `rafthttp bench` and `bench-follower` have only these.
import PeerHTTP
import Prometheus
import RaftHTTP
import RaftIO

/// Listeners serving `GET /metrics` from a Prometheus registry on each of a list of `http` URLs.
///
/// Start it with ``start(urls:registry:)``; it runs on an event loop of its own, so a scrape
/// never waits behind the transport's work. Stop it with ``stop()``.
public final class MetricsListener: Sendable {
    // MARK: immutable, any thread
    /// The ports bound, one per URL in the order given (useful when a URL asks for port 0).
    public let ports: [Int]
    private let server: HTTPServer
    private let group: EventLoopGroup

    private init(ports: [Int], server: HTTPServer, group: EventLoopGroup) {
        self.ports = ports
        self.server = server
        self.group = group
    }

    /// Listens on every URL of `urls` and serves `registry` at `/metrics` on each; any other path
    /// answers 404.
    /// - Throws: ``PeerMemberError`` `invalid --listen-metrics-urls` for an `https` URL (as for
    ///   `rafthttp peer`, metrics are plain HTTP), or `cannot listen on <url>` when a port is taken.
    ///   Nothing is left listening when it throws.
    public static func start(urls: [PeerURL], registry: PrometheusCollectorRegistry) async throws(PeerMemberError) -> MetricsListener {
        if let bad = urls.first(where: \.isTLS) { throw .invalidFlag("--listen-metrics-urls", "\(bad) must be http") }
        let group: EventLoopGroup
        do { group = try EventLoopGroup(loopCount: 1) } catch { throw .listen(urls.first?.description ?? "", "\(error)") }
        let server = HTTPServer()
        MemberRoutes.registerMetrics(on: server, registry: registry)
        var ports: [Int] = []
        for url in urls {
            do {
                ports.append(try await server.start(host: url.host, port: Int(url.port), on: group.next()))
            } catch {
                await server.shutdown(deadline: .zero)
                group.shutdown()
                throw .listen(url.description, "\(error)")
            }
        }
        return MetricsListener(ports: ports, server: server, group: group)
    }

    /// Closes the listeners and their connections and stops the loop. Call once.
    public func stop() async {
        await server.shutdown(deadline: .milliseconds(200))
        group.shutdown()
    }
}
