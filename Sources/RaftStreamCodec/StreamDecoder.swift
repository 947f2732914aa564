import RaftPB

/// A decoder of one stream type: bytes in as they arrive, messages out in stream order.
public protocol StreamDecoder {
    /// Adds `bytes` (copied) to the input of the next ``decodeAppended(_:)``: a reader appends the
    /// pieces of one socket read, then decodes once, so that the messages of a read share one buffer.
    /// Once the stream is broken nothing more is kept.
    mutating func append(_ bytes: UnsafeRawBufferPointer)
    /// Decodes every message the appended bytes complete, handing each to `onMessage` in stream
    /// order; bytes of an unfinished frame are kept for the next call. Throws the first error, and
    /// again on every later call; messages completed before the error have been delivered.
    mutating func decodeAppended(_ onMessage: (consuming Message) -> Void) throws(StreamCodecError)
    /// Decodes as ``decodeAppended(_:)`` does, appending each message to `batch` except rafthttp's
    /// link heartbeats (``RaftPB/Message/isLinkHeartbeat``), which carry nothing for raft and are
    /// counted instead; returns how many there were. The reader's path: a message handed to a
    /// closure was copied on the way (a retain and a release of each of its reference fields).
    mutating func decodeAppended(into batch: inout [Message]) throws(StreamCodecError) -> Int
    /// Whether the bytes fed so far end exactly on a frame boundary (an EOF here is clean).
    var isAtFrameBoundary: Bool { get }
    /// Call at end of stream: throws ``StreamCodecError/Code/truncatedFrame`` if it ended inside a
    /// frame, or the error already thrown.
    func finish() throws(StreamCodecError)
}

extension StreamDecoder {
    /// Consumes `bytes` and calls `onMessage` for every message they complete, in stream order:
    /// ``append(_:)`` then ``decodeAppended(_:)``. `bytes` need only stay valid for the call.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onMessage: (consuming Message) -> Void) throws(StreamCodecError) {
        append(bytes)
        try decodeAppended(onMessage)
    }

    /// Convenience for bytes in an array; see ``feed(_:_:)-(UnsafeRawBufferPointer,_)``.
    public mutating func feed(_ bytes: [UInt8], _ onMessage: (consuming Message) -> Void) throws(StreamCodecError) {
        let result: Result<Void, StreamCodecError> = bytes.withUnsafeBytes { raw in
            do throws(StreamCodecError) {
                try feed(raw, onMessage)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }
}

/// Where a decoder puts the messages it completes. Generic, so that the batch path is specialized
/// without a closure call per message (which copied each message: a retain and a release per
/// reference field).
protocol MessageSink {
    mutating func take(_ message: consuming Message)
}

/// Hands each message to a closure.
struct ClosureSink: MessageSink {
    let body: (consuming Message) -> Void

    @inline(__always)
    func take(_ message: consuming Message) { body(message) }
}

/// Appends each message to a batch, but counts link heartbeats instead.
struct BatchSink: MessageSink {
    var batch: [Message]
    var linkHeartbeats = 0

    @inline(__always)
    mutating func take(_ message: consuming Message) {
        if message.isLinkHeartbeat {
            linkHeartbeats += 1
        } else {
            batch.append(consume message)
        }
    }
}

extension StreamDecoder {
    /// ``decodeAppended(into:)`` through a ``BatchSink`` that takes over `batch` for the call.
    @inline(__always)
    mutating func decodeAppended(into batch: inout [Message],
                                 _ decode: (inout Self, inout BatchSink) throws(StreamCodecError) -> Void) throws(StreamCodecError) -> Int {
        var sink = BatchSink(batch: [])
        swap(&sink.batch, &batch)
        defer { swap(&sink.batch, &batch) }
        try decode(&self, &sink)
        return sink.linkHeartbeats
    }
}
