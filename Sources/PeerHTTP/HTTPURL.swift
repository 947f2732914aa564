// The parts of an `http://` or `https://` URL a client needs: where to dial, what to send as
// `Host` and as the request target. IPv6 hosts come in brackets (`https://[::1]:2380/x`).

struct HTTPURL: Hashable, Sendable {
    var isTLS: Bool
    /// The host to dial: a name or a numeric address, IPv6 without brackets.
    var host: String
    var port: Int
    /// `host[:port]` as the `Host` field carries it (IPv6 in brackets, default port omitted).
    var authority: String
    /// Path and query, at least `/`.
    var target: String

    init?(_ url: String) {
        let scheme: Substring
        guard let colon = url.firstIndex(of: ":") else { return nil }
        scheme = url[..<colon]
        switch scheme.lowercased() {
        case "http": isTLS = false
        case "https": isTLS = true
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
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.isEmpty {
                port = defaultPort
            } else {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let portColon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<portColon])
            guard let p = Int(hostPort[hostPort.index(after: portColon)...]) else { return nil }
            port = p
        } else {
            host = String(hostPort)
            port = defaultPort
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        let hostText = host.contains(":") ? "[\(host)]" : host
        authority = port == defaultPort ? hostText : "\(hostText):\(port)"
    }
}
