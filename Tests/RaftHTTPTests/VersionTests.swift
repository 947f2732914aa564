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

    @Test("a missing version header means 2.0.0; a malformed one is not a version")
    func header() {
        #expect(EtcdVersion(header: nil) == EtcdVersion(major: 2, minor: 0, patch: 0))
        #expect(EtcdVersion(header: "") == EtcdVersion(major: 2, minor: 0, patch: 0))
        #expect(EtcdVersion(header: "garbage") == nil)
    }

    @Test("3.x peers with min cluster 3.0 are compatible with us")
    func compatible() {
        for server in ["3.0.0", "3.3.10", "3.4.23", "3.5.17", "3.6.0", "4.0.0"] {
            #expect(VersionCompatibility.check(serverVersion: server, minClusterVersion: "3.0.0") == nil, "\(server)")
        }
    }

    @Test("a peer older than our minimum cluster version is refused: remote version is too low")
    func remoteTooOld() {
        let refusal = VersionCompatibility.check(serverVersion: "2.3.8", minClusterVersion: "2.3.0")
        #expect(refusal == .remoteTooOld(remoteServer: EtcdVersion(major: 2, minor: 3, patch: 8)))
        #expect(refusal?.description == "remote version is too low: remote=2.3.8, local=3.4.23")
        #expect(VersionCompatibility.check(serverVersion: nil, minClusterVersion: nil)
            == .remoteTooOld(remoteServer: EtcdVersion(major: 2, minor: 0, patch: 0)))
    }

    @Test("a peer whose minimum cluster version is above our server is refused: local version is too low")
    func localTooOld() {
        #expect(VersionCompatibility.check(serverVersion: "3.6.0", minClusterVersion: "3.5.0")
            == .localTooOld(remoteServer: EtcdVersion(major: 3, minor: 6, patch: 0),
                            remoteMinCluster: EtcdVersion(major: 3, minor: 5, patch: 0)))
        // Only major.minor counts: 3.4.99 is not above 3.4.23.
        #expect(VersionCompatibility.check(serverVersion: "3.4.0", minClusterVersion: "3.4.99") == nil)
    }

    @Test("a malformed version header is refused rather than crashing")
    func malformed() {
        #expect(VersionCompatibility.check(serverVersion: "three", minClusterVersion: "3.0.0")
            == .malformed(header: "X-Server-Version", value: "three"))
        #expect(VersionCompatibility.check(serverVersion: "3.4.23", minClusterVersion: "3.0")
            == .malformed(header: "X-Min-Cluster-Version", value: "3.0"))
    }

    @Test("stream support: 2.0 speaks no stream; 2.1 to 3.8 speak both; newer peers are trusted")
    func streams() {
        for type in StreamType.allCases {
            #expect(!VersionCompatibility.supportsStream(type, remoteServer: EtcdVersion(major: 2, minor: 0, patch: 0)))
            for (major, minor) in [(2, 1), (2, 3), (3, 0), (3, 3), (3, 4), (3, 5), (3, 8), (3, 9), (4, 0)] {
                #expect(VersionCompatibility.supportsStream(type, remoteServer: EtcdVersion(major: major, minor: minor, patch: 0)),
                        "\(major).\(minor)")
            }
            // An older local version consults the table for a newer remote's unknown version too.
            #expect(VersionCompatibility.supportsStream(type, remoteServer: EtcdVersion(major: 3, minor: 8, patch: 0),
                                                        localServer: EtcdVersion(major: 3, minor: 9, patch: 0)))
            #expect(!VersionCompatibility.supportsStream(type, remoteServer: EtcdVersion(major: 3, minor: 9, patch: 0),
                                                         localServer: EtcdVersion(major: 4, minor: 0, patch: 0)))
        }
    }
}
