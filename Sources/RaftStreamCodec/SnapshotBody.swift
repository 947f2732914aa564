// The body of `POST /raft/snapshot`. Happy path: the sender writes one message stream frame holding
// the MsgSnap, then the snapshot database bytes until EOF (chunked transfer, no Content-Length).
// The receiver feeds chunks to a `SnapshotHeadDecoder` until it has the MsgSnap; every byte after
// that is database, streamed to disk until EOF. Failure modes: head length above the limit →
// `frameTooLarge`; head not a Message → `malformedMessage` (etcd: 400 "failed to decode raft
// message"); head not MsgSnap → `wrongMessageType` (etcd: 400 "wrong raft message type"); EOF
// inside the head → `truncatedFrame`.
//
// | offset | bytes | meaning                                             |
// |--------|-------|-----------------------------------------------------|
// | 0      | 8     | length N of the MsgSnap, unsigned big-endian        |
// | 8      | N     | `Message` (type MsgSnap) in raftpb protobuf encoding |
// | 8 + N  | rest  | the database, until EOF                             |
//
// etcd 3.4 sends no database size: the body's end is the database's end. The only size check is
// on the sender, which refuses to send fewer bytes than the snapshot's total size ("short read").
// A receiver can check nothing but that the head decoded and that the database is not empty.
import RaftPB

/// Builds snapshot request bodies.
public enum SnapshotBody {
    /// The head of the body: the message stream frame of `message` (a MsgSnap). The database bytes
    /// follow it, written by the caller as they are read from disk.
    public static func head(for message: Message) -> [UInt8] {
        MessageStreamEncoder().encode(message)
    }

    /// A whole body in memory: head, then `database`. For tests and small snapshots.
    public static func encode(message: Message, database: some Sequence<UInt8>) -> [UInt8] {
        var bytes = head(for: message)
        bytes.append(contentsOf: database)
        return bytes
    }
}

/// Reads the MsgSnap at the start of a snapshot request body delivered in chunks of any size.
///
/// Feed chunks until ``message`` is set; the bytes of the last chunk from the returned offset on,
/// and all later chunks, are database. Not thread-safe: one owner (the loop thread reading the body).
public struct SnapshotHeadDecoder: Sendable {
    /// 512 MiB, the message stream's limit. etcd 3.4 allows 2^63 and etcd main 64 MiB; the head
    /// holds only the small v2 store snapshot, so either bound is far above honest traffic.
    public static let defaultLimit = MessageStreamDecoder.defaultLimit

    private var frames: FrameReader
    private var consumed = 0
    private var failure: StreamCodecError?

    /// The decoded MsgSnap, once the head is complete.
    public private(set) var message: Message?

    /// Creates a decoder that rejects a head longer than `limit` bytes.
    public init(limit: Int = SnapshotHeadDecoder.defaultLimit) {
        frames = FrameReader(limit: limit, what: "snapshot head length")
    }

    /// The head's size in bytes (8 + the MsgSnap's length), once it is complete: where the database
    /// starts in the body.
    public var headSize: Int? { message == nil ? nil : consumed }

    /// Consumes head bytes from `chunk` and returns how many it used. When ``message`` is set after
    /// the call, `chunk[returned...]` is the start of the database; after that every call returns 0.
    /// Throws ``StreamCodecError`` for a head too long, malformed or not a MsgSnap.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) throws(StreamCodecError) -> Int {
        if let failure { throw failure }
        guard message == nil else { return 0 }
        var offset = 0
        defer { consumed += offset }
        do throws(StreamCodecError) {
            guard let frame = try frames.next(from: chunk, at: &offset, streamOffset: consumed) else { return offset }
            let head: Message
            do throws(RaftPBError) {
                head = try Message(decoding: frame)
            } catch {
                throw .malformed(error, "snapshot head", at: 8)
            }
            guard head.type == .msgSnap else { throw .wrongMessageType(head.type, at: 8) }
            message = head
            return offset
        } catch {
            failure = error
            throw error
        }
    }

    /// Convenience for bytes in an array; see ``feed(_:)``.
    public mutating func feed(_ bytes: [UInt8]) throws(StreamCodecError) -> Int {
        let result: Result<Int, StreamCodecError> = bytes.withUnsafeBytes { raw in
            do throws(StreamCodecError) {
                return .success(try feed(raw))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Call at end of body: throws ``StreamCodecError/Code/truncatedFrame`` if the head never
    /// completed, or the error already thrown.
    public func finish() throws(StreamCodecError) {
        if let failure { throw failure }
        guard message != nil else { throw .truncatedFrame("snapshot body", at: consumed) }
    }
}
