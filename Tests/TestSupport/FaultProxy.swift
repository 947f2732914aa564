// A fault-injecting TCP proxy for tests, on RaftIO: a Listener whose accepted connections are
// each paired with a connection dialed to the upstream, bytes forwarded both ways on the proxy's
// own loop thread.
//
// Happy path: accept -> dial upstream -> forward each read, in order, to the other leg.
//
// Faults (set from any task with `set(_:)`, applied to open links at once):
// - latency: every chunk is held for that long before it is forwarded (one way).
// - bandwidth: a token bucket caps the bytes forwarded per second in each direction.
// - cut one direction: reading from that direction's source stops, so its bytes stall in the
//   kernel's buffers as in a real partition (nothing is lost; healing resumes the flow).
// - blackhole: both directions stall, and new connections are accepted and held without an
//   upstream ("accept, then never forward").
// - refuse: every open link is closed abortively (queued bytes dropped, both sockets closed), and
//   new connections are closed as soon as they are accepted.
//
// Memory is bounded: a direction whose pending bytes (waiting for latency or bandwidth) plus the
// destination's socket queue pass `highWater` pauses its source until they drain.
import RaftIO

public final class FaultProxy: @unchecked Sendable {
    // @unchecked Sendable: everything mutable is touched on `loop` only: the listener's callbacks
    // and the links' handlers run there, and the public methods hop there with `submit`.

    /// A direction of the byte flow through the proxy.
    public enum Direction: Sendable, Hashable {
        /// From the dialing side to the upstream (requests, pipeline posts).
        case toUpstream
        /// From the upstream back to the dialing side (responses, stream bodies).
        case toClient
    }

    /// What the proxy does to the bytes and connections it carries.
    public struct Faults: Sendable, Equatable {
        /// How long each chunk is held before it is forwarded.
        public var latency: Duration = .zero
        /// Bytes per second forwarded in each direction; nil: unlimited.
        public var bytesPerSecond: Int?
        /// Directions whose bytes stall (their source is not read).
        public var cut: Set<Direction> = []
        /// Both directions stall, and new connections are held without an upstream.
        public var blackhole = false
        /// Open links are closed abortively; new connections are closed on accept.
        public var refuse = false

        public init(latency: Duration = .zero, bytesPerSecond: Int? = nil, cut: Set<Direction> = [],
                    blackhole: Bool = false, refuse: Bool = false) {
            self.latency = latency
            self.bytesPerSecond = bytesPerSecond
            self.cut = cut
            self.blackhole = blackhole
            self.refuse = refuse
        }

        /// No fault: bytes flow as fast as the sockets allow.
        public static let none = Faults()

        func stalls(_ direction: Direction) -> Bool { blackhole || cut.contains(direction) }
    }

    // MARK: immutable, any thread
    public let loop: EventLoop
    private let group: EventLoopGroup
    public let upstreamHost: String
    public let upstreamPort: Int
    /// The port the proxy listens on (127.0.0.1).
    public let port: Int
    /// Pending plus socket-queued bytes per direction above which the source is paused.
    let highWater: Int

    // MARK: loop thread only
    private var listener: Listener?
    var faults = Faults()
    private var links: [ObjectIdentifier: ProxyLink] = [:]
    private var stopped = false
    /// Connections accepted so far (loop thread; read with ``statistics()``).
    var accepted = 0
    var refused = 0

    /// Starts a proxy on a free loopback port that forwards to `upstreamHost:upstreamPort`.
    public init(upstreamHost: String = "127.0.0.1", upstreamPort: Int, highWater: Int = 4 << 20) async throws {
        let group = try EventLoopGroup(loopCount: 1)
        self.group = group
        self.loop = group.next()
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        self.highWater = highWater
        let box = Locked<FaultProxy?>(nil)
        let listener = try await Listener.bind(host: "127.0.0.1", port: 0, on: loop) { connection in
            box.withLock { $0 }?.didAccept(connection)
        }
        self.port = listener.port
        self.listener = listener
        box.withLock { $0 = self }
    }

    /// `http://127.0.0.1:<port>`: the URL members use to reach the upstream through the proxy.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// Replaces the faults; open links follow at once. Returns once applied.
    public func set(_ faults: Faults) async {
        _ = try? await loop.submit { [self] in apply(faults) }
    }

    /// Changes the faults with `change`; see ``set(_:)``.
    public func update(_ change: @escaping @Sendable (inout Faults) -> Void) async {
        _ = try? await loop.submit { [self] in
            var f = faults
            change(&f)
            apply(f)
        }
    }

    /// Removes every fault: stalled links flow again, held connections get their upstream.
    public func heal() async { await set(.none) }

    /// Closes every open link abortively, once, without changing the faults (a burst of resets).
    public func resetAll() async {
        _ = try? await loop.submit { [self] in
            for link in Array(links.values) { link.abort() }
        }
    }

    /// Connections accepted, refused at accept, and open now.
    public func statistics() async -> (accepted: Int, refused: Int, open: Int) {
        (try? await loop.submit { [self] in (accepted, refused, links.count) }) ?? (0, 0, 0)
    }

    /// Stops listening, closes every link and the proxy's loop.
    public func stop() async {
        _ = try? await loop.submit { [self] in
            stopped = true
            listener?.close()
            listener = nil
            for link in Array(links.values) { link.abort() }
        }
        await group.shutdownOffPool()
    }

    // MARK: - loop thread

    private func apply(_ new: Faults) {
        let old = faults
        faults = new
        if new.refuse {
            for link in Array(links.values) { link.abort() }
        }
        if old != new {
            for link in Array(links.values) { link.faultsChanged() }
        }
    }

    private func didAccept(_ client: Connection) {
        guard !stopped else { client.close(graceful: false); return }
        accepted += 1
        if faults.refuse {
            refused += 1
            client.close(graceful: false)
            return
        }
        let link = ProxyLink(proxy: self, client: client)
        links[ObjectIdentifier(link)] = link
        link.start()
    }

    func dialUpstream(for link: ProxyLink) {
        let leg = ProxyLeg(link: link, reads: .toClient)
        let connection = Connection.dial(host: upstreamHost, port: upstreamPort, on: loop, handler: leg) { result in
            switch result {
            case .success(let c): link.upstreamOpened(c)
            case .failure: link.abort()
            }
        }
        link.upstreamDialing(connection)
    }

    func removed(_ link: ProxyLink) {
        links.removeValue(forKey: ObjectIdentifier(link))
    }
}

/// One proxied connection: the accepted client leg and the dialed upstream leg.
final class ProxyLink {
    // Loop thread only (see FaultProxy).
    unowned let proxy: FaultProxy
    let client: Connection
    private var upstream: Connection?
    private var upstreamOpen = false
    private var dialed = false
    private var closed = false
    private var pipes: [FaultProxy.Direction: ProxyPipe] = [:]

    init(proxy: FaultProxy, client: Connection) {
        self.proxy = proxy
        self.client = client
        pipes[.toUpstream] = ProxyPipe(direction: .toUpstream)
        pipes[.toClient] = ProxyPipe(direction: .toClient)
    }

    var loop: EventLoop { proxy.loop }

    func start() {
        client.setHandler(ProxyLeg(link: self, reads: .toUpstream))
        if proxy.faults.blackhole {
            client.pauseReading() // held: accepted, never forwarded until healed
        } else {
            dialed = true
            proxy.dialUpstream(for: self)
        }
        applyFlow()
    }

    func upstreamDialing(_ connection: Connection) { upstream = connection }

    func upstreamOpened(_ connection: Connection) {
        guard !closed else { connection.close(graceful: false); return }
        upstream = connection
        upstreamOpen = true
        pump(.toUpstream)
        applyFlow()
    }

    func faultsChanged() {
        guard !closed else { return }
        if !dialed, !proxy.faults.blackhole, !proxy.faults.refuse {
            dialed = true
            proxy.dialUpstream(for: self)
        }
        applyFlow()
        pump(.toUpstream)
        pump(.toClient)
    }

    private func source(of direction: FaultProxy.Direction) -> Connection? {
        direction == .toUpstream ? client : (upstreamOpen ? upstream : nil)
    }

    private func destination(of direction: FaultProxy.Direction) -> Connection? {
        direction == .toUpstream ? (upstreamOpen ? upstream : nil) : client
    }

    /// Pauses or resumes each source for the faults and the memory bound.
    private func applyFlow() {
        for direction in [FaultProxy.Direction.toUpstream, .toClient] {
            guard let pipe = pipes[direction], let source = source(of: direction) else { continue }
            let queued = (destination(of: direction)?.queuedBytes ?? 0) + pipe.pendingBytes
            let shouldPause = proxy.faults.stalls(direction) || queued > proxy.highWater
                || (direction == .toUpstream && !upstreamOpen)
            if shouldPause != pipe.sourcePaused {
                pipe.sourcePaused = shouldPause
                if shouldPause { source.pauseReading() } else { source.resumeReading() }
            }
        }
    }

    // MARK: events from the legs

    func received(_ bytes: UnsafeRawBufferPointer, flowing direction: FaultProxy.Direction) {
        guard !closed, let pipe = pipes[direction] else { return }
        let delay = proxy.faults.latency.components
        let delayMs = UInt64(max(0, delay.seconds)) * 1000 + UInt64(max(0, delay.attoseconds) / 1_000_000_000_000_000)
        pipe.append([UInt8](bytes), due: loop.now + delayMs)
        pump(direction)
    }

    func reachedEOF(flowing direction: FaultProxy.Direction) {
        guard !closed, let pipe = pipes[direction] else { return }
        pipe.eof = true
        pump(direction)
    }

    func drained() {
        guard !closed else { return }
        applyFlow()
    }

    func legClosed(error: RaftIOError?) {
        guard !closed else { return }
        if error == nil {
            // One side closed cleanly: flush what is queued toward the other, then close it.
            finish(graceful: true)
        } else {
            finish(graceful: false)
        }
    }

    func abort() { finish(graceful: false) }

    private func finish(graceful: Bool) {
        guard !closed else { return }
        closed = true
        for pipe in pipes.values { pipe.cancel() }
        client.close(graceful: graceful)
        upstream?.close(graceful: graceful)
        proxy.removed(self)
    }

    // MARK: forwarding

    private func pump(_ direction: FaultProxy.Direction) {
        guard !closed, let pipe = pipes[direction] else { return }
        guard let destination = destination(of: direction), !proxy.faults.stalls(direction) else { return }
        let now = loop.now
        let wait = pipe.forward(now: now, bytesPerSecond: proxy.faults.bytesPerSecond) { chunk in
            _ = try? destination.write(chunk)
        }
        if let wait {
            pipe.arm(after: wait, on: loop) { [weak self] in self?.pump(direction) }
        } else if pipe.eof, pipe.pendingBytes == 0, !pipe.shutDown {
            pipe.shutDown = true
            destination.shutdownOutput()
            // Both sides finished sending and everything was forwarded: the link is done.
            if pipes.values.allSatisfy(\.shutDown) { finish(graceful: true); return }
        }
        applyFlow()
    }
}

/// The bytes of one direction waiting for their due time or for bandwidth.
final class ProxyPipe {
    // Loop thread only (see FaultProxy).
    let direction: FaultProxy.Direction
    private var chunks: [(due: UInt64, bytes: [UInt8])] = []
    private var head = 0
    private(set) var pendingBytes = 0
    var sourcePaused = false
    var eof = false
    var shutDown = false
    private var tokens = 0
    private var lastRefill: UInt64 = 0
    private var timer: LoopTimer?

    init(direction: FaultProxy.Direction) { self.direction = direction }

    func append(_ bytes: [UInt8], due: UInt64) {
        chunks.append((due, bytes))
        pendingBytes += bytes.count
    }

    /// Forwards what is due and within the bandwidth; returns how many ms until more can go, or
    /// nil when nothing is left.
    func forward(now: UInt64, bytesPerSecond: Int?, write: ([UInt8]) -> Void) -> UInt64? {
        if let rate = bytesPerSecond {
            let elapsed = Int(now &- lastRefill)
            // A burst of at most 50 ms of bandwidth, so a capped link never spikes.
            tokens = min(max(rate / 20, 1), tokens + elapsed * rate / 1000)
            lastRefill = now
        }
        while head < chunks.count {
            let chunk = chunks[head]
            if chunk.due > now { return chunk.due - now }
            if bytesPerSecond != nil {
                if tokens <= 0 { return 10 }
                let n = min(tokens, chunk.bytes.count)
                write(Array(chunk.bytes.prefix(n)))
                tokens -= n
                pendingBytes -= n
                if n < chunk.bytes.count {
                    chunks[head].bytes.removeFirst(n)
                    continue
                }
            } else {
                write(chunk.bytes)
                pendingBytes -= chunk.bytes.count
            }
            head += 1
        }
        chunks.removeAll(keepingCapacity: true)
        head = 0
        return nil
    }

    func arm(after ms: UInt64, on loop: EventLoop, _ fire: @escaping () -> Void) {
        if let timer {
            timer.start(after: max(1, ms))
        } else {
            timer = loop.scheduleTimer(after: max(1, ms), fire)
        }
    }

    func cancel() {
        timer?.cancel()
        timer = nil
        chunks = []
        head = 0
        pendingBytes = 0
    }
}

/// The handler of one leg: its reads flow in `reads` direction.
final class ProxyLeg: ConnectionHandler {
    // Loop thread only (see FaultProxy); the link outlives its legs' callbacks while open.
    private weak var link: ProxyLink?
    private let reads: FaultProxy.Direction

    init(link: ProxyLink, reads: FaultProxy.Direction) {
        self.link = link
        self.reads = reads
    }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        link?.received(bytes, flowing: reads)
    }

    func connectionDidReachEOF(_ connection: Connection) {
        link?.reachedEOF(flowing: reads)
    }

    func connectionDidDrain(_ connection: Connection, queued: Int) {
        link?.drained()
    }

    func connectionDidClose(_ connection: Connection, error: RaftIOError?) {
        link?.legClosed(error: error)
    }
}
