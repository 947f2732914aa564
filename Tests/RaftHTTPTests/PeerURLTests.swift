@testable import RaftHTTP
import Testing

@Suite("peer URLs and the URL picker")
struct PeerURLTests {
    @Test("http and https URLs with host and port parse; IPv6 keeps its brackets in text")
    func parse() throws {
        let plain = try PeerURL(parsing: "http://127.0.0.1:2380")
        #expect((plain.scheme, plain.host, plain.port, plain.isTLS) == ("http", "127.0.0.1", 2380, false))
        let tls = try PeerURL(parsing: "  HTTPS://etcd-1.example:12380 ")
        #expect((tls.scheme, tls.host, tls.port, tls.isTLS) == ("https", "etcd-1.example", 12380, true))
        #expect(tls.description == "https://etcd-1.example:12380")
        let v6 = try PeerURL(parsing: "http://[::1]:2380")
        #expect(v6.host == "::1")
        #expect(v6.description == "http://[::1]:2380")
    }

    @Test("unix and unixs URLs name the socket file host:port, as etcd forms it; unixs is TLS against the host")
    func unixSockets() throws {
        let plain = try PeerURL(parsing: "unix://localhost:12345")
        #expect((plain.scheme, plain.host, plain.port, plain.isTLS, plain.isUnixSocket) == ("unix", "localhost", 12345, false, true))
        #expect(plain.unixSocketPath == "localhost:12345")
        #expect(plain.description == "unix://localhost:12345")
        let tls = try PeerURL(parsing: "UNIXS://member-1:2380")
        #expect((tls.scheme, tls.host, tls.isTLS, tls.unixSocketPath) == ("unixs", "member-1", true, "member-1:2380"))
        #expect(try PeerURL(parsing: "unixs://[::1]:2380").unixSocketPath == "[::1]:2380")
        #expect(try PeerURL(parsing: "https://localhost:2380").unixSocketPath == nil)
        // Sorted by text with the TCP URLs, as etcd does: "unix" after "https".
        #expect(try PeerURL.parseList(["unix://a:1", "http://a:1"]).map(\.description) == ["http://a:1", "unix://a:1"])
    }

    @Test("URLs etcd refuses are refused with the rule they break",
          arguments: [
              ("ftp://127.0.0.1:2380", "URL scheme must be http, https, unix, or unixs"),
              ("127.0.0.1:2380", "URL scheme must be http, https, unix, or unixs"),
              ("unix://member.sock", #"URL address does not have the form "host:port""#),
              ("unixs://localhost:2380/", "URL must not contain a path, query or fragment"),
              ("http://127.0.0.1", #"URL address does not have the form "host:port""#),
              ("http://127.0.0.1:2380/", "URL must not contain a path, query or fragment"),
              ("http://127.0.0.1:2380/raft", "URL must not contain a path, query or fragment"),
              ("http://127.0.0.1:2380?x=1", "URL must not contain a path, query or fragment"),
              ("http://user@127.0.0.1:2380", "URL must not contain user info"),
              ("http://:2380", "URL has no host"),
              ("http://127.0.0.1:", "URL port must be a number from 1 to 65535"),
              ("http://127.0.0.1:65536", "URL port must be a number from 1 to 65535"),
              ("http://127.0.0.1:0", "URL port must be a number from 1 to 65535"),
              ("http://::1:2380", "an IPv6 address must be written in brackets"),
              ("http://[::1]2380", #"URL address does not have the form "host:port""#),
          ])
    func refused(url: String, reason: String) {
        #expect(throws: RaftHTTPError.invalidPeerURL(url, reason)) { try PeerURL(parsing: url) }
    }

    @Test("a URL list is sorted by its text, as etcd's NewURLs does")
    func sortedList() throws {
        let urls = try PeerURL.parseList(["http://127.0.0.1:2382", "https://127.0.0.1:2380", "http://127.0.0.1:12380"])
        #expect(urls.map(\.description) == ["http://127.0.0.1:12380", "http://127.0.0.1:2382", "https://127.0.0.1:2380"])
        #expect(throws: RaftHTTPError.invalidPeerURL("", "no valid URLs given")) { try PeerURL.parseList([]) }
    }

    @Test("the picker starts at the first URL and advances round robin on failure")
    func roundRobin() throws {
        let urls = try PeerURL.parseList(["http://a:1", "http://b:1", "http://c:1"])
        let picker = URLPicker(urls: urls)
        #expect(picker.pick() == urls[0])
        picker.unreachable(urls[0])
        #expect(picker.pick() == urls[1])
        picker.unreachable(urls[1])
        picker.unreachable(urls[2])
        #expect(picker.pick() == urls[0])
    }

    @Test("a failure on a URL that is no longer current does not advance the picker")
    func staleFailure() throws {
        let urls = try PeerURL.parseList(["http://a:1", "http://b:1", "http://c:1"])
        let picker = URLPicker(urls: urls)
        picker.unreachable(urls[0])
        picker.unreachable(urls[0])  // a second channel that failed on a too
        #expect(picker.pick() == urls[1])
        picker.unreachable(urls[2])
        #expect(picker.pick() == urls[1])
    }

    @Test("update replaces the URLs and starts again at the first")
    func update() throws {
        let picker = URLPicker(urls: try PeerURL.parseList(["http://a:1", "http://b:1"]))
        picker.unreachable(picker.pick())
        let next = try PeerURL.parseList(["http://d:1", "http://c:1"])
        picker.update(next)
        #expect(picker.pick().description == "http://c:1")
        #expect(picker.urls == next)
    }
}
