// Version headers and the rules etcd applies to them (spec 1.3 "Version gate", 1.11), as etcd 3.5
// has them (`server/etcdserver/api/rafthttp/util.go`, `stream.go`; 3.4's differ only in the table
// ending at 3.4).
//
// Happy path: both sides send `X-Server-Version` (ours: the configured version, 3.5.1 unless told
// otherwise) and `X-Min-Cluster-Version: 3.0.0` (3.4 and 3.5 both send 3.0.0); each checks the
// other's pair against its own and finds it compatible. Failure modes: the remote server is older than
// our minimum cluster version, or the remote's minimum is newer than our server → 412
// "incompatible version"; a header that is not `major.minor.patch` (etcd panics in
// `semver.Must`) → treated as incompatible here; a stream dialed to an older peer that does not
// support that stream type → `unsupportedStreamType`, without marking the peer inactive.

/// An etcd version as sent in `X-Server-Version` and `X-Min-Cluster-Version`:
/// `major.minor.patch`, optionally followed by `-prerelease` and `+metadata` (coreos/go-semver).
/// Only major and minor take part in compatibility decisions.
struct EtcdVersion: Hashable, Sendable, CustomStringConvertible {
    var major: Int
    var minor: Int
    var patch: Int
    var preRelease: String = ""
    var metadata: String = ""

    init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `text`; `nil` unless it is three dot-separated decimal numbers with an optional
    /// `-pre` and `+meta` of dot-separated `[0-9A-Za-z-]` identifiers.
    init?(_ text: some StringProtocol) {
        if let plain = Self.plain(text.utf8) {
            self = plain
        } else {
            self.init(general: text)
        }
    }

    /// go-semver's whole grammar (``init(_:)`` tries plain numbers first).
    init?(general text: some StringProtocol) {
        var rest = Substring(text)
        var metadata = Substring("")
        if let plus = rest.firstIndex(of: "+") {
            metadata = rest[rest.index(after: plus)...]
            rest = rest[..<plus]
        }
        var preRelease = Substring("")
        if let dash = rest.firstIndex(of: "-") {
            preRelease = rest[rest.index(after: dash)...]
            rest = rest[..<dash]
        }
        guard Self.validIdentifiers(preRelease), Self.validIdentifiers(metadata) else { return nil }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  let value = Int(part) else { return nil }
            numbers.append(value)
        }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers[2])
        self.preRelease = String(preRelease)
        self.metadata = String(metadata)
    }

    /// `major.minor.patch` and nothing else (what every etcd sends on every request), read byte by
    /// byte without allocating; `nil` for anything else, which the general parser then decides.
    private static func plain(_ bytes: some Collection<UInt8>) -> EtcdVersion? {
        var numbers = (0, 0, 0)
        var part = 0, digits = 0, value = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, part < 2 else { return nil }
                if part == 0 { numbers.0 = value } else { numbers.1 = value }
                part += 1
                digits = 0
                value = 0
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 18 { // 18 digits cannot overflow
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
            } else {
                return nil
            }
        }
        guard digits > 0, part == 2 else { return nil }
        numbers.2 = value
        return EtcdVersion(major: numbers.0, minor: numbers.1, patch: numbers.2)
    }

    private static func validIdentifiers(_ text: Substring) -> Bool {
        if text.isEmpty { return true }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { identifier in
            !identifier.isEmpty && identifier.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || byte == UInt8(ascii: "-")
            }
        }
    }

    /// Parses a header value the way etcd reads it: a missing header means `2.0.0`, since etcd 2.0
    /// sent none. `nil` for a value that is present but not a version.
    init?(header value: String?) {
        self.init(value.flatMap { $0.isEmpty ? nil : $0 } ?? Wire.Version.assumedWhenMissing)
    }

    var description: String {
        var text = "\(major).\(minor).\(patch)"
        if !preRelease.isEmpty { text += "-\(preRelease)" }
        if !metadata.isEmpty { text += "+\(metadata)" }
        return text
    }

    /// Orders by major and minor only, as `compareMajorMinorVersion` does.
    func compareMajorMinor(_ other: EtcdVersion) -> Int {
        if (major, minor) < (other.major, other.minor) { return -1 }
        if (major, minor) > (other.major, other.minor) { return 1 }
        return 0
    }

    /// The version we send as `X-Server-Version` unless configured otherwise (``Wire/Version/server``).
    static let localServer = EtcdVersion(major: 3, minor: 5, patch: 1)
    /// The version we send as `X-Min-Cluster-Version`.
    static let localMinCluster = EtcdVersion(major: 3, minor: 0, patch: 0)
    /// The oldest etcd we can speak as: 3.0 introduced the v3 peer routes a member expects.
    static let oldestAdvertisable = EtcdVersion(major: 3, minor: 0, patch: 0)
    /// The newest etcd whose peer protocol we implement, by major.minor (etcd 3.6 adds v3 membership
    /// and the `/members` routes change; we stop at 3.5).
    static let newestAdvertisable = EtcdVersion(major: 3, minor: 5, patch: 0)

    /// Whether this version may be advertised: 3.0 to 3.5 by major.minor, any patch, no
    /// pre-release (a cluster never settles on a pre-release, and etcd's decision would).
    var isAdvertisable: Bool {
        preRelease.isEmpty && compareMajorMinor(Self.oldestAdvertisable) >= 0 && compareMajorMinor(Self.newestAdvertisable) <= 0
    }
}

/// The compatibility rule both handlers apply to a request's version headers (`util.go:
/// checkVersionCompatibility`).
enum VersionCompatibility {
    /// Why a peer's versions are refused.
    enum Refusal: Hashable, Sendable, CustomStringConvertible {
        /// A header is present but not a version (etcd would panic; we refuse).
        case malformed(header: String, value: String)
        /// The remote server's major.minor is below our minimum cluster version.
        case remoteTooOld(remoteServer: EtcdVersion, localServer: EtcdVersion)
        /// The remote's minimum cluster version is above our server version.
        case localTooOld(remoteServer: EtcdVersion, remoteMinCluster: EtcdVersion, localServer: EtcdVersion)

        /// etcd's wording (logged beside the 412 "incompatible version").
        var description: String {
            switch self {
            case let .malformed(header, value):
                "malformed \(header) header \"\(value)\""
            case let .remoteTooOld(remoteServer, localServer):
                "remote version is too low: remote=\(remoteServer), local=\(localServer)"
            case let .localTooOld(remoteServer, remoteMinCluster, localServer):
                "local version is too low: remote=\(remoteServer) (min cluster \(remoteMinCluster)), local=\(localServer)"
            }
        }
    }

    /// Checks the raw header values of a request (`nil` when absent). Returns `nil` when compatible.
    static func check(serverVersion: String?, minClusterVersion: String?,
                      localServer: EtcdVersion = .localServer,
                      localMinCluster: EtcdVersion = .localMinCluster) -> Refusal? {
        guard let server = EtcdVersion(header: serverVersion) else {
            return .malformed(header: Wire.Header.serverVersion, value: serverVersion ?? "")
        }
        guard let minCluster = EtcdVersion(header: minClusterVersion) else {
            return .malformed(header: Wire.Header.minClusterVersion, value: minClusterVersion ?? "")
        }
        if server.compareMajorMinor(localMinCluster) < 0 { return .remoteTooOld(remoteServer: server, localServer: localServer) }
        if minCluster.compareMajorMinor(localServer) > 0 {
            return .localTooOld(remoteServer: server, remoteMinCluster: minCluster, localServer: localServer)
        }
        return nil
    }

    /// The major.minor versions that speak both stream types: etcd 3.5's `supportedStream` table
    /// (2.1 to 3.5; 3.4's ends at 3.4). 2.0 speaks neither. We never advertise above 3.5, so
    /// every peer older than us is in it.
    static let streamVersions: Set<[Int]> = [
        [2, 1], [2, 2], [2, 3], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4], [3, 5],
    ]

    /// Whether a stream of `type` may be read from a peer that answered with `remoteServer`
    /// (`streamReader.dial`): a peer no older than us (by major.minor) is trusted to know every
    /// type; an older one must list the type in the table. The two types are supported by the
    /// same versions, so `type` does not change the answer today. `localServer` is the version
    /// we advertise.
    static func supportsStream(_ type: StreamType, remoteServer: EtcdVersion,
                               localServer: EtcdVersion = .localServer) -> Bool {
        if remoteServer.compareMajorMinor(localServer) >= 0 { return true }
        return streamVersions.contains([remoteServer.major, remoteServer.minor])
    }
}

extension Transport.Configuration {
    /// The ``serverVersion`` a configuration sends unless told otherwise: "3.5.1", the newest etcd
    /// whose peer protocol this transport implements and is tested against.
    public static let defaultServerVersion = Wire.Version.server

    /// Whether `serverVersion` may be advertised: `major.minor.patch` (any patch, no pre-release)
    /// from 3.0.0 to 3.5.x. Older than 3.0 would ask for etcd 2's peer routes; 3.6 and newer for
    /// a peer protocol (v3 membership) we do not implement, and a cluster takes its version from
    /// what its members advertise. Safe from any thread.
    public static func isAdvertisable(serverVersion: String) -> Bool {
        EtcdVersion(serverVersion)?.isAdvertisable ?? false
    }
}
