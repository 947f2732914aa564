// Duration to the integer units that libuv timers, dial timeouts, metrics and reports take: the
// one place in the package that takes a Duration's components apart.

extension Duration {
    /// Whole milliseconds, truncated; negative durations count as zero. For loop timers and dial
    /// timeouts.
    package var milliseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (product, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        return overflow ? .max : product &+ UInt64(attoseconds / 1_000_000_000_000_000)
    }

    /// Whole milliseconds, at least 1: a libuv timer of 0 would fire on the next loop turn, not
    /// after a wait.
    package var timerMilliseconds: UInt64 { max(1, milliseconds) }

    /// Whole nanoseconds, truncated toward zero (saturating far outside ±292 years).
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product &+ attoseconds / 1_000_000_000
    }

    /// The duration in seconds, as a Double (for reports and rates).
    package var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
