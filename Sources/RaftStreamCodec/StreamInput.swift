/// The bytes a stream decoder was given and has not decoded yet, where they start in the stream,
/// and the error that broke the stream. Shared by the message and msgapp v2 decoders.
///
/// Bytes are copied in once (``append(_:)``). A decode pass reads them in place, and the messages
/// it decodes keep views of that storage; ``endPass(_:used:thrown:)`` then keeps only the
/// unfinished rest, moved to a fresh array when something before it was decoded, so storage that
/// messages view is never written again. When nothing was decoded the array keeps growing in place.
struct StreamInput: Sendable {
    /// Appended and not yet decoded; an unfinished frame, if any, starts at 0.
    private(set) var bytes: [UInt8] = []
    /// Stream offset of `bytes[0]`.
    private(set) var consumed = 0
    /// The error that broke the stream; every later call throws it again.
    private(set) var failure: StreamCodecError?

    var isEmpty: Bool { bytes.isEmpty }

    /// Stream offset just past the last byte appended.
    var end: Int { consumed + bytes.count }

    /// Keeps `chunk` (copied) for the next pass; nothing once the stream is broken.
    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        bytes.append(contentsOf: chunk)
    }

    /// Throws the error that broke the stream, if any.
    func check() throws(StreamCodecError) {
        if let failure { throw failure }
    }

    /// Ends a decode pass over `buffer` (the value of ``bytes`` it read) that used its first
    /// `used` bytes, and throws (and keeps) what the pass `thrown`.
    mutating func endPass(_ buffer: [UInt8], used: Int, thrown: StreamCodecError?) throws(StreamCodecError) {
        consumed += used
        if used == buffer.count {
            bytes = []
        } else if used > 0 {
            bytes = Array(buffer[used...]) // only the unfinished frame; the rest is viewed
        }
        if let thrown {
            failure = thrown
            throw thrown
        }
    }
}
