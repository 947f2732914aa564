// `rafthttp bench --report FILE.html --compare A.json`: the page is written, self-contained, and
// holds the series it promises (the percentile curve and msgs/s per second of each run); `--json`
// carries the per-second rates and the percentile curve the comparison reads. What the page looks
// like was checked in a browser (docs/images/bench-report.png), not here.
import Foundation
import Testing
import TestSupport

@Suite("rafthttp bench --report and --compare", .serialized,
       .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"),
       .timeLimit(.minutes(5))) // with the wait for ResourceGate, which exclusive tests hold for minutes in a full run
struct BenchReportTests {
    @Test("--json carries msgs/s per second and the latency percentile curve")
    func jsonSeries() async throws {
        // Child processes hold pipes: alongside other such tests, never beside one that counts descriptors.
        try await ResourceGate.shared {
            let r = try await runTool(["bench", "--members", "2", "--duration", "2", "--window", "64", "--json", "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let perSecond = try #require(json["per_second"] as? [Double], "\(r.stdout)")
            #expect(perSecond.count >= 2 && perSecond.allSatisfy { $0 > 0 }, "\(perSecond)")
            let curve = try #require(json["latency_percentiles"] as? [[String: Double]], "\(r.stdout)")
            let percentiles = curve.compactMap { $0["percentile"] }
            #expect(curve.count >= 10)
            #expect(percentiles.first == 0 && percentiles.allSatisfy { $0 < 100 })
            #expect(percentiles == percentiles.sorted())
            #expect((json["title"] as? String)?.hasPrefix("rafthttp bench: msgapp") == true)
        }
    }

    @Test("--report writes one self-contained page with both runs' percentile curves and msgs/s series")
    func reportWithComparison() async throws {
        // Child processes hold pipes: alongside other such tests, never beside one that counts descriptors.
        try await ResourceGate.shared {
            let dir = NSTemporaryDirectory() + "bench-report-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let earlier = try await runTool(["bench", "--members", "2", "--duration", "2", "--window", "64", "--json", "--quiet"])
            #expect(earlier.status == 0, "\(earlier.stderr)")
            try earlier.stdout.write(toFile: dir + "/plain.json", atomically: true, encoding: .utf8)

            let r = try await runTool(["bench", "--members", "2", "--duration", "2", "--workload", "heartbeat", "--quiet",
                                       "--report", dir + "/report.html", "--compare", dir + "/plain.json"])
            #expect(r.status == 0, "\(r.stderr)")
            let page = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
            #expect(page.hasPrefix("<!DOCTYPE html>"))
            // Both runs, in both charts, with the legend's labels and the run's titles.
            for id in ["latency-0", "latency-1", "rate-0", "rate-1"] {
                #expect(page.contains("class=\"series\" id=\"\(id)\""), "no series \(id)")
            }
            #expect(page.contains(">this run</text>") && page.contains(">plain.json</text>"))
            #expect(page.contains("rafthttp bench: heartbeat") && page.contains("rafthttp bench: msgapp"))
            // HdrHistogram's percentile axis.
            for tick in [">0%<", ">90%<", ">99%<", ">99.9%<"] { #expect(page.contains(tick), "no tick \(tick)") }
            // Self-contained: no script, and nothing fetched (the only URL is SVG's namespace).
            #expect(!page.contains("<script"))
            #expect(!page.contains("src=") && !page.contains("href=") && !page.contains("@import"))
            let urls = page.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            #expect(!urls.contains("http://") && !urls.contains("https://") && !urls.contains("url("))
        }
    }

    @Test("--compare without --report is a usage error; an unreadable comparison fails before the run")
    func compareErrors() async throws {
        // Child processes hold pipes: alongside other such tests, never beside one that counts descriptors.
        try await ResourceGate.shared {
            let usage = try await runTool(["bench", "--compare", "a.json"])
            #expect(usage.status == 64)
            #expect(usage.stderr.hasPrefix("Error: --compare draws beside this run in --report: give --report FILE.html\nUsage: rafthttp bench"),
                    "\(usage.stderr)")
            let missing = NSTemporaryDirectory() + "no-such-run-\(UInt32.random(in: 0...UInt32.max)).json"
            let runtime = try await runTool(["bench", "--report", NSTemporaryDirectory() + "unused.html", "--compare", missing])
            #expect(runtime.status == 1)
            #expect(runtime.stderr.hasPrefix("Error: ") && runtime.stderr.contains("no-such-run-") && !runtime.stderr.contains("Usage:"),
                    "\(runtime.stderr)")
            #expect(!runtime.stdout.contains("messages/s"), "the benchmark ran: \(runtime.stdout)")
        }
    }
}
