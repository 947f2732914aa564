import CRaftIO

/// An error from the I/O core: a socket, TLS or event-loop failure, with a message a person can
/// act on, such as `uv_tcp_connect(): connection refused (127.0.0.1:2380)` or
/// `TLS handshake: certificate verify failed (certificate has expired)`.
public struct RaftIOError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members (`.connectionRefused`, ...).
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case connectionRefused = "connection refused"
            case timedOut = "timed out"
            case tlsHandshake = "TLS handshake failed"
            case tls = "TLS failure"
            case connectionReset = "connection reset"
            case closed = "connection closed"
            case eventLoopStopped = "event loop stopped"
            case addressResolution = "address resolution failed"
            case bind = "cannot listen"
            case configuration = "invalid configuration"
            case io = "I/O error"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Nobody listens on the address.
        public static let connectionRefused = Kind(.connectionRefused)
        /// A dial (connect and TLS handshake) did not finish within its timeout.
        public static let timedOut = Kind(.timedOut)
        /// The TLS handshake failed: bad certificate, unknown CA, name mismatch, not TLS at all.
        public static let tlsHandshake = Kind(.tlsHandshake)
        /// An established TLS session failed (for example an alert from the peer).
        public static let tls = Kind(.tls)
        /// The peer reset the connection.
        public static let connectionReset = Kind(.connectionReset)
        /// The connection is closed or closing; nothing more can be written.
        public static let closed = Kind(.closed)
        /// The event loop was stopped with work still pending.
        public static let eventLoopStopped = Kind(.eventLoopStopped)
        /// The host name did not resolve.
        public static let addressResolution = Kind(.addressResolution)
        /// Binding or listening failed (address in use, not a numeric address, ...).
        public static let bind = Kind(.bind)
        /// A configuration value is invalid (unreadable PEM file, bad key, ...).
        public static let configuration = Kind(.configuration)
        /// Any other socket error.
        public static let io = Kind(.io)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public let kind: Kind
    /// The libuv error code (negative errno), or 0 where none applies.
    public let code: Int32
    /// The full message, naming the operation and the reason.
    public let message: String
    /// For a failure of one accepted connection (reported to a listener's `onError`): the
    /// peer's address, `ip:port`. Nil elsewhere.
    public var remoteAddress: String?

    public var description: String { message }

    package init(kind: Kind, code: Int32 = 0, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// Classifies a code that came from the C core (libuv's codes and the core's own
    /// `RIO_E_*`); the message is kept as the reason, never read.
    package init(code: Int32, message: String) {
        let kind: Kind
        switch code {
        case RIO_E_LOOP_STOPPED: kind = .eventLoopStopped
        case RIO_E_TLS_HANDSHAKE: kind = .tlsHandshake
        case RIO_E_TLS: kind = .tls
        case RIO_E_TLS_CONFIG: kind = .configuration
        default:
            switch String(cString: rio_err_name(code)) {
            case "ECONNREFUSED": kind = .connectionRefused
            case "ETIMEDOUT": kind = .timedOut
            case "ECONNRESET": kind = .connectionReset
            case "EPIPE", "ENOTCONN", "EOF", "ECANCELED": kind = .closed
            case let name where name.hasPrefix("EAI_"): kind = .addressResolution
            default: kind = .io
            }
        }
        self.init(kind: kind, code: code, message: message)
    }

    static func closed(_ what: String = "connection is closed") -> RaftIOError {
        RaftIOError(kind: .closed, code: 0, message: what)
    }

    static func eventLoopStopped() -> RaftIOError {
        RaftIOError(kind: .eventLoopStopped, message: "event loop stopped")
    }
}
