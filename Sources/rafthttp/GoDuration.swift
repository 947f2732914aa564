// Durations in Go's `time.ParseDuration` form ("5s", "500ms", "1m30s", "1.5s"), as etcd's duration
// flags take them, so that the same values start either member.
import ArgumentParser

/// A duration flag value written as Go writes one.
struct GoDuration: ExpressibleByArgument, Sendable {
    let value: Duration

    init?(argument: String) {
        guard let value = Self.parse(argument) else { return nil }
        self.value = value
    }

    init(_ value: Duration) { self.value = value }

    var defaultValueDescription: String { "\(value)" }

    /// Units Go accepts, longest spelling first so that "ms" is not read as "m".
    private static let units: [(String, Double)] = [
        ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
    ]

    /// Parses a sequence of decimal numbers each with a unit; nil when malformed or negative.
    static func parse(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        var rest = Substring(text)
        var seconds = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let n = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            seconds += n * scale
        }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
