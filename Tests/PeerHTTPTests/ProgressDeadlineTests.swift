import Foundation
import HTTPTypes
import PeerHTTP
import RaftIO
import Testing
import TestSupport

/// A server on a raw RaftIO listener: accepts, reads the request, and answers as `answer` says.
private final class ScriptedServer: Sendable {
    enum Answer: Sendable {
        /// Never a byte back: the request hangs (a stopped process, a blackhole above TCP).
        case silence
        /// A chunked 200 whose `chunks` one-byte chunks come `gap` apart.
        case trickle(chunks: Int, gap: Duration)
    }

    let listener: Listener

    init(answer: Answer, on loop: EventLoop) async throws {
        listener = try await Listener.bind(host: "127.0.0.1", port: 0, on: loop) { connection in
            guard case .trickle(let chunks, let gap) = answer else { return } // keep it open, say nothing
            _ = try? connection.write(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
            var left = chunks
            var timer: LoopTimer?
            timer = connection.loop.scheduleTimer(after: gap.milliseconds, repeating: gap.milliseconds) {
                left -= 1
                _ = try? connection.write(Array(left == 0 ? "1\r\nx\r\n0\r\n\r\n".utf8 : "1\r\nx\r\n".utf8))
                if left == 0 { timer?.cancel(); timer = nil }
            }
        }
    }

    var url: String { "http://127.0.0.1:\(listener.port)/" }

    func close() async {
        listener.close()
        await listener.waitClosed()
    }
}

extension Duration {
    fileprivate var milliseconds: UInt64 { UInt64(components.seconds) * 1000 + UInt64(components.attoseconds / 1_000_000_000_000_000) }
}

@Suite("Client progress deadline: no byte moved for the timeout fails the request; a slow but moving one completes")
struct ProgressDeadlineTests {
    @Test("a request to a server that accepts and never answers fails as stalled, not before its progress timeout")
    func silentServer() async throws {
        try await withEventLoop { group in
            let server = try await ScriptedServer(answer: .silence, on: group.next())
            let client = HTTPClient(eventLoopGroup: group)
            let started = ContinuousClock.now
            // The hang guard (withDeadline, 30 s) is a hundred times the timeout.
            let error = try await withDeadline(.seconds(30), "the stalled request") {
                do {
                    _ = try await client.execute(HTTPClientRequest(url: server.url, progressTimeout: .milliseconds(300)))
                    return nil as HTTPClientError?
                } catch let e as HTTPClientError {
                    return e
                }
            }
            #expect(error?.code == .stalled)
            #expect(error?.description == "GET \(server.url): no progress: no bytes moved for 300 ms")
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            // The close completes on the loop after the error was delivered: wait for it.
            try await eventually(.seconds(10), "the stalled connection closed") { client.connectionStatistics.open == 0 }
            await server.close()
        }
    }

    @Test("a response that trickles for longer than the progress timeout, a byte well within it each time, completes")
    func slowButMoving() async throws {
        try await withEventLoop { group in
            // 20 bytes 50 ms apart (about 1 s in all) against a 500 ms progress timeout: a total
            // deadline would fail it, a progress deadline must not. The gap is a tenth of the
            // timeout, so a loaded machine's late timers cannot make it look stalled.
            let server = try await ScriptedServer(answer: .trickle(chunks: 20, gap: .milliseconds(50)), on: group.next())
            let client = HTTPClient(eventLoopGroup: group)
            let started = ContinuousClock.now
            let body = try await withDeadline(.seconds(60), "the trickled response") {
                let response = try await client.execute(HTTPClientRequest(url: server.url, progressTimeout: .milliseconds(500)))
                return try await response.body.collect(upTo: 1024)
            }
            #expect(body == Array(repeating: UInt8(ascii: "x"), count: 20))
            #expect(ContinuousClock.now - started > .milliseconds(500), "the transfer outlasted the timeout")
            await server.close()
        }
    }
}
