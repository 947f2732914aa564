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
