// A loaded TLS configuration, and how it follows its files.
//
// Happy path: init reads every PEM source and builds an OpenSSL context. Before each handshake
// (each dial, each accept) reloadIfChanged() stats the configuration's files -- inode, size,
// modification and change time, four syscalls of a few microseconds -- and when any differs from
// the set last loaded, reads them all and swaps a freshly built OpenSSL context in. Sessions
// already running keep the context they started with, so live connections are never disturbed.
// Failure modes: a file that is missing, half-written or does not match its partner (a new
// certificate beside the old key) fails the rebuild: the last good context stays, the refusal is
// reported once through onReload, and the files are tried again only when they change again.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRaftIO

/// What a ``TLSContext`` reports when its files changed: loaded, or refused with the reason (the
/// last good configuration then stays in force).
public struct TLSReloadEvent: Sendable {
    /// The outcome of one reload.
    public enum Outcome: Sendable {
        /// New handshakes use the new files.
        case reloaded
        /// The files were not usable; new handshakes keep using the previous ones.
        case refused(RaftIOError)
    }
    /// The role of the context that reloaded.
    public let role: TLSContext.Role
    /// Every file of the configuration (certificate, key, CA bundle, CRL, in that order).
    public let files: [String]
    /// What happened.
    public let outcome: Outcome
}

/// A loaded TLS configuration (an OpenSSL context) for one role. Safe to share across loops and
/// threads; create it once and use it for many connections.
///
/// Files given as ``TLSConfiguration/PEMSource/file(_:)`` are checked before every handshake
/// (``reloadIfChanged()``): a certificate, key, CA bundle or CRL replaced on disk is used by the
/// next connection without a restart, while open connections keep their session.
public final class TLSContext: Sendable {
    /// Which end of the handshake a context serves.
    public enum Role: Sendable { case client, server }

    // Sendable: `raw` is a rio_tls_ctx_t, whose current OpenSSL context is swapped under its own
    // mutex (rio_tls_ctx_update); OpenSSL allows concurrent use of a configured SSL_CTX by many
    // sessions.
    nonisolated(unsafe) let raw: OpaquePointer
    /// The role this context was made for.
    public let role: Role
    /// The configuration it was loaded from.
    public let configuration: TLSConfiguration
    private let cipherList: String?
    private let onReload: (@Sendable (TLSReloadEvent) -> Void)?

    /// The file stamps in force and the ones last tried (a refused set is not retried until the
    /// files change again). Never held across I/O.
    private struct Watch {
        var current: [FileStamp?]
        var attempted: [FileStamp?]
    }
    private let watch: Locked<Watch>

    /// Loads `configuration` for `role`. `onReload` hears of every later reload of its files,
    /// loaded or refused, on the thread that started the handshake (keep it short: log a line).
    /// - Throws: ``RaftIOError/Kind/configuration`` with the file or OpenSSL's reason when a PEM file
    ///   cannot be read or does not parse, the key does not match the certificate, a cipher suite
    ///   name is unknown, or both allowed lists are given.
    public init(configuration: TLSConfiguration, role: Role,
                onReload: (@Sendable (TLSReloadEvent) -> Void)? = nil) throws(RaftIOError) {
        if !configuration.allowedCommonNames.isEmpty && !configuration.allowedHostnames.isEmpty {
            throw RaftIOError(kind: .configuration, message: "AllowedCN and AllowedHostname are mutually exclusive (cn=\"\(configuration.allowedCommonNames.joined(separator: ","))\", hostname=\"\(configuration.allowedHostnames.joined(separator: ","))\")")
        }
        self.configuration = configuration
        self.role = role
        self.onReload = onReload
        cipherList = try TLSCipherSuites.openSSLList(configuration.cipherSuites)
        let stamps = configuration.files.map(FileStamp.init(path:))
        let pem = try PEMSet(configuration)
        var err = [CChar](repeating: 0, count: Int(RIO_ERRLEN))
        let made = Self.withOptions(configuration, role: role, cipherList: cipherList, pem: pem) { options in
            rio_tls_ctx_new(options, &err, err.count)
        }
        guard let made else { throw RaftIOError(kind: .configuration, message: cString(err)) }
        raw = made
        watch = Locked(Watch(current: stamps, attempted: stamps))
    }

    deinit { rio_tls_ctx_free(raw) }

    /// Looks at the configuration's files and, when any changed since it was last loaded, loads
    /// them all for the handshakes that follow. Dials and accepts call it before every handshake;
    /// call it yourself to learn sooner that a new file is broken. Any thread.
    /// - Returns: whether a new configuration was loaded.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let files = configuration.files
        guard !files.isEmpty else { return false }
        let now = files.map(FileStamp.init(path:))
        let claimed = watch.withLock { w in
            guard now != w.current, now != w.attempted else { return false }
            w.attempted = now
            return true
        }
        guard claimed else { return false }
        do throws(RaftIOError) {
            let pem = try PEMSet(configuration)
            var err = [CChar](repeating: 0, count: Int(RIO_ERRLEN))
            let rc = Self.withOptions(configuration, role: role, cipherList: cipherList, pem: pem) { options in
                rio_tls_ctx_update(raw, options, &err, err.count)
            }
            guard rc == 0 else { throw RaftIOError(kind: .configuration, message: cString(err)) }
        } catch {
            onReload?(TLSReloadEvent(role: role, files: files, outcome: .refused(error)))
            return false
        }
        watch.withLock { $0.current = now }
        onReload?(TLSReloadEvent(role: role, files: files, outcome: .reloaded))
        return true
    }

    // MARK: - building the C options

    private static func withOptions<R>(_ c: TLSConfiguration, role: Role, cipherList: String?, pem: PEMSet,
                                       _ body: (UnsafePointer<rio_tls_options_t>) -> R) -> R {
        let arena = CArena()
        defer { arena.free() }
        var o = rio_tls_options_t()
        o.role = role == .server ? RIO_TLS_SERVER : RIO_TLS_CLIENT
        (o.cert, o.cert_len) = arena.bytes(pem.cert)
        (o.key, o.key_len) = arena.bytes(pem.key)
        (o.ca, o.ca_len) = arena.bytes(pem.ca)
        (o.crl, o.crl_len) = arena.bytes(pem.crl)
        o.require_peer_cert = c.clientAuth == .require ? 1 : 0
        o.verify_peer = c.verifyServer ? 1 : 0
        o.allowed_cns = arena.string(c.allowedCommonNames.isEmpty ? nil : c.allowedCommonNames.joined(separator: ","))
        o.allowed_hostnames = arena.string(c.allowedHostnames.isEmpty ? nil : c.allowedHostnames.joined(separator: ","))
        o.cipher_list = arena.string(cipherList)
        o.min_version = c.minimumVersion.wire
        o.max_version = c.maximumVersion?.wire ?? 0
        return withUnsafePointer(to: &o) { body($0) }
    }
}

/// The PEM bytes of a configuration, read now.
private struct PEMSet {
    var cert, key, ca, crl: [UInt8]?

    init(_ c: TLSConfiguration) throws(RaftIOError) {
        cert = try c.certificateChain.map { s throws(RaftIOError) in try Self.load(s, what: "certificate") }
        key = try c.privateKey.map { s throws(RaftIOError) in try Self.load(s, what: "private key") }
        ca = try c.trustRoots.map { s throws(RaftIOError) in try Self.load(s, what: "trust roots") }
        crl = try c.certificateRevocationList.map { s throws(RaftIOError) in try Self.load(s, what: "CRL") }
    }

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

/// What tells a file's versions apart without reading it: a rename gives a new inode, a write a
/// new size or modification time, and the change time catches a same-size rewrite within one
/// timestamp tick that restored the old modification time. Nil: the file cannot be stat'ed.
struct FileStamp: Hashable {
    var device, inode: UInt64
    var size: Int64
    var modified, changed: Int64 // nanoseconds

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }
}

/// C copies of Swift strings and bytes, for one call into C.
private final class CArena {
    private var pointers: [UnsafeMutableRawPointer] = []

    func bytes(_ b: [UInt8]?) -> (UnsafePointer<CChar>?, Int) {
        guard let b else { return (nil, 0) }
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(b.count, 1), alignment: 1)
        b.withUnsafeBytes { if let base = $0.baseAddress { p.copyMemory(from: base, byteCount: b.count) } }
        pointers.append(p)
        return (UnsafePointer(p.assumingMemoryBound(to: CChar.self)), b.count)
    }

    func string(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s else { return nil }
        return bytes(Array(s.utf8) + [0]).0
    }

    func free() { for p in pointers { p.deallocate() } }
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
