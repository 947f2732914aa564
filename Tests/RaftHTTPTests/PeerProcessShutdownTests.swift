import Foundation
import RaftHTTP
import Testing
import TestSupport

@Suite("rafthttp peer under a ServiceGroup: SIGTERM and SIGINT are graceful shutdown",
       .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"))
struct PeerProcessShutdownTests {
    @Test("SIGTERM or SIGINT: the member closes its streams (its peer sees it inactive at once, not at the read timeout), logs its stop and exits 0", arguments: [SIGTERM, SIGINT])
    func gracefulShutdown(signal: Int32) async throws {
        let executable = try #require(PeerProcess.executable)
        try await ResourceGate.shared {
            // A read timeout far above the test's length: only the member's own closing of its
            // streams can tell our side in time.
            let cluster = try await PeerProcessCluster(executable: executable, inProcess: 1) {
                $0.connectionReadTimeout = .seconds(600)
            }
            do {
                try await cluster.waitUntilConnected(timeout: .seconds(20))
                let child = try #require(cluster.child)
                let status = await child.stop(with: signal)
                #expect(status == 0, "exit status \(status)\n\(child.logTail())")
                #expect(child.log.contains("graceful shutdown"), "\(child.logTail())")
                #expect(child.log.contains("stopped Swift member"), "\(child.logTail())")
                let transport = cluster[0].transport
                let childID = cluster.childID
                try await eventually(.seconds(30), "the member's streams closed: inactive, nothing read or attached: \(transport.statistics(peer: childID).map { "\($0)" } ?? "")") {
                    guard let s = transport.statistics(peer: childID) else { return false }
                    return !s.isActive && !s.msgAppStreamReading && !s.messageStreamReading
                        && !s.msgAppStreamAttached && !s.messageStreamAttached
                }
            } catch {
                await cluster.stop()
                throw error
            }
            await cluster.stop()
        }
    }
}
