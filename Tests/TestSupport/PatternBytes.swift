/// A reproducible byte pattern of any length, generated at any offset: stands in for a large
/// snapshot database without a file. Compiled with -O (as all of TestSupport) so that a debug test
/// run synthesizes a GiB in about a second.
public enum PatternBytes {
    /// The byte at `offset` of the pattern.
    @inlinable
    public static func byte(at offset: UInt64) -> UInt8 {
        UInt8(truncatingIfNeeded: (offset &* 0x9E37_79B9) >> 11 ^ offset)
    }

    /// Fills `buffer` with the pattern's bytes from `offset` on.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer, offset: UInt64) {
        var i = offset
        for index in buffer.indices {
            buffer[index] = byte(at: i)
            i &+= 1
        }
    }
}
