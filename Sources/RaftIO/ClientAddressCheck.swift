// etcd's check of a client certificate's SANs against the address the client connects from
// (pkg/transport listener_tls.go: checkCertSAN, isHostInDNS), with its error texts.
//
// No SANs: pass. IP SANs: the remote IP must be one of them; otherwise, without DNS SANs, refuse
// with Go's "x509: certificate is valid for 10.9.9.9, not 127.0.0.1". DNS SANs: the remote IP
// reverse-resolves to one of the names (a "*.example.com" SAN matches any name ending in
// ".example.com"), or one of the plain names forward-resolves to the remote IP; otherwise refuse
// with "tls: "127.0.0.1" does not match any of DNSNames ["a.example"]". Resolution blocks, so it
// runs on a dispatch queue, never on a loop thread.
//
// A Unix socket's client has no IP: Go gives its address as "@", which etcd's SplitHostPort fails
// on, so a certificate with any SAN is refused there with "address @: missing port in address"
// (etcd 3.4.23 does, seen with two etcds on unixs:// with --peer-client-cert-auth); one without
// SANs passes. Skipping the check (--experimental-peer-skip-client-san-verification) is how etcd's
// members use client certificates over unixs://, and ours too.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

package enum ClientAddressCheck {
    package enum Verdict: Equatable {
        case pass
        case refuse(String)
        case resolve([String])
    }

    /// The host part of `ip:port` or `[ip]:port`; nil when there is no port (a Unix socket's `@`),
    /// where Go's `net.SplitHostPort` fails.
    package static func host(of address: String) -> String? {
        if address.hasPrefix("["), let end = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<end])
        }
        guard let colon = address.lastIndex(of: ":") else { return nil }
        return String(address[..<colon])
    }

    /// etcd's verdict for a client connecting from `remoteAddress` (`ip:port`, `[ip]:port`, or `@`
    /// on a Unix socket): as ``verdict(certificate:remoteIP:)`` once the address is split; an
    /// address without a port refuses a certificate that has SANs with Go's text.
    package static func verdict(certificate: PeerCertificate?, remoteAddress: String) -> Verdict {
        guard let cert = certificate, !(cert.ipAddresses.isEmpty && cert.dnsNames.isEmpty) else { return .pass }
        guard let ip = host(of: remoteAddress) else { return .refuse("address \(remoteAddress): missing port in address") }
        return verdict(certificate: cert, remoteIP: ip)
    }

    package static func verdict(certificate: PeerCertificate?, remoteIP: String) -> Verdict {
        guard let cert = certificate, !(cert.ipAddresses.isEmpty && cert.dnsNames.isEmpty) else { return .pass }
        if !cert.ipAddresses.isEmpty {
            if cert.ipAddresses.contains(where: { sameIP($0, remoteIP) }) { return .pass }
            if cert.dnsNames.isEmpty {
                return .refuse("x509: certificate is valid for \(cert.ipAddresses.joined(separator: ", ")), not \(remoteIP)")
            }
        }
        return .resolve(cert.dnsNames)
    }

    /// Runs etcd's `isHostInDNS` on a dispatch queue and calls `done` there with nil (a match) or
    /// the refusal text.
    static func resolveOffLoop(ip: String, names: [String], done: @escaping @Sendable (String?) -> Void) {
        DispatchQueue.global().async {
            let (ok, lookupError) = hostInDNS(ip: ip, names: names)
            if ok { return done(nil) }
            let quoted = names.map { "\"\($0)\"" }.joined(separator: " ")
            done("tls: \"\(ip)\" does not match any of DNSNames [\(quoted)]" + (lookupError.map { " (\($0))" } ?? ""))
        }
    }

    // A failing lookup may wait on an unreachable DNS server (the resolver's timeouts bound it):
    // the connection waits, paused, and the loop does not.
    static func hostInDNS(ip: String, names: [String]) -> (Bool, String?) {
        let wildcards = names.filter { $0.hasPrefix("*.") }.map { String($0.dropFirst()) }
        let plain = names.filter { !$0.hasPrefix("*.") }
        var lastError: String?
        switch reverseLookup(ip) {
        case .success(var name):
            if name.hasSuffix(".") { name.removeLast() }
            if wildcards.contains(where: { name.hasSuffix($0) }) || plain.contains(name) { return (true, nil) }
        case .failure(let e): lastError = e.text
        }
        for name in plain {
            switch forwardLookup(name) {
            case .success(let addresses):
                if addresses.contains(where: { sameIP($0, ip) }) { return (true, nil) }
            case .failure(let e): lastError = e.text
            }
        }
        return (false, lastError)
    }

    struct LookupError: Error { var text: String }

    /// `getnameinfo` of `address` (a `sockaddr_in` or `sockaddr_in6`), a name required.
    private static func nameInfo<Address>(_ address: inout Address, into host: inout [CChar]) -> Int32 {
        let capacity = socklen_t(host.count)
        return withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, socklen_t(MemoryLayout<Address>.size), &host, capacity, nil, 0, NI_NAMEREQD)
            }
        }
    }

    private static func reverseLookup(_ ip: String) -> Result<String, LookupError> {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var rc: Int32
        if let v4 = bytes(ip, family: AF_INET, count: 4) {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: v4) }
            rc = nameInfo(&sin, into: &host)
        } else if let v6 = bytes(ip, family: AF_INET6, count: 16) {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: v6) }
            rc = nameInfo(&sin6, into: &host)
        } else {
            return .failure(LookupError(text: "lookup \(ip): not an IP address"))
        }
        guard rc == 0 else { return .failure(LookupError(text: "lookup \(ip): \(String(cString: gai_strerror(rc)))")) }
        return .success(cString(host))
    }

    private static func forwardLookup(_ name: String) -> Result<[String], LookupError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, nil, &hints, &list)
        guard rc == 0 else { return .failure(LookupError(text: "lookup \(name): \(String(cString: gai_strerror(rc)))")) }
        defer { freeaddrinfo(list) }
        var out: [String] = []
        var p = list
        while let ai = p {
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(ai.pointee.ai_addr, ai.pointee.ai_addrlen, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                out.append(cString(host))
            }
            p = ai.pointee.ai_next
        }
        return .success(out)
    }

    /// Compares two textual IPs by their bytes ("::1" and "0:0::1" are the same).
    static func sameIP(_ a: String, _ b: String) -> Bool {
        if let x = bytes(a, family: AF_INET, count: 4), let y = bytes(b, family: AF_INET, count: 4) { return x == y }
        if let x = bytes(a, family: AF_INET6, count: 16), let y = bytes(b, family: AF_INET6, count: 16) { return x == y }
        return false
    }

    private static func bytes(_ ip: String, family: Int32, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        return inet_pton(family, ip, &out) == 1 ? out : nil
    }
}
