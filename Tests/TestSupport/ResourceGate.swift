/// Serialises the tests that count process-wide resources against everything else.
///
/// Swift Testing runs tests in parallel, and file descriptors and threads are counted for the whole
/// process. Every test that opens sockets or loops runs inside ``shared(_:)``; a test that compares
/// descriptor or thread counts before and after runs inside ``exclusive(_:)``, alone.
public actor ResourceGate {
    public static let gate = ResourceGate()

    private var readers = 0
    private var writer = false
    private var waitingReaders: [CheckedContinuation<Void, Never>] = []
    private var waitingWriters: [CheckedContinuation<Void, Never>] = []

    private func acquireShared() async {
        if writer || !waitingWriters.isEmpty {
            await withCheckedContinuation { waitingReaders.append($0) }
        } else {
            readers += 1
        }
    }

    private func acquireExclusive() async {
        if writer || readers > 0 {
            await withCheckedContinuation { waitingWriters.append($0) }
        } else {
            writer = true
        }
    }

    private func release(exclusive: Bool) {
        if exclusive { writer = false } else { readers -= 1 }
        guard readers == 0, !writer else { return }
        if !waitingWriters.isEmpty {
            writer = true
            waitingWriters.removeFirst().resume()
        } else {
            readers += waitingReaders.count
            for r in waitingReaders { r.resume() }
            waitingReaders = []
        }
    }

    /// Runs `body` alongside other shared users.
    public static func shared<T>(_ body: () async throws -> T) async rethrows -> T {
        await gate.acquireShared()
        do {
            let r = try await body()
            await gate.release(exclusive: false)
            return r
        } catch {
            await gate.release(exclusive: false)
            throw error
        }
    }

    /// Runs `body` with no other gated test running.
    public static func exclusive<T>(_ body: () async throws -> T) async rethrows -> T {
        await gate.acquireExclusive()
        do {
            let r = try await body()
            await gate.release(exclusive: true)
            return r
        } catch {
            await gate.release(exclusive: true)
            throw error
        }
    }
}
