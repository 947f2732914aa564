import Foundation
import RaftIO
import Testing
import TestSupport

/// A handler that records reads into a buffer and never pauses by itself.
final class CountingHandler: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: `count` is written on the loop thread and read through loop.submit.
    var count = 0
    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) { count += bytes.count }
}

@Suite("Lifecycle: half-close, pausing, closing, stopping")
struct LifecycleTests {
    @Test("half-close: the peer sees EOF and can still answer")
    func halfClose() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            // The echo handler closes after EOF, once its echo is written.
            let listener = try await echoListener(on: loop)
            let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop)
            try conn.write(Array("last words".utf8))
            conn.shutdownOutput()
            #expect(throws: RaftIOError.self) { try conn.write([1]) }
            var got: [UInt8] = []
            while let chunk = try await conn.read() { got += chunk }
            #expect(got == Array("last words".utf8))
            conn.close()
            #expect(await conn.waitClosed() == nil)
            listener.close()
        }
    }

    @Test("a paused reader pauses the socket: the writer's queue grows instead of the reader's memory")
    func pausedReader() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let handler = CountingHandler()
            let accepted = AsyncStreamPair<Connection>()
            let listener = try await Listener.bind(host: "127.0.0.1", port: 0, on: loop) { c in
                c.setHandler(handler)
                c.pauseReading()
                accepted.send(c)
            }
            let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop)
            let server = await accepted.next()
            let chunk = [UInt8](repeating: 1, count: 1 << 20)
            for _ in 0..<64 { try conn.write(chunk) }
            // Wait until the kernel buffers are full: the socket writes stop making progress.
            var last = -1
            while conn.queuedBytes != last {
                last = conn.queuedBytes
                _ = try await loop.submit { () }  // one loop turn
                _ = try await loop.submit { () }
            }
            let delivered = try await loop.submit { handler.count }
            #expect(delivered == 0, "a paused reader must not be handed bytes")
            #expect(conn.queuedBytes > 32 << 20, "the writer keeps what the paused socket does not take")
            server.resumeReading()
            try await conn.waitForQueue(below: 1)
            conn.close()
            await conn.waitClosed()
            server.close()
            listener.close()
        }
    }

    @Test("closing a connection in the middle of a large write neither crashes nor leaks")
    func closeDuringWrite() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let listener = try await Listener.bind(host: "127.0.0.1", port: 0, on: loop) { c in
                c.setHandler(CountingHandler())
            }
            for graceful in [false, true] {
                let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop)
                let big = [UInt8](repeating: 2, count: 64 << 20)
                try conn.write(big)
                conn.close(graceful: graceful)
                _ = await conn.waitClosed()
                #expect(conn.isClosed)
                #expect(throws: RaftIOError.self) { try conn.write([1]) }
                await #expect(throws: RaftIOError.self) { try await conn.waitForQueue(below: 1) }
            }
            listener.close()
        }
    }

    @Test("loops that spin after activity still stop: the spin handle is closed with the others")
    func spinningLoopsStop() async throws {
        try await ResourceGate.shared {
            let group = try EventLoopGroup(loopCount: 2, spin: .microseconds(200))
            let listener = try await echoListener(on: group.loops[0])
            let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: group.loops[1])
            for i in 0..<50 {
                try conn.write([UInt8(i)])
                _ = try await readExactly(1, from: conn)
            }
            // Stop right after traffic, while the loops are spinning: shutdown must return.
            try await withDeadline(.seconds(10), "shutdown of spinning loops") { group.shutdown() }
            #expect(await conn.waitClosed()?.kind == .eventLoopStopped)
        }
    }

    @Test("stopping the loop closes open connections with a clear error")
    func stopClosesEverything() async throws {
        try await ResourceGate.shared {
            let group = try EventLoopGroup(loopCount: 1)
            let loop = group.next()
            let listener = try await echoListener(on: loop)
            let conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop)
            group.shutdown()
            let error = await conn.waitClosed()
            #expect(error?.kind == .eventLoopStopped)
            #expect(error?.message == "event loop stopped")
            await listener.waitClosed()
            #expect(!loop.execute {})
        }
    }

    @Test("after all of this, stopping the loops leaves no descriptor, thread or connection object behind")
    func noLeaks() async throws {
        try await ResourceGate.exclusive {
            // libuv's resolver pool starts on the first name lookup and lives for the process:
            // warm it up before taking the baseline.
            let warm = try EventLoopGroup(loopCount: 1)
            let l0 = try await echoListener(on: warm.next())
            let c0 = try await Connection.connect(host: "localhost", port: l0.port, on: warm.next())
            c0.close()
            await c0.waitClosed()
            warm.shutdown()

            // Certificates are made by child processes, whose pipes and helper threads belong to
            // Foundation: make them before the baseline too.
            let certs = TestCertificates.shared
            let serverTLS = try TLSContext(configuration: certs.server(clientAuth: .require), role: .server)
            let clientTLS = try TLSContext(configuration: certs.client(), role: .client)
            // An earlier test's loops and connection objects may still be going away when the
            // gate opens (a thread exiting, a last reference released): wait for no loop thread,
            // then read the baseline; connection objects are compared as at most the baseline.
            try await eventually(.seconds(30), "no event loop thread left from earlier tests") {
                ProcessResources.threads(named: "rio-loop") == 0
            }
            let fds = ProcessResources.openFileDescriptors()
            let threads = ProcessResources.threads()
            let objects = Connection.liveCount
            let group = try EventLoopGroup(loopCount: 2)
            let plain = try await echoListener(on: group.loops[0])
            let tls = try await echoListener(on: group.loops[1], tls: serverTLS)
            var open: [Connection] = []
            for i in 0..<40 {
                let loop = group.loops[i % 2]
                let c = try await Connection.connect(host: "127.0.0.1", port: i % 2 == 0 ? plain.port : tls.port,
                                                     on: loop, tls: i % 2 == 0 ? nil : clientTLS)
                try c.write([UInt8](repeating: 3, count: 100_000))
                _ = try await readExactly(100_000, from: c)
                if i % 3 == 0 { c.close() } else { open.append(c) } // the rest stay open until the stop
            }
            #expect(ProcessResources.openFileDescriptors() > fds)
            #expect(ProcessResources.threads(named: "rio-loop") == 2)
            group.shutdown()
            for c in open { await c.waitClosed() }
            open.removeAll()
            // Every accepted and dialed connection's C object is freed once its last holder let go.
            try await eventually(.seconds(30), "connection objects freed (\(Connection.liveCount) live, \(objects) before)") {
                Connection.liveCount <= objects
            }
            #expect(ProcessResources.openFileDescriptors() <= fds)
            #expect(ProcessResources.threads(named: "rio-loop") == 0)
            #expect(ProcessResources.threads() <= threads, "threads before: \(threads), after: \(ProcessResources.threads())")
        }
    }
}

@Suite("Timers")
struct TimerTests {
    @Test("a timer whose callback captures the timer is freed once cancelled, or once its loop stopped", arguments: [false, true])
    func timerReleasesItsCallback(stopLoop: Bool) async throws {
        // In the gate: its loop thread must not be counted by a test that counts threads.
        try await ResourceGate.shared {
            let weak = WeakReference()
            let group = try EventLoopGroup(loopCount: 1)
            let loop = group.next()
            let fired = Locked(0)
            try await loop.submit {
                // The usual self-cancelling shape: the callback holds the timer through a captured variable.
                var timer: LoopTimer?
                timer = loop.scheduleTimer(after: 1, repeating: 1) {
                    if fired.withLock({ $0 += 1; return $0 }) == 3, !stopLoop { timer?.cancel() }
                }
                weak.object = timer
            }
            try await eventually(.seconds(30), "the timer fired three times") { fired.withLock { $0 } >= 3 }
            if stopLoop { group.shutdown() }
            try await eventually(.seconds(30), "the timer freed") { weak.object == nil }
            group.shutdown()
        }
    }
}

/// On close, arms a repeating timer and dials again, as a stream reader's redial would.
private final class RearmingHandler: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: used on the loop thread only.
    let port: Int
    init(port: Int) { self.port = port }
    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {}
    func connectionDidReachEOF(_ connection: Connection) {}
    func connectionDidClose(_ connection: Connection, error: RaftIOError?) {
        let loop = connection.loop
        _ = loop.scheduleTimer(after: 10, repeating: 10) {}
        _ = Connection.dial(host: "127.0.0.1", port: port, on: loop) { _ in }
    }
}

@Suite("Stopping a loop whose callbacks start new work")
struct StopWhileRearmingTests {
    @Test("a loop stops even when close callbacks run during the stop arm timers and dial again")
    func stopsDespiteRearming() async throws {
        try await ResourceGate.shared {
            let group = try EventLoopGroup(loopCount: 1)
            let loop = group.next()
            let listener = try await echoListener(on: loop)
            let connection = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop)
            let port = listener.port
            try await loop.submit { connection.setHandler(RearmingHandler(port: port)) }
            // The stop closes the connection; its close callback arms a timer and dials: neither
            // may keep the stopping loop alive. `shutdown` blocks, so it runs on a thread of its own.
            let stopped = AsyncStreamPair<Void>()
            Thread { group.shutdown(); stopped.send(()) }.start()
            try await withDeadline(.seconds(10), "the loop stopped") { await stopped.next() }
            #expect(connection.isClosed)
        }
    }
}
