@testable import RaftHTTP
import Testing

@Suite("probing: answer body, RTT and clock drift")
struct ProbingTests {
    @Test("the answer is etcd's JSON with RFC 3339 nanoseconds and a newline")
    func encode() {
        let now = WallClockTime(nanosecondsSinceEpoch: 1_795_612_479_638_732_033)
        let body = Probing.Response(now: now).encoded()
        #expect(String(decoding: body, as: UTF8.self) == "{\"OK\":true,\"Now\":\"2026-11-25T13:14:39.638732033Z\"}\n")
        #expect(body.count == 51)  // etcd's Content-Length on the wire
    }

    @Test("etcd's answer bytes decode")
    func decodeEtcd() throws {
        let body = Array("{\"OK\":true,\"Now\":\"2026-11-25T13:14:39.638732033Z\"}\n".utf8)
        let response = try #require(Probing.Response(decoding: body))
        #expect(response.ok)
        #expect(response.now == WallClockTime(nanosecondsSinceEpoch: 1_795_612_479_638_732_033))
    }

    @Test("decoding is as lenient as Go's: key case and order, spaces, offsets, unknown keys")
    func decodeLenient() throws {
        let body = Array(#" { "now" : "2026-11-25T14:14:39.5+01:00", "extra": 12.5e3, "Ok": true, "x": null } "#.utf8)
        let response = try #require(Probing.Response(decoding: body))
        #expect(response.ok)
        #expect(response.now?.rfc3339Nano == "2026-11-25T13:14:39.5Z")
    }

    @Test("bodies the prober must count as failures do not decode, or say not OK",
          arguments: ["", "{", "[]", #"{"OK":"yes","Now":"2026-11-25T13:14:39Z"}"#,
                      #"{"OK":true,"Now":"yesterday"}"#, #"{"OK":true,"Now":"2026-11-25T13:14:39Z"} x"#,
                      #"{"OK":true,"Now":{"a":1}}"#])
    func decodeBad(text: String) {
        #expect(Probing.Response(decoding: Array(text.utf8)) == nil)
    }

    @Test("a body without OK decodes as not OK, and without Now as no time")
    func decodeMissing() throws {
        let response = try #require(Probing.Response(decoding: Array("{}".utf8)))
        #expect(!response.ok)
        #expect(response.now == nil)
    }

    @Test("SRTT is an EWMA with alpha 0.125 that starts at zero, as xiang90/probing's")
    func srtt() {
        var status = Probing.Status()
        let remote = WallClockTime(nanosecondsSinceEpoch: 1_000_000_000)
        status.record(rtt: .milliseconds(8), remoteNow: remote, localNow: remote)
        #expect(status.smoothedRTT == .milliseconds(1))
        status.record(rtt: .milliseconds(8), remoteNow: remote, localNow: remote)
        #expect(status.smoothedRTT == .nanoseconds(1_875_000))
        #expect(status.total == 2)
        #expect(status.isHealthy)
    }

    @Test("clock difference is local now minus remote now minus half the SRTT")
    func clockDifference() {
        var status = Probing.Status()
        status.record(rtt: .milliseconds(16), remoteNow: WallClockTime(nanosecondsSinceEpoch: 10_000_000_000),
                      localNow: WallClockTime(nanosecondsSinceEpoch: 12_000_000_000))
        // SRTT = 2 ms; 2 s − 1 ms.
        #expect(status.clockDifference == .milliseconds(1999))
    }

    @Test("a failure makes the status unhealthy until the next success")
    func failure() {
        var status = Probing.Status()
        status.recordFailure("unexpected status 404")
        #expect(!status.isHealthy)
        #expect(status.loss == 1)
        #expect(status.lastError == "unexpected status 404")
        status.record(rtt: .milliseconds(1), remoteNow: .now(), localNow: .now())
        #expect(status.isHealthy)
        #expect(status.lastError == nil)
        status.reset()
        #expect(status == Probing.Status())
    }

    @Test("the monitor checks after 5 s, then every 30 s while healthy and every 5 s while not")
    func monitorIntervals() {
        var monitor = Probing.Monitor()
        #expect(monitor.interval == .seconds(5))
        var status = Probing.Status()
        let unhealthy = monitor.check(status)
        #expect(unhealthy.unhealthy)
        #expect(unhealthy.nextCheck == .seconds(5))
        let t = WallClockTime(nanosecondsSinceEpoch: 0)
        status.record(rtt: .milliseconds(1), remoteNow: t, localNow: t)
        let healthy = monitor.check(status)
        #expect(!healthy.unhealthy)
        #expect(healthy.nextCheck == .seconds(30))
        #expect(healthy.smoothedRTT == .microseconds(125))
        #expect(Probing.unhealthyMessage == "prober detected unhealthy status")
        #expect(Probing.clockDriftMessage == "prober found high clock drift")
    }

    @Test("only a positive clock drift above one second is reported")
    func drift() {
        var monitor = Probing.Monitor()
        for (offset, expected) in [(Int64(2_000_000_000), true), (-2_000_000_000, false), (900_000_000, false)] {
            var status = Probing.Status()
            status.record(rtt: .zero, remoteNow: WallClockTime(nanosecondsSinceEpoch: 50_000_000_000),
                          localNow: WallClockTime(nanosecondsSinceEpoch: 50_000_000_000 + offset))
            #expect(monitor.check(status).highClockDrift == expected, "\(offset)")
        }
    }
}
