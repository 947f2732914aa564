// `rafthttp bench --report FILE.html`: one self-contained page (inline SVG and CSS, no script, no
// external resource) that a browser opens from disk. It draws, for this run and for the runs whose
// `--json` results are given with `--compare`:
// - the latency percentile curve against HdrHistogram's axis, 1 / (1 - p) on a log scale, so that
//   0 %, 90 %, 99 %, 99.9 %, 99.99 % ... are evenly spaced and the tail gets the room it needs;
// - messages per second, second by second;
// - a table of the headline figures, with each run's full title.
// A run read from an older `--json` file without `latency_percentiles` is drawn through the
// percentiles it has (p50, p90, p99, p99.9); one without `per_second` is left out of that chart.
import Foundation

/// The HTML report of one or more benchmark runs.
public enum BenchReport {
    /// One run as the report draws it: this run's ``TransportBench/Result``, or a `--json` file.
    public struct Run: Sendable, Hashable {
        /// A short name for the legend ("this run", a file name).
        public var label: String
        /// What ran (``TransportBench/Result/title``).
        public var title: String
        /// ``TransportBench/LatencyKind`` as its raw value.
        public var latencyKind: String
        /// Delivered messages per second over the whole run.
        public var messagesPerSecond: Double
        /// The headline percentiles, in microseconds.
        public var latency: TransportBench.Latency
        /// CPU seconds per million delivered messages.
        public var cpuSecondsPerMillionMessages: Double
        /// Messages the transport dropped.
        public var dropped: Int
        /// msgs/s for each second.
        public var perSecond: [Double]
        /// The percentile curve, percentiles below 100 in increasing order.
        public var percentiles: [TransportBench.PercentilePoint]

        /// This process's run.
        public init(label: String, result: TransportBench.Result) {
            self.label = label
            title = result.title
            latencyKind = result.latencyKind.rawValue
            messagesPerSecond = result.messagesPerSecond
            latency = result.latency
            cpuSecondsPerMillionMessages = result.cpuSecondsPerMillionMessages
            dropped = result.dropped
            perSecond = result.perSecond
            percentiles = result.percentileCurve
        }

        /// A run from the JSON object `rafthttp bench --json` prints.
        /// - Throws: ``TransportBenchError`` naming `label` when the text is not such an object.
        public init(label: String, json: Data) throws(TransportBenchError) {
            let r: JSONRun
            do {
                r = try JSONDecoder().decode(JSONRun.self, from: json)
            } catch {
                throw TransportBenchError(description: "\(label) is not the output of rafthttp bench --json: \(error)")
            }
            self.label = label
            title = r.title ?? "\(r.workload) \(r.mode), \(r.members) members\(r.tls ? ", TLS" : "")"
            latencyKind = r.latency_kind
            messagesPerSecond = r.messages_per_second
            latency = r.latency_us
            cpuSecondsPerMillionMessages = r.cpu_seconds_per_million_messages
            dropped = r.dropped
            perSecond = r.per_second ?? []
            percentiles = r.latency_percentiles ?? [
                .init(percentile: 50, us: r.latency_us.p50), .init(percentile: 90, us: r.latency_us.p90),
                .init(percentile: 99, us: r.latency_us.p99), .init(percentile: 99.9, us: r.latency_us.p999),
            ]
        }
    }

    /// The fields of `--json` the report reads; the newer ones are optional.
    private struct JSONRun: Decodable {
        var title: String?
        var workload: String
        var mode: String
        var members: Int
        var tls: Bool
        var dropped: Int
        var messages_per_second: Double
        var latency_kind: String
        var latency_us: TransportBench.Latency
        var cpu_seconds_per_million_messages: Double
        var per_second: [Double]?
        var latency_percentiles: [TransportBench.PercentilePoint]?
    }

    /// Line colours, one per run in order (colour-blind-safe, after Okabe and Ito).
    static let colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

    /// The page for `runs` (the first is drawn last, on top).
    public static func html(_ runs: [Run], generated: Date = Date()) -> String {
        let rows = runs.enumerated().map { i, r in
            "<tr><td><span class=\"swatch\" style=\"background:\(color(i))\"></span>\(escape(r.label))</td>"
                + "<td class=\"title\">\(escape(r.title))</td><td>\(format(r.messagesPerSecond, 0))</td>"
                + "<td>\(format(r.latency.p50, 1))</td><td>\(format(r.latency.p99, 1))</td>"
                + "<td>\(format(r.latency.p999, 1))</td><td>\(format(r.latency.max, 1))</td>"
                + "<td>\(format(r.cpuSecondsPerMillionMessages, 2))</td><td>\(format(Double(r.dropped), 0))</td></tr>"
        }.joined(separator: "\n")
        let kinds = Set(runs.map(\.latencyKind)).sorted().joined(separator: " and ")
        let stamp = ISO8601DateFormatter().string(from: generated)
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>rafthttp bench report</title>
        <style>
        body { font: 14px/1.4 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1000px; }
        h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 4px; }
        p.note { color: #555; margin: 2px 0 8px; }
        table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
        th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
        th:first-child, td:first-child, td.title, th.title { text-align: left; }
        td.title { white-space: normal; color: #444; font-size: 12px; }
        .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; border-radius: 2px; }
        svg { display: block; margin-top: 4px; } svg text { font-family: inherit; }
        </style></head><body>
        <h1>rafthttp bench report</h1>
        <p class="note">Generated \(stamp). Latency is \(escape(kinds)) (see the table's titles), in microseconds.</p>
        <table>
        <tr><th>run</th><th class="title">what ran</th><th>msg/s</th><th>p50 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>max µs</th><th>CPU s / M msg</th><th>drops</th></tr>
        \(rows)
        </table>
        <h2>Latency by percentile</h2>
        <p class="note">HdrHistogram's percentile axis: 1 / (1 − p) on a log scale, so each tick is ten times rarer than the one before.</p>
        \(percentileChart(runs))
        <h2>Messages per second, second by second</h2>
        \(rateChart(runs))
        </body></html>

        """
    }

    // MARK: - charts

    private static let width = 960.0, height = 400.0
    private static let left = 80.0, right = 48.0, top = 16.0, bottom = 48.0
    private static var plotWidth: Double { width - left - right }
    private static var plotHeight: Double { height - top - bottom }

    /// The latency curves; x is log10(1 / (1 - p)).
    static func percentileChart(_ runs: [Run]) -> String {
        let curves = runs.map { r in
            r.percentiles.filter { $0.percentile < 100 }.map { (x: log10(1 / (1 - $0.percentile / 100)), y: $0.us) }
        }
        let decades = max(2, Int((curves.flatMap { $0.map(\.x) }.max() ?? 2).rounded(.up)))
        let (yMax, yStep) = niceScale(curves.flatMap { $0.map(\.y) }.max() ?? 1)
        let useMilliseconds = yMax >= 10_000
        var svg = frame(yMax: yMax, yStep: yStep, yLabel: useMilliseconds ? "latency (ms)" : "latency (µs)",
                        yScale: useMilliseconds ? 1e-3 : 1, xLabel: "percentile")
        for k in 0...decades {
            let x = left + plotWidth * Double(k) / Double(decades)
            svg += grid(x1: x, y1: top, x2: x, y2: top + plotHeight)
            svg += text(x, top + plotHeight + 18, percentileLabel(k), anchor: "middle")
        }
        for (i, curve) in curves.enumerated().reversed() where !curve.isEmpty {
            let points = curve.map { p in
                (left + plotWidth * p.x / Double(decades), top + plotHeight * (1 - p.y / yMax))
            }
            svg += polyline(points, color: color(i), id: "latency-\(i)")
        }
        svg += legend(runs, atTop: true) // the curves start low on the left
        return svg + "</svg>"
    }

    /// msgs/s per second; x is the second's end.
    static func rateChart(_ runs: [Run]) -> String {
        let seconds = max(1, runs.map(\.perSecond.count).max() ?? 1)
        let (yMax, yStep) = niceScale(runs.flatMap(\.perSecond).max() ?? 1)
        var svg = frame(yMax: yMax, yStep: yStep, yLabel: "messages/s", yScale: 1, xLabel: "seconds")
        let (_, xStep) = niceScale(Double(seconds), ticks: 10)
        var t = 0.0
        while t <= Double(seconds) + 1e-9 {
            let x = left + plotWidth * t / Double(seconds)
            svg += grid(x1: x, y1: top, x2: x, y2: top + plotHeight)
            svg += text(x, top + plotHeight + 18, format(t, 0), anchor: "middle")
            t += max(1, xStep)
        }
        for (i, run) in runs.enumerated().reversed() where !run.perSecond.isEmpty {
            let points = run.perSecond.enumerated().map { s, rate in
                (left + plotWidth * Double(s + 1) / Double(seconds), top + plotHeight * (1 - rate / yMax))
            }
            svg += polyline(points, color: color(i), id: "rate-\(i)", markers: true)
        }
        svg += legend(runs, atTop: false) // rates run high
        return svg + "</svg>"
    }

    /// The SVG element, the plot's border, the horizontal grid with its labels, the axis titles.
    private static func frame(yMax: Double, yStep: Double, yLabel: String, yScale: Double, xLabel: String) -> String {
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-size=\"12\">\n"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"#fff\" stroke=\"#999\"/>\n"
        var v = 0.0
        while v <= yMax + yStep / 2 {
            let y = top + plotHeight * (1 - v / yMax)
            svg += grid(x1: left, y1: y, x2: left + plotWidth, y2: y)
            svg += text(left - 6, y + 4, axisNumber(v * yScale, step: yStep * yScale), anchor: "end")
            v += yStep
        }
        svg += text(left + plotWidth / 2, height - 8, xLabel, anchor: "middle")
        svg += "<text x=\"16\" y=\"\(top + plotHeight / 2)\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 16 \(top + plotHeight / 2))\">\(escape(yLabel))</text>\n"
        return svg
    }

    /// The runs' colours and labels in the plot's top-left or bottom-left corner, on a white box.
    private static func legend(_ runs: [Run], atTop: Bool) -> String {
        let rowHeight = 16.0
        let boxHeight = Double(runs.count) * rowHeight + 8
        let boxWidth = 40 + 7 * Double(runs.map(\.label.count).max() ?? 10)
        let boxTop = atTop ? top + 6 : top + plotHeight - 6 - boxHeight
        var svg = "<rect x=\"\(left + 6)\" y=\"\(rounded(boxTop))\" width=\"\(rounded(boxWidth))\" height=\"\(rounded(boxHeight))\" "
            + "fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#ddd\"/>\n"
        for (i, run) in runs.enumerated() {
            let y = boxTop + 16 + Double(i) * rowHeight
            svg += "<line x1=\"\(left + 12)\" y1=\"\(rounded(y - 4))\" x2=\"\(left + 32)\" y2=\"\(rounded(y - 4))\" "
                + "stroke=\"\(color(i))\" stroke-width=\"2.5\"/>"
            svg += text(left + 38, y, run.label, anchor: "start")
        }
        return svg
    }

    private static func polyline(_ points: [(Double, Double)], color: String, id: String, markers: Bool = false) -> String {
        let list = points.map { "\(rounded($0.0)),\(rounded($0.1))" }.joined(separator: " ")
        var svg = "<polyline class=\"series\" id=\"\(id)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" "
            + "stroke-linejoin=\"round\" points=\"\(list)\"/>\n"
        if markers, points.count <= 120 {
            for p in points { svg += "<circle cx=\"\(rounded(p.0))\" cy=\"\(rounded(p.1))\" r=\"2.5\" fill=\"\(color)\"/>" }
            svg += "\n"
        }
        return svg
    }

    private static func grid(x1: Double, y1: Double, x2: Double, y2: Double) -> String {
        "<line x1=\"\(rounded(x1))\" y1=\"\(rounded(y1))\" x2=\"\(rounded(x2))\" y2=\"\(rounded(y2))\" stroke=\"#e4e4e4\"/>\n"
    }

    private static func text(_ x: Double, _ y: Double, _ s: String, anchor: String) -> String {
        "<text x=\"\(rounded(x))\" y=\"\(rounded(y))\" text-anchor=\"\(anchor)\">\(escape(s))</text>\n"
    }

    // MARK: - scales and text

    /// 0 %, 90 %, 99 %, 99.9 %, ... for k = 0, 1, 2, 3, ... decades of 1 / (1 - p).
    static func percentileLabel(_ k: Int) -> String {
        switch k {
        case 0: "0%"
        case 1: "90%"
        default: "99" + (k > 2 ? "." + String(repeating: "9", count: k - 2) : "") + "%"
        }
    }

    /// An axis maximum at or above `value` and a step of 1, 2 or 5 times a power of ten giving
    /// about `ticks` steps.
    static func niceScale(_ value: Double, ticks: Int = 5) -> (maximum: Double, step: Double) {
        guard value > 0, value.isFinite else { return (1, 0.2) }
        let raw = value / Double(ticks)
        let power = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
        return ((value / step).rounded(.up) * step, step)
    }

    /// A tick label short enough to leave room for the axis title: 2.5M, 500k, 20, 0.5.
    static func axisNumber(_ value: Double, step: Double) -> String {
        func trimmed(_ v: Double) -> String {
            let text = format(v, 1)
            return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
        }
        if value == 0 { return "0" }
        if step >= 100_000 { return trimmed(value / 1e6) + "M" }
        if step >= 10_000 && value >= 1000 { return trimmed(value / 1e3) + "k" }
        return step < 1 ? format(value, 1) : format(value, 0)
    }

    private static func color(_ i: Int) -> String { colors[i % colors.count] }

    private static func rounded(_ v: Double) -> String { format(v, 1) }

    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }
}
