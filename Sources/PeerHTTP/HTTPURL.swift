// The parts of an `http://` or `https://` URL a client needs: where to dial, what to send as
// `Host` and as the request target. IPv6 hosts come in brackets (`https://[::1]:2380/x`).
//
// `unix://` and `unixs://` are etcd's (pkg/transport transport.go: unixTransport): the request is
// an `http://` or `https://` one, dialed on the Unix socket whose path is the URL's `host:port`
// (`unix://localhost:2380` dials the file `localhost:2380` in the working directory; Go adds the
// scheme's default port, 80 or 443, when the URL has none). `Host` carries the URL's `host:port`
// as written, and TLS checks the certificate against the host, as for `https`.

struct HTTPURL: Hashable, Sendable {
    var isTLS: Bool
    /// The host to dial: a name or a numeric address, IPv6 without brackets. For a Unix socket,
    /// the name the server's certificate must carry.
    var host: String
    var port: Int
    /// `unix` and `unixs`: the socket's path. Nil for TCP.
    var unixSocketPath: String?
    /// `host[:port]` as the `Host` field carries it (IPv6 in brackets, default port omitted; for a
    /// Unix socket as the URL writes it).
    var authority: String
    /// Path and query, at least `/`.
    var target: String

    init?(_ url: String) {
        let scheme: Substring
        guard let colon = url.firstIndex(of: ":") else { return nil }
        scheme = url[..<colon]
        let unix: Bool
        switch scheme.lowercased() {
        case "http": (isTLS, unix) = (false, false)
        case "https": (isTLS, unix) = (true, false)
        case "unix": (isTLS, unix) = (false, true)
        case "unixs": (isTLS, unix) = (true, true)
        default: return nil
        }
        let afterScheme = url[colon...]
        guard afterScheme.hasPrefix("://") else { return nil }
        let rest = afterScheme.dropFirst(3)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var hostPort = rest[..<authorityEnd]
        if let at = hostPort.lastIndex(of: "@") { hostPort = hostPort[hostPort.index(after: at)...] }
        var target = String(rest[authorityEnd...])
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        self.target = target
        let defaultPort = isTLS ? 443 : 80
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let portColon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<portColon])
            portText = hostPort[hostPort.index(after: portColon)...]
        } else {
            host = String(hostPort)
        }
        if let portText {
            guard let p = Int(portText) else { return nil }
            port = p
        } else {
            port = defaultPort
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        let hostText = host.contains(":") ? "[\(host)]" : host
        if unix {
            unixSocketPath = "\(hostText):\(portText.map(String.init) ?? String(defaultPort))"
            authority = String(hostPort)
        } else {
            unixSocketPath = nil
            authority = port == defaultPort ? hostText : "\(hostText):\(port)"
        }
    }
}
