// Errors of the stream codecs (message stream, msgapp v2 stream, snapshot head). RaftStreamCodec
// depends on RaftPB alone, so the fuzzers and the benchmarks link the codecs without the transport.
import RaftPB

/// Why a stream decoder stopped. Once a decoder has thrown, it throws the same error on every later
/// call: a stream that lost its framing cannot be resynchronised, only redialled.
///
/// `description` is what a person can act on, for example
/// `rafthttp: msgappv2 frame length 4294967296 at stream offset 1 exceeds the limit of 536870912 bytes`.
public struct StreamCodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure; an open set, compare against the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case frameTooLarge, unknownFrameType, truncatedFrame, malformedMessage, wrongMessageType
        }

        fileprivate let base: Base

        /// A length (or, in msgapp v2, an entry count) above the decoder's limit. etcd says
        /// "rafthttp: error limit exceeded" for the message stream.
        public static let frameTooLarge = Code(base: .frameTooLarge)
        /// A msgapp v2 frame type byte other than 0, 1 or 2.
        public static let unknownFrameType = Code(base: .unknownFrameType)
        /// The stream ended in the middle of a frame.
        public static let truncatedFrame = Code(base: .truncatedFrame)
        /// A frame's protobuf payload did not decode; ``StreamCodecError/underlying`` says why.
        public static let malformedMessage = Code(base: .malformedMessage)
        /// A snapshot body whose head is not a `MsgSnap` (etcd answers 400 "wrong raft message type").
        public static let wrongMessageType = Code(base: .wrongMessageType)

        public var description: String {
            switch base {
            case .frameTooLarge: "frame too large"
            case .unknownFrameType: "unknown frame type"
            case .truncatedFrame: "truncated frame"
            case .malformedMessage: "malformed message"
            case .wrongMessageType: "wrong message type"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// Bytes of the stream consumed before the failing frame part (from the first byte fed).
    public let streamOffset: Int
    /// The protobuf error behind a ``Code/malformedMessage``.
    public let underlying: RaftPBError?
    private let detail: String

    private init(_ code: Code, at streamOffset: Int, underlying: RaftPBError? = nil, _ detail: String) {
        self.code = code
        self.streamOffset = streamOffset
        self.underlying = underlying
        self.detail = detail
    }

    public var description: String { "rafthttp: \(detail)" }

    static func frameTooLarge(_ what: String, _ length: UInt64, limit: Int, at offset: Int) -> StreamCodecError {
        StreamCodecError(.frameTooLarge, at: offset,
                         "\(what) \(length) at stream offset \(offset) exceeds the limit of \(limit) bytes")
    }

    static func unknownFrameType(_ type: UInt8, at offset: Int) -> StreamCodecError {
        StreamCodecError(.unknownFrameType, at: offset,
                         "failed to parse type \(type) in msgappv2 stream (stream offset \(offset))")
    }

    static func truncatedFrame(_ stream: String, at offset: Int) -> StreamCodecError {
        StreamCodecError(.truncatedFrame, at: offset, "\(stream) ended inside a frame (stream offset \(offset))")
    }

    static func malformed(_ error: RaftPBError, _ what: String, at offset: Int) -> StreamCodecError {
        StreamCodecError(.malformedMessage, at: offset, underlying: error,
                         "failed to decode \(what) at stream offset \(offset): \(error)")
    }

    static func wrongMessageType(_ type: MessageType, at offset: Int) -> StreamCodecError {
        StreamCodecError(.wrongMessageType, at: offset, "wrong raft message type \(type) in a snapshot body")
    }
}
