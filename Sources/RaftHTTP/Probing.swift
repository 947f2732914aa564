// Probing without sockets: the `/raft/probing` answer's body, the round-trip and clock-drift
// estimate (github.com/xiang90/probing's `status`), and the monitor that decides when to warn
// (`probing_status.go: monitorProbingStatus`; spec 1.9, 4.4).
//
// Happy path: every 4 s the prober GETs `/raft/probing`; the peer answers 200 with
// `{"OK":true,"Now":"<RFC3339Nano>"}\n`; `record` folds the round trip into the smoothed RTT and
// estimates the clock difference as `localNow − remoteNow − SRTT/2`. The monitor checks every 30 s
// and records SRTT in `etcd_network_peer_round_trip_time_seconds`. Failure modes: a non-200 answer,
// a body that is not that JSON, or `OK:false` → `recordFailure`: the status is unhealthy and the
// monitor warns "prober detected unhealthy status" and checks again after 5 s; a clock difference
// above 1 s → "prober found high clock drift" (positive drift only: a peer ahead of us is not
// reported, as in etcd).

/// Namespace for the probing pieces that need no I/O.
enum Probing {
    /// Log message of an unhealthy probe status.
    static let unhealthyMessage = "prober detected unhealthy status"
    /// Log message of a clock drift above ``Wire/Timeout/clockDriftWarning``.
    static let clockDriftMessage = "prober found high clock drift"
    /// etcd's name for the prober that uses the pipeline's client (the metadata `round-tripper-name`).
    static let snapshotRoundTripper = "ROUND_TRIPPER_SNAPSHOT"
    /// etcd's name for the prober that uses the stream client.
    static let raftMessageRoundTripper = "ROUND_TRIPPER_RAFT_MESSAGE"

    /// The body of a `/raft/probing` answer: `{"OK":true,"Now":"2026-11-25T13:14:39.638732033Z"}\n`.
    struct Response: Hashable, Sendable {
        /// Whether the peer considers itself healthy; etcd always says `true`.
        var ok: Bool
        /// The peer's wall clock when it answered; `nil` when the body left it out.
        var now: WallClockTime?

        init(ok: Bool = true, now: WallClockTime?) {
            self.ok = ok
            self.now = now
        }

        /// The exact bytes etcd writes (`json.NewEncoder(w).Encode`, hence the newline). A missing
        /// `now` is written as Go's zero time, `0001-01-01T00:00:00Z`.
        func encoded() -> [UInt8] {
            let time = now?.rfc3339Nano ?? "0001-01-01T00:00:00Z"
            return Array(#"{"OK":\#(ok),"Now":"\#(time)"}"#.utf8) + [UInt8(ascii: "\n")]
        }

        /// Decodes a body as Go's `json.Decoder` would into etcd's `Health` struct: keys matched
        /// case-insensitively, in any order, unknown keys ignored, whitespace allowed, one trailing
        /// newline or other whitespace after the object. `nil` for anything that is not such an
        /// object, or whose `Now` is not RFC 3339.
        init?(decoding body: some Collection<UInt8>) {
            var scanner = JSONScanner(Array(body))
            guard let fields = scanner.flatObject(), scanner.atEndAfterWhitespace() else { return nil }
            var ok = false
            var now: WallClockTime?
            for (key, value) in fields {
                switch (key.lowercased(), value) {
                case ("ok", .bool(let flag)): ok = flag
                case ("ok", .null): break
                case ("ok", _): return nil
                case ("now", .string(let text)):
                    guard let parsed = WallClockTime(rfc3339: text) else { return nil }
                    now = parsed
                case ("now", .null): break
                case ("now", _): return nil
                default: break
                }
            }
            self.init(ok: ok, now: now)
        }
    }

    /// The statistics of one prober: smoothed round-trip time and clock difference
    /// (xiang90/probing's `status`). A value type: its owner (a prober on a loop thread) keeps it.
    struct Status: Hashable, Sendable {
        /// Weight of a new sample in the SRTT (`α`).
        static let alpha = 0.125

        /// SRTT ← (1−α)·SRTT + α·RTT, starting from 0 (so the first sample counts for α only, as
        /// in etcd), in whole nanoseconds.
        private(set) var smoothedRTTNanoseconds: Int64 = 0
        /// `localNow − remoteNow − SRTT/2` at the last success: positive when the peer's clock is
        /// behind ours.
        private(set) var clockDifferenceNanoseconds: Int64 = 0
        /// Probes so far, and failed ones.
        private(set) var total = 0
        private(set) var loss = 0
        /// Whether the last probe succeeded; `false` before the first.
        private(set) var isHealthy = false
        /// Why the last probe failed; `nil` after a success.
        private(set) var lastError: String?

        /// The smoothed round-trip time.
        var smoothedRTT: Duration { .nanoseconds(smoothedRTTNanoseconds) }
        /// The estimated clock difference.
        var clockDifference: Duration { .nanoseconds(clockDifferenceNanoseconds) }

        /// Folds in a successful probe that took `rtt` and whose answer said `remoteNow`, received
        /// at `localNow`.
        mutating func record(rtt: Duration, remoteNow: WallClockTime, localNow: WallClockTime) {
            total += 1
            isHealthy = true
            let smoothed = (1 - Self.alpha) * Double(smoothedRTTNanoseconds) + Self.alpha * Double(rtt.nanoseconds)
            smoothedRTTNanoseconds = Int64(smoothed)  // truncates toward zero, as Go's conversion
            clockDifferenceNanoseconds = (localNow.nanosecondsSinceEpoch &- remoteNow.nanosecondsSinceEpoch)
                - smoothedRTTNanoseconds / 2
            lastError = nil
        }

        /// Counts a failed probe.
        mutating func recordFailure(_ reason: String) {
            total += 1
            loss += 1
            isHealthy = false
            lastError = reason
        }

        /// Forgets everything (the peer's URLs changed).
        mutating func reset() { self = Status() }
    }

    /// When to look at a prober's status and what to report (`monitorProbingStatus`).
    struct Monitor: Hashable, Sendable {
        /// What one check found.
        struct Check: Hashable, Sendable {
            /// Warn "prober detected unhealthy status".
            var unhealthy: Bool
            /// Warn "prober found high clock drift".
            var highClockDrift: Bool
            /// Record this in `etcd_network_peer_round_trip_time_seconds`.
            var smoothedRTT: Duration
            /// Check again after this long.
            var nextCheck: Duration
        }

        /// The first check comes early (5 s) so a peer that is down from the start is reported soon.
        private(set) var interval: Duration = Wire.Timeout.probeMonitorUnhealthy

        /// Looks at `status`; call it `interval` after the previous check.
        mutating func check(_ status: Status) -> Check {
            interval = status.isHealthy ? Wire.Timeout.probeMonitorHealthy : Wire.Timeout.probeMonitorUnhealthy
            return Check(unhealthy: !status.isHealthy,
                         highClockDrift: status.clockDifference > Wire.Timeout.clockDriftWarning,
                         smoothedRTT: status.smoothedRTT, nextCheck: interval)
        }
    }
}

/// Just enough JSON to read one flat object of scalars, as the probing answer is.
private struct JSONScanner {
    enum Value: Hashable { case string(String), bool(Bool), null, number }

    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func consume(literal: String) -> Bool {
        let literalBytes = Array(literal.utf8)
        guard index + literalBytes.count <= bytes.count,
              Array(bytes[index ..< index + literalBytes.count]) == literalBytes else { return false }
        index += literalBytes.count
        return true
    }

    mutating func atEndAfterWhitespace() -> Bool {
        skipWhitespace()
        return index == bytes.count
    }

    /// `{ "key": scalar, ... }`; `nil` on anything else (nested values included).
    mutating func flatObject() -> [(String, Value)]? {
        guard consume(UInt8(ascii: "{")) else { return nil }
        var fields: [(String, Value)] = []
        if consume(UInt8(ascii: "}")) { return fields }
        repeat {
            skipWhitespace()
            guard let key = string(), consume(UInt8(ascii: ":")), let value = scalar() else { return nil }
            fields.append((key, value))
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "}")) ? fields : nil
    }

    private mutating func scalar() -> Value? {
        skipWhitespace()
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string().map(Value.string)
        case UInt8(ascii: "t"): return consume(literal: "true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return consume(literal: "false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return consume(literal: "null") ? .null : nil
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"):
            let start = index
            while index < bytes.count, Array("+-.eE0123456789".utf8).contains(bytes[index]) { index += 1 }
            return index > start ? .number : nil
        default: return nil
        }
    }

    private mutating func string() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flushRaw() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw.removeAll()
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                flushRaw()
                return String(scalars)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): raw.append(escaped)
                case UInt8(ascii: "b"): raw.append(0x08)
                case UInt8(ascii: "f"): raw.append(0x0C)
                case UInt8(ascii: "n"): raw.append(0x0A)
                case UInt8(ascii: "r"): raw.append(0x0D)
                case UInt8(ascii: "t"): raw.append(0x09)
                case UInt8(ascii: "u"):
                    guard index + 4 <= bytes.count,
                          let code = UInt32(String(decoding: bytes[index ..< index + 4], as: UTF8.self), radix: 16)
                    else { return nil }
                    index += 4
                    flushRaw()
                    scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")  // lone surrogates, as Go does
                default: return nil
                }
            case 0x00 ..< 0x20: return nil
            default: raw.append(byte)
            }
        }
        return nil
    }
}
