@testable import RaftHTTP
import Testing

@Suite("etcd version headers and compatibility")
struct VersionTests {
    @Test("versions parse as coreos/go-semver does")
    func parse() throws {
        let version = try #require(EtcdVersion("3.4.23"))
        #expect((version.major, version.minor, version.patch) == (3, 4, 23))
        let pre = try #require(EtcdVersion("3.5.0-rc.1+git.abc"))
        #expect(pre.preRelease == "rc.1")
        #expect(pre.metadata == "git.abc")
        #expect(pre.description == "3.5.0-rc.1+git.abc")
        // go-semver takes an empty pre-release after a dash.
        #expect(EtcdVersion("3.4.23-")?.preRelease == "")
        for bad in ["", "3.4", "3.4.x", "3..4", "3.4.23.1", "v3.4.23", "3.4.23+a..b", "-1.0.0"] {
            #expect(EtcdVersion(bad) == nil, "\(bad)")
        }
    }

    @Test("plain major.minor.patch parses without the general parser exactly as with it, leading zeros and huge numbers included")
    func plainMatchesGeneral() {
        let cases = ["3.5.1", "0.0.0", "03.004.0005", "10.20.30", "999999999999999999.1.2", "9999999999999999999.1.2",
                     "99999999999999999999999.1.2", "3.5", "3.5.1.", ".3.5", "3.5.1a", "3 .5.1", "3.5.1-rc", "3.5.1+m"]
        for text in cases {
            #expect(EtcdVersion(text) == EtcdVersion(general: text), "\(text)")
        }
        #expect(EtcdVersion("03.004.0005") == EtcdVersion(major: 3, minor: 4, patch: 5))
        #expect(EtcdVersion("9999999999999999999.1.2") == nil, "past Int.max, as Int() refuses it")
    }

    @Test("a missing version header means 2.0.0; a malformed one is not a version")
    func header() {
        #expect(EtcdVersion(header: nil) == EtcdVersion(major: 2, minor: 0, patch: 0))
        #expect(EtcdVersion(header: "") == EtcdVersion(major: 2, minor: 0, patch: 0))
        #expect(EtcdVersion(header: "garbage") == nil)
    }

    @Test("3.x peers with min cluster 3.0 are compatible with us (as 3.5.1)")
    func compatible() {
        for server in ["3.0.0", "3.3.10", "3.4.23", "3.5.17", "3.6.0", "4.0.0"] {
            #expect(VersionCompatibility.check(serverVersion: server, minClusterVersion: "3.0.0") == nil, "\(server)")
        }
    }

    @Test("a peer older than our minimum cluster version is refused: remote version is too low")
    func remoteTooOld() {
        let refusal = VersionCompatibility.check(serverVersion: "2.3.8", minClusterVersion: "2.3.0")
        #expect(refusal == .remoteTooOld(remoteServer: EtcdVersion(major: 2, minor: 3, patch: 8), localServer: .localServer))
        #expect(refusal?.description == "remote version is too low: remote=2.3.8, local=3.5.1")
        #expect(VersionCompatibility.check(serverVersion: nil, minClusterVersion: nil)
            == .remoteTooOld(remoteServer: EtcdVersion(major: 2, minor: 0, patch: 0), localServer: .localServer))
    }

    @Test("a peer whose minimum cluster version is above our server is refused: local version is too low")
    func localTooOld() {
        #expect(VersionCompatibility.check(serverVersion: "3.7.0", minClusterVersion: "3.6.0")
            == .localTooOld(remoteServer: EtcdVersion(major: 3, minor: 7, patch: 0),
                            remoteMinCluster: EtcdVersion(major: 3, minor: 6, patch: 0), localServer: .localServer))
        // Only major.minor counts: 3.5.99 is not above 3.5.1.
        #expect(VersionCompatibility.check(serverVersion: "3.5.0", minClusterVersion: "3.5.99") == nil)
    }

    @Test("the gate compares with the version we advertise: as 3.4.23 a peer needing a 3.5 cluster is refused, as 3.5.1 accepted")
    func gateUsesConfiguredVersion() throws {
        let as34 = try #require(EtcdVersion("3.4.23"))
        let refusal = VersionCompatibility.check(serverVersion: "3.5.1", minClusterVersion: "3.5.0", localServer: as34)
        #expect(refusal?.description == "local version is too low: remote=3.5.1 (min cluster 3.5.0), local=3.4.23")
        #expect(VersionCompatibility.check(serverVersion: "3.5.1", minClusterVersion: "3.5.0") == nil)
        // What etcd 3.4 and 3.5 send themselves passes either way.
        for local in [as34, EtcdVersion.localServer] {
            for server in ["3.4.23", "3.5.1"] {
                #expect(VersionCompatibility.check(serverVersion: server, minClusterVersion: "3.0.0", localServer: local) == nil)
            }
        }
    }

    @Test("a malformed version header is refused rather than crashing")
    func malformed() {
        #expect(VersionCompatibility.check(serverVersion: "three", minClusterVersion: "3.0.0")
            == .malformed(header: "X-Server-Version", value: "three"))
        #expect(VersionCompatibility.check(serverVersion: "3.4.23", minClusterVersion: "3.0")
            == .malformed(header: "X-Min-Cluster-Version", value: "3.0"))
    }

    @Test("stream support as etcd 3.5's table: 2.0 speaks no stream; 2.1 to 3.5 speak both; peers no older than us are trusted")
    func streams() {
        for type in StreamType.allCases {
            #expect(!VersionCompatibility.supportsStream(type, remoteServer: EtcdVersion(major: 2, minor: 0, patch: 0)))
            for (major, minor) in [(2, 1), (2, 3), (3, 0), (3, 3), (3, 4), (3, 5), (3, 6), (4, 0)] {
                #expect(VersionCompatibility.supportsStream(type, remoteServer: EtcdVersion(major: major, minor: minor, patch: 0)),
                        "\(major).\(minor)")
            }
            // Advertising 3.4.23, a 3.5 peer is newer than us: trusted without the table.
            #expect(VersionCompatibility.supportsStream(type, remoteServer: EtcdVersion(major: 3, minor: 5, patch: 1),
                                                        localServer: EtcdVersion(major: 3, minor: 4, patch: 23)))
            // A local version past the table consults it for older peers: 3.6 is not in 3.5's table.
            #expect(!VersionCompatibility.supportsStream(type, remoteServer: EtcdVersion(major: 3, minor: 6, patch: 0),
                                                         localServer: EtcdVersion(major: 3, minor: 7, patch: 0)))
        }
    }

    @Test("advertisable server versions: 3.0.0 to 3.5.x, no pre-release; 3.5.1 by default")
    func advertisable() {
        #expect(Transport.Configuration.defaultServerVersion == "3.5.1")
        for good in ["3.0.0", "3.4.23", "3.5.0", "3.5.1", "3.5.17", "3.5.1+build.1"] {
            #expect(Transport.Configuration.isAdvertisable(serverVersion: good), "\(good)")
        }
        for bad in ["2.3.8", "3.6.0", "4.0.0", "3.5.0-rc.1", "3.5", "v3.5.1", ""] {
            #expect(!Transport.Configuration.isAdvertisable(serverVersion: bad), "\(bad)")
        }
    }
}
