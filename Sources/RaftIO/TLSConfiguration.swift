#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRaftIO

/// How one side of a connection does TLS: its certificate, whom it trusts, and whether it demands a
/// certificate from the other side. A value type; load it into a ``TLSContext`` once and share that.
///
/// TLS 1.2 is the minimum; no ALPN protocol is offered (etcd routes `h2` to gRPC, so peers speak
/// HTTP/1.1 without it).
public struct TLSConfiguration: Sendable, Hashable {
    /// Where PEM data comes from.
    public enum PEMSource: Sendable, Hashable {
        /// A PEM file, read when the context is created.
        case file(String)
        /// PEM text already in memory.
        case bytes([UInt8])
    }

    /// Whether a server demands a client certificate.
    public enum ClientAuthentication: Sendable, Hashable {
        /// No client certificate is asked for.
        case none
        /// A client certificate signed by ``TLSConfiguration/trustRoots`` is required (etcd's
        /// `--peer-client-cert-auth`).
        case require
    }

    /// The certificate, followed by any intermediates.
    public var certificateChain: PEMSource?
    /// The private key of the certificate.
    public var privateKey: PEMSource?
    /// The CA certificates to trust. `nil`: the system's trust store (clients) or no client CAs.
    public var trustRoots: PEMSource?
    /// For servers: whether to demand a client certificate.
    public var clientAuth: ClientAuthentication
    /// For clients: verify the server's certificate chain and name. Default `true`.
    public var verifyServer: Bool

    /// A server configuration.
    public static func server(certificateChain: PEMSource, privateKey: PEMSource,
                              trustRoots: PEMSource? = nil, clientAuth: ClientAuthentication = .none) -> TLSConfiguration {
        TLSConfiguration(certificateChain: certificateChain, privateKey: privateKey, trustRoots: trustRoots,
                         clientAuth: clientAuth, verifyServer: true)
    }

    /// A client configuration; pass a certificate and key for servers that require one.
    public static func client(trustRoots: PEMSource?, certificateChain: PEMSource? = nil,
                              privateKey: PEMSource? = nil, verifyServer: Bool = true) -> TLSConfiguration {
        TLSConfiguration(certificateChain: certificateChain, privateKey: privateKey, trustRoots: trustRoots,
                         clientAuth: .none, verifyServer: verifyServer)
    }

    public init(certificateChain: PEMSource? = nil, privateKey: PEMSource? = nil, trustRoots: PEMSource? = nil,
                clientAuth: ClientAuthentication = .none, verifyServer: Bool = true) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustRoots = trustRoots
        self.clientAuth = clientAuth
        self.verifyServer = verifyServer
    }
}

/// A loaded TLS configuration (an OpenSSL context) for one role. Immutable and safe to share across
/// loops and threads; create it once and use it for many connections.
public final class TLSContext: Sendable {
    /// Which end of the handshake a context serves.
    public enum Role: Sendable { case client, server }

    // Sendable: the OpenSSL context is never mutated after init (OpenSSL allows concurrent use of a
    // configured SSL_CTX by many sessions).
    nonisolated(unsafe) let raw: OpaquePointer
    /// The role this context was made for.
    public let role: Role

    /// Loads `configuration` for `role`.
    /// - Throws: ``RaftIOError/Kind/configuration`` with the file or OpenSSL's reason when a PEM file
    ///   cannot be read or does not parse, or the key does not match the certificate.
    public init(configuration: TLSConfiguration, role: Role) throws(RaftIOError) {
        let cert = try configuration.certificateChain.map { source throws(RaftIOError) in try Self.load(source, what: "certificate") }
        let key = try configuration.privateKey.map { source throws(RaftIOError) in try Self.load(source, what: "private key") }
        let ca = try configuration.trustRoots.map { source throws(RaftIOError) in try Self.load(source, what: "trust roots") }
        var err = [CChar](repeating: 0, count: Int(RIO_ERRLEN))
        let made: OpaquePointer? = withOptionalBytes(cert) { c in
            withOptionalBytes(key) { k in
                withOptionalBytes(ca) { a in
                    rio_tls_ctx_new(role == .server ? RIO_TLS_SERVER : RIO_TLS_CLIENT,
                                    c.baseAddress, c.count, k.baseAddress, k.count, a.baseAddress, a.count,
                                    configuration.clientAuth == .require ? 1 : 0,
                                    configuration.verifyServer ? 1 : 0, &err, err.count)
                }
            }
        }
        guard let made else {
            throw RaftIOError(kind: .configuration, message: cString(err))
        }
        raw = made
        self.role = role
    }

    deinit { rio_tls_ctx_free(raw) }

    private static func load(_ source: TLSConfiguration.PEMSource, what: String) throws(RaftIOError) -> [UInt8] {
        switch source {
        case .bytes(let bytes): return bytes
        case .file(let path):
            guard let bytes = readFile(path, limit: 16 << 20) else {
                throw RaftIOError(kind: .configuration,
                                  message: "TLS \(what): cannot read \(path): \(String(cString: strerror(errno)))")
            }
            return bytes
        }
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeBufferPointer<CChar>) -> R) -> R {
    guard let bytes else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
    return bytes.withUnsafeBytes { raw in body(raw.bindMemory(to: CChar.self)) }
}

func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Reads a whole (small) file; nil on error or when it is larger than `limit`.
func readFile(_ path: String, limit: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { return nil }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<n])
        if out.count > limit { return nil }
    }
}
