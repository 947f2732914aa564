// Raw-socket peers for hostile-input tests: they speak only the bytes a test hands them.
//
// - `RawClient` dials a port and sends hand-made bytes (random garbage, smuggling shapes, a TLS
//   ClientHello, a slowloris drip), then reads whatever comes back until the other side closes.
// - `DumbStreamPeer` listens where a member believes a peer lives: it reads each request head and
//   answers with a canned byte string chosen by the test (a 200 followed by garbage frames, or
//   nothing at all), so our stream reader meets a peer that lies.
import RaftIO

/// A client connection that sends raw bytes.
public struct RawClient: Sendable {
    public let connection: Connection

    public static func connect(port: Int, on loop: EventLoop) async throws -> RawClient {
        RawClient(connection: try await Connection.connect(host: "127.0.0.1", port: port, on: loop))
    }

    public func send(_ bytes: [UInt8]) throws { try connection.write(bytes) }
    public func send(_ text: String) throws { try connection.write(Array(text.utf8)) }

    /// Reads until the other side closes (or fails); returns everything read, as text.
    public func readToEnd() async -> String {
        var out: [UInt8] = []
        while let chunk = try? await connection.read() { out += chunk }
        return String(decoding: out, as: UTF8.self)
    }

    public func close() { connection.close(graceful: false) }
}

/// A fake peer that answers every request with `answer(path)`; nil leaves the request hanging.
public final class DumbStreamPeer: @unchecked Sendable {
    // @unchecked Sendable: `listener` and `group` are set in init and immutable; the request log is
    // behind its lock; the per-connection handlers run on the loop only.
    private let group: EventLoopGroup
    private let listener: Listener
    private let log = Locked<[String]>([])
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }

    public init(answer: @escaping @Sendable (_ path: String) -> [UInt8]?) async throws {
        let group = try EventLoopGroup(loopCount: 1)
        self.group = group
        let log = self.log
        listener = try await Listener.bind(host: "127.0.0.1", port: 0, on: group.next()) { connection in
            connection.setHandler(HeadReader { head in
                let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                log.withLock { $0.append(path) }
                if let bytes = answer(path) { _ = try? connection.write(bytes) }
            })
        }
        port = listener.port
    }

    /// The paths requested so far, in order.
    public var requests: [String] { log.withLock { $0 } }

    public func stop() {
        listener.close()
        group.shutdown()
    }

    /// An HTTP/1.1 200 head as etcd's stream handler writes it, chunked.
    public static let streamHead = Array(("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        + "X-Server-Version: 3.4.23\r\nX-Etcd-Cluster-Id: 1000\r\nTransfer-Encoding: chunked\r\n\r\n").utf8)

    /// `bytes` as one HTTP chunk.
    public static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + Array("\r\n".utf8)
    }
}

/// Collects bytes until a request head ends, then calls `onHead` once per head.
private final class HeadReader: ConnectionHandler {
    // Loop thread only: a ConnectionHandler's calls run on its connection's loop.
    private var buffer: [UInt8] = []
    private let onHead: (String) -> Void

    init(onHead: @escaping (String) -> Void) { self.onHead = onHead }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        buffer += bytes
        while let end = headEnd() {
            let head = String(decoding: buffer[..<end], as: UTF8.self)
            buffer.removeFirst(end + 4)
            onHead(head)
        }
        if buffer.count > 1 << 16 { connection.close(graceful: false) }
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}
