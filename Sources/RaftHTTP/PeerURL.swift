// A peer URL as etcd accepts it (`pkg/types/urls.go: NewURLs`, spec 1.1 "URL rules"): scheme http,
// https, unix or unixs, `host:port`, nothing after it.
//
// unix and unixs are HTTP and HTTPS over a Unix domain socket whose path is the URL's `host:port`,
// relative to the working directory (`unix://localhost:2380` is the file `localhost:2380`; a URL
// cannot hold a `/`, so the path is never absolute): etcd listens there (pkg/transport
// listener.go: newListener) and dials there (transport.go: unixTransport), and for unixs checks the
// certificate against the host (`localhost`), as for https. etcd also takes port 0 or a port with
// leading zeros for unix; we take 1 to 65535 written plainly, as for TCP.

/// One peer URL: `http://host:port`, `https://host:port`, or the same over a Unix socket,
/// `unix://host:port` and `unixs://host:port`; IPv6 hosts in brackets.
///
/// Its ``description`` is the text etcd derives from the URL, which is what etcd sorts, sends in
/// `X-PeerURLs` and hashes into member IDs.
public struct PeerURL: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// `http`, `https`, `unix` or `unixs`, lower case.
    public let scheme: String
    /// The host as written, without brackets for IPv6 (`127.0.0.1`, `localhost`, `::1`). Over TLS
    /// the name the peer's certificate must carry, also for `unixs`.
    public let host: String
    /// The TCP port; for `unix` and `unixs`, part of the socket's path.
    public let port: UInt16

    /// Whether connections to this URL use TLS (`https` and `unixs`).
    public var isTLS: Bool { scheme == "https" || scheme == "unixs" }

    /// Whether this URL names a Unix domain socket (`unix` and `unixs`).
    public var isUnixSocket: Bool { scheme == "unix" || scheme == "unixs" }

    /// For `unix` and `unixs`, the socket's path as etcd forms it: the URL's `host:port`
    /// (`localhost:2380`, `[::1]:2380`), relative to the working directory. Nil for TCP.
    public var unixSocketPath: String? {
        guard isUnixSocket else { return nil }
        return "\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// `scheme://host:port`, IPv6 in brackets (`http://[::1]:2380`).
    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(hostPart):\(port)"
    }

    /// Parses one URL. Leading and trailing spaces are ignored, as etcd does.
    ///
    /// - Throws: ``RaftHTTPError`` with code ``RaftHTTPError/Code/invalidPeerURL`` naming the rule
    ///   broken: the scheme is not http, https, unix or unixs, the address is not `host:port`, or
    ///   the URL has a path, query, fragment or user info.
    public init(parsing text: some StringProtocol) throws(RaftHTTPError) {
        let input = String(text).trimmingASCIISpaces()
        guard let separator = input.range(of: "://") else {
            throw .invalidPeerURL(input, "URL scheme must be http, https, unix, or unixs")
        }
        let scheme = input[..<separator.lowerBound].lowercased()
        switch scheme {
        case "http", "https", "unix", "unixs": break
        default:
            throw .invalidPeerURL(input, "URL scheme must be http, https, unix, or unixs")
        }
        let rest = input[separator.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard authorityEnd == rest.endIndex else {
            throw .invalidPeerURL(input, "URL must not contain a path, query or fragment")
        }
        let authority = rest[..<authorityEnd]
        guard !authority.contains("@") else { throw .invalidPeerURL(input, "URL must not contain user info") }

        let hostPart: Substring
        let portPart: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw .invalidPeerURL(input, #"URL address does not have the form "host:port""#)
            }
            hostPart = authority[authority.index(after: authority.startIndex) ..< close]
            let afterClose = authority[authority.index(after: close)...]
            guard afterClose.hasPrefix(":") else {
                throw .invalidPeerURL(input, #"URL address does not have the form "host:port""#)
            }
            portPart = afterClose.dropFirst()
        } else {
            guard let colon = authority.lastIndex(of: ":") else {
                throw .invalidPeerURL(input, #"URL address does not have the form "host:port""#)
            }
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
            guard !hostPart.contains(":") else {
                throw .invalidPeerURL(input, "an IPv6 address must be written in brackets")
            }
        }
        guard !hostPart.isEmpty else { throw .invalidPeerURL(input, "URL has no host") }
        guard !portPart.isEmpty, portPart.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let port = UInt16(portPart), port != 0 else {
            throw .invalidPeerURL(input, "URL port must be a number from 1 to 65535")
        }
        self.scheme = scheme
        self.host = String(hostPart)
        self.port = port
    }

    /// Parses a list of URLs and sorts it, as etcd's `NewURLs` does, so that the first choice of
    /// every member is the same (lexically smallest) URL.
    ///
    /// - Throws: ``RaftHTTPError`` for the first invalid URL, or for an empty list.
    public static func parseList(_ texts: [String]) throws(RaftHTTPError) -> [PeerURL] {
        guard !texts.isEmpty else { throw .invalidPeerURL("", "no valid URLs given") }
        var urls: [PeerURL] = []
        for text in texts { urls.append(try PeerURL(parsing: text)) }
        return urls.sorted()
    }

    /// Orders by ``description``, as Go's `sort.Strings` over the URL texts does.
    public static func < (lhs: PeerURL, rhs: PeerURL) -> Bool {
        lhs.description.utf8.lexicographicallyPrecedes(rhs.description.utf8)
    }
}

extension String {
    fileprivate func trimmingASCIISpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first ... last])
    }

    fileprivate func range(of needle: String) -> Range<Index>? {
        var start = startIndex
        while start < endIndex {
            if self[start...].hasPrefix(needle) {
                return start ..< index(start, offsetBy: needle.count)
            }
            start = index(after: start)
        }
        return nil
    }
}
