import ArgumentParser
import BenchKit

/// `rafthttp io-bench`: loopback throughput and latency of the I/O core, plain and TLS.
struct IOBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io-bench",
        abstract: "Measure the I/O core on loopback: bulk throughput, 64-byte frames, ping-pong."
    )

    @Option(help: "MiB to send in each bulk run.")
    var bulkMiB = 1024

    @Option(help: "Frames to send in each 64-byte frame run.")
    var frames = 20_000_000

    @Option(help: "Round trips in each ping-pong run.")
    var roundTrips = 50_000

    @Flag(help: "Skip the TLS runs.")
    var noTLS = false

    func run() async throws {
        let tls: TLSPair? = noTLS ? nil : try TLSPair.ephemeral()
        var results: [IOBench.Result] = []
        for pair in [nil] + (tls.map { [$0] } ?? []) {
            results.append(try await IOBench.bulk(total: bulkMiB << 20, writeSize: 64 << 10, tls: pair))
            results.append(try await IOBench.bulk(total: bulkMiB << 20, writeSize: 1 << 20, tls: pair))
            results.append(try await IOBench.frames(count: frames, tls: pair))
            results.append(try await IOBench.pingPong(count: roundTrips, tls: pair))
        }
        print(Table.render(
            header: ["workload", "GB/s", "ops/s", "µs/op", "ops per socket write"],
            rows: results.map { r in
                [r.name, format(r.gigabytesPerSecond, 2), format(r.operationsPerSecond, 0),
                 format(r.seconds * 1e6 / Double(r.operations), 2),
                 format(Double(r.operations) / Double(max(1, r.socketWrites)), 1)]
            }))
    }
}
