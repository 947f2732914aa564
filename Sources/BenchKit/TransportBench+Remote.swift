// Followers this process cannot observe directly: child processes (`--processes`) and an already
// running peer (`--target`). They acknowledge what they received through the transport, as raft
// does (MsgAppResp naming the last index, MsgHeartbeatResp), and the leader counts the answers.
import Foundation
import Histogram
import RaftHTTP
import RaftIO

extension TransportBench {
    static func runAgainstTarget(_ options: Options) async throws -> Result {
        throw TransportBenchError.invalid("--target is not implemented yet")
    }

    static func runWithProcesses(_ options: Options) async throws -> Result {
        throw TransportBenchError.invalid("--processes is not implemented yet")
    }
}
