import Foundation

/// One request over a fresh blocking socket: connect to 127.0.0.1:`port`, send `request`, read
/// until the server closes, on a thread of its own. Connect and send follow each other with no
/// task hop in between, so a server's header timeout (counted from the accept) cannot catch a
/// request whose sender was merely waiting for a busy machine to schedule it. `timeout` bounds
/// each blocking call (a hang guard). Returns what was read, as text.
public func blockingExchange(port: Int, request: String, timeout: Duration = .seconds(60)) async throws -> String {
    let outcome: Result<String, POSIXError> = await offCooperativePool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(POSIXError(.EMFILE)) }
        defer { close(fd) }
        var limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let connected = withLoopbackAddress(port: port, fd, connect)
        guard connected == 0 else { return .failure(POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)) }
        let bytes = Array(request.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return .failure(POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPIPE)) }
            offset += n
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { answer += buffer[..<n]; continue }
            if n == 0 { break }
            return .failure(POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
        }
        return .success(String(decoding: answer, as: UTF8.self))
    }
    return try outcome.get()
}
