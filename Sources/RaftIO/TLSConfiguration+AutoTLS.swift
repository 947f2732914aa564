import CRaftIO

extension TLSConfiguration {
    /// Writes a self-signed certificate and key for etcd's `--peer-auto-tls`: ECDSA P-521, valid one
    /// year, a random 128-bit serial, organization `etcd`, usable for server and client
    /// authentication, with an IP SAN for each IP literal in `hosts` and a DNS SAN for each name.
    /// The key file is created with mode 0600. Any thread.
    /// - Throws: ``RaftIOError/Kind/configuration`` when a file cannot be written.
    public static func writeSelfSignedCertificate(certificatePath: String, keyPath: String,
                                                  hosts: [String]) throws(RaftIOError) {
        var err = [CChar](repeating: 0, count: Int(RIO_ERRLEN))
        let rc = rio_tls_write_self_signed(certificatePath, keyPath, hosts.joined(separator: ","), &err, err.count)
        guard rc == 0 else { throw RaftIOError(kind: .configuration, code: rc, message: cString(err)) }
    }
}
