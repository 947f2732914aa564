@testable import RaftHTTP
import Testing

@Suite("wall-clock time in Go's RFC 3339 layout")
struct WallClockTimeTests {
    @Test("formatting drops trailing zeros of the fraction, and the fraction on whole seconds",
          arguments: [
              (Int64(0), "1970-01-01T00:00:00Z"),
              (1_795_612_479_638_732_033, "2026-11-25T13:14:39.638732033Z"),
              (1_795_612_479_500_000_000, "2026-11-25T13:14:39.5Z"),
              (1_795_612_479_000_000_100, "2026-11-25T13:14:39.0000001Z"),
              (951_782_400_000_000_000, "2000-02-29T00:00:00Z"),
              (-1, "1969-12-31T23:59:59.999999999Z"),
          ])
    func format(nanoseconds: Int64, text: String) throws {
        let time = WallClockTime(nanosecondsSinceEpoch: nanoseconds)
        #expect(time.rfc3339Nano == text)
        #expect(try #require(WallClockTime(rfc3339: text)) == time)
    }

    @Test("parsing takes offsets, any number of fraction digits, and refuses malformed text")
    func parse() {
        #expect(WallClockTime(rfc3339: "2026-11-25T15:14:39+02:00")?.rfc3339Nano == "2026-11-25T13:14:39Z")
        #expect(WallClockTime(rfc3339: "2026-11-25T08:14:39-05:00")?.rfc3339Nano == "2026-11-25T13:14:39Z")
        #expect(WallClockTime(rfc3339: "2026-11-25T13:14:39.1234567891Z")?.rfc3339Nano == "2026-11-25T13:14:39.123456789Z")
        for bad in ["", "2026-11-25", "2026-11-25T13:14:39", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                    "2026-11-25T24:00:00Z", "2026-11-25T13:14:39.Z", "2026-11-25 13:14:39Z", "2026-11-25T13:14:39ZZ"] {
            #expect(WallClockTime(rfc3339: bad) == nil, "\(bad)")
        }
    }

    @Test("now is after 2020 and durations subtract")
    func now() {
        let now = WallClockTime.now()
        #expect(now > WallClockTime(rfc3339: "2020-01-01T00:00:00Z") ?? now)
        let later = WallClockTime(nanosecondsSinceEpoch: now.nanosecondsSinceEpoch + 1_500)
        #expect(later.duration(since: now) == .nanoseconds(1500))
    }
}
