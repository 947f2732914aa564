// Routes a request head to a handler by path pattern, then method, as Go's ServeMux does for etcd:
// a pattern ending in `/` matches every path under it (the longest such pattern wins), any other
// pattern matches its path exactly. No pattern matches → 404; a pattern matches but not the
// method → 405 with `Allow` listing the methods it has.

/// Handles requests on the event loop's thread, with no task hop.
///
/// `handle` is called on the loop thread of the request's connection as soon as the request head
/// has arrived, before any body byte. It must not block: read the body with
/// ``HTTPServerRequest/consume(onBody:onEnd:)`` or ``HTTPServerRequest/collect(limit:_:)`` and
/// answer through the ``HTTPResponseWriter``, now or later, from any thread. The server handles
/// the next request of the connection only after the response has ended.
public protocol HTTPHandler: Sendable {
    /// Starts answering `request`. Loop thread.
    func handle(_ request: HTTPServerRequest, _ response: HTTPResponseWriter)
}

/// A handler made of a closure.
struct ClosureHandler: HTTPHandler {
    let body: @Sendable (HTTPServerRequest, HTTPResponseWriter) -> Void
    func handle(_ request: HTTPServerRequest, _ response: HTTPResponseWriter) { body(request, response) }
}

/// The routing table; immutable once copied into a connection.
struct HTTPRouter: Sendable {
    struct Route: Sendable {
        let method: String
        let bodyLimit: Int
        let handler: any HTTPHandler
    }

    struct Pattern: Sendable {
        let path: String
        let isPrefix: Bool
        var routes: [Route]
    }

    enum Match {
        case handler(Route)
        case notFound
        case methodNotAllowed(allow: String)
    }

    private(set) var patterns: [Pattern] = []

    mutating func add(method: String, pattern: String, route: Route) {
        if let i = patterns.firstIndex(where: { $0.path == pattern }) {
            patterns[i].routes.removeAll { $0.method == method }
            patterns[i].routes.append(route)
        } else {
            patterns.append(Pattern(path: pattern, isPrefix: pattern.hasSuffix("/"), routes: [route]))
            // Longest first, so the first prefix that matches is the most specific.
            patterns.sort { $0.path.utf8.count > $1.path.utf8.count }
        }
    }

    func match(method: String, target: String) -> Match {
        let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
        for pattern in patterns {
            let matches = pattern.isPrefix ? path.hasPrefix(pattern.path) : path == pattern.path
            guard matches else { continue }
            for route in pattern.routes where route.method == method { return .handler(route) }
            if method == "HEAD", let get = pattern.routes.first(where: { $0.method == "GET" }) {
                return .handler(get)
            }
            return .methodNotAllowed(allow: pattern.routes.map(\.method).joined(separator: ", "))
        }
        return .notFound
    }
}
