import CRaftIO

/// What the peer's leaf certificate says, as a TLS connection saw it after the handshake.
public struct PeerCertificate: Sendable, Hashable {
    /// The subject common name; empty when there is none.
    public var commonName: String
    /// The serial number in lowercase hex without leading zeros (as etcd prints it).
    public var serialNumber: String
    /// The IP address SANs, in the certificate's order.
    public var ipAddresses: [String]
    /// The DNS name SANs, in the certificate's order.
    public var dnsNames: [String]

    package init(commonName: String, serialNumber: String, ipAddresses: [String], dnsNames: [String]) {
        self.commonName = commonName
        self.serialNumber = serialNumber
        self.ipAddresses = ipAddresses
        self.dnsNames = dnsNames
    }
}

extension Connection {
    /// The certificate the peer presented, or nil without TLS or when it presented none. Loop
    /// thread only, while open.
    public var peerCertificate: PeerCertificate? {
        guard let raw else { return nil }
        var c = rio_peer_cert_t()
        guard rio_conn_peer_cert(raw, &c) == 0 else { return nil }
        func text<T>(_ field: inout T) -> String {
            withUnsafeBytes(of: &field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        func list(_ s: String) -> [String] { s.isEmpty ? [] : s.split(separator: ",").map(String.init) }
        return PeerCertificate(commonName: text(&c.common_name), serialNumber: text(&c.serial),
                               ipAddresses: list(text(&c.ip_sans)), dnsNames: list(text(&c.dns_sans)))
    }
}
