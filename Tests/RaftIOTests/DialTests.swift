import Foundation
import RaftIO
import Testing
import TestSupport

@Suite("Dialing: refusals and timeouts")
struct DialTests {
    @Test("dialing a closed port fails fast with connection refused")
    func refused() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            // Bind then close, so the port is known to be free.
            let l = try await echoListener(on: loop)
            let port = l.port
            l.close()
            await l.waitClosed()
            // A dial timeout far beyond the hang guard below: a refusal is told from a timeout by the
            // error's kind, and "fast" means long before the timeout could have fired.
            let start = ContinuousClock.now
            do {
                _ = try await Connection.connect(host: "127.0.0.1", port: port, on: loop, timeout: .seconds(120))
                Issue.record("connected to a closed port")
            } catch let e as RaftIOError {
                #expect(e.kind == .connectionRefused)
                #expect(e.message == "uv_tcp_connect(): connection refused")
            }
            #expect(ContinuousClock.now - start < timeBound(.seconds(30)), "refusal must not wait for the timeout")
        }
    }

    @Test("a dial timeout fires against a listener whose accept queue is full")
    func timeout() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            // A raw socket listening with backlog 0 that never accepts: once its queue is full the
            // kernel drops further SYNs, and connect never completes.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            #expect(listen(fd, 0) == 0)
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            let port = Int(UInt16(bigEndian: addr.sin_port))
            var held: [Connection] = []
            var timedOut: RaftIOError?
            for _ in 0..<16 {
                let start = ContinuousClock.now
                do {
                    held.append(try await Connection.connect(host: "127.0.0.1", port: port, on: loop, timeout: .milliseconds(300)))
                } catch let e as RaftIOError {
                    let elapsed = ContinuousClock.now - start
                    // Not before the timeout; after it only a hang guard (100x): the task that
                    // measures may itself wait to be scheduled on a busy machine.
                    #expect(elapsed >= .milliseconds(290))
                    #expect(elapsed < timeBound(.seconds(30)))
                    timedOut = e
                    break
                }
            }
            #expect(timedOut?.kind == .timedOut)
            #expect(timedOut?.message == "dial: timed out connecting")
            for c in held { c.close(graceful: false) }
        }
    }

    @Test("a name that does not resolve fails with the resolver's reason")
    func unresolvable() async throws {
        try await withEventLoop { group in
            do {
                _ = try await Connection.connect(host: "no-such-host.invalid", port: 80, on: group.next())
                Issue.record("resolved an .invalid name")
            } catch let e as RaftIOError {
                #expect(e.kind == .addressResolution)
                #expect(e.message.hasPrefix("uv_getaddrinfo(): "))
            }
        }
    }

    @Test("binding a port in use fails with a clear error")
    func addressInUse() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let first = try await echoListener(on: loop)
            do {
                _ = try await Listener.bind(host: "127.0.0.1", port: first.port, on: loop) { _ in }
                Issue.record("bound a port twice")
            } catch let e as RaftIOError {
                #expect(e.kind == .bind)
                #expect(e.message == "uv_listen(): address already in use (127.0.0.1 port \(first.port))"
                        || e.message == "uv_tcp_bind(): address already in use (127.0.0.1 port \(first.port))")
            }
            first.close()
        }
    }
}
