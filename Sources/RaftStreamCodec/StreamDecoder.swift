import RaftPB

/// A decoder of one stream type: bytes in as they arrive, messages out in stream order.
public protocol StreamDecoder {
    /// Decodes `bytes`, handing each completed message to `onMessage`; bytes of an unfinished
    /// frame are kept for the next call. Throws the first error, and again on every later call.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onMessage: (consuming Message) -> Void) throws(StreamCodecError)
    /// Adds `bytes` (copied) to the input of the next ``decodeAppended(_:)``: a reader appends the
    /// pieces of one socket read, then decodes once, so that the messages of a read share one buffer.
    mutating func append(_ bytes: UnsafeRawBufferPointer)
    /// Decodes every message the appended bytes complete, as ``feed(_:_:)`` does.
    mutating func decodeAppended(_ onMessage: (consuming Message) -> Void) throws(StreamCodecError)
}

extension StreamDecoder {
    /// Convenience for bytes in an array; see ``feed(_:_:)``.
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
