import RaftPB
import Testing

/// `Message(decoding:in:)` decodes a range of a larger buffer, as stream decoders do for every
/// frame, and must give what decoding a slice of that range gives.
@Suite("Message decoding from a range of a buffer")
struct DecodeInRangeTests {
    private static let message = Message(type: .msgApp, to: 2, from: 1, term: 7, logTerm: 6, index: 40,
                                         entries: [Entry(term: 7, index: 41, data: [1, 2, 3][...]),
                                                   Entry(term: 7, index: 42, data: [][...])],
                                         commit: 39, context: [9, 8][...])

    @Test("a range in the middle of a buffer: same message, byte fields indexed as the buffer")
    func middleOfBuffer() throws {
        let encoded = Self.message.encode()
        let buffer = [0xaa, 0xbb, 0xcc] + encoded + [0xdd]
        let range = 3 ..< 3 + encoded.count
        let decoded = try Message(decoding: buffer[...], in: range)
        #expect(decoded == Self.message)
        #expect(decoded == (try Message(decoding: buffer[range])))
        // The byte fields view the buffer at its own indices.
        let context = try #require(decoded.context)
        #expect(context.startIndex >= range.lowerBound && context.endIndex <= range.upperBound)
        #expect(Array(buffer[context.indices]) == [9, 8])
        let data = try #require(decoded.entries.first?.data)
        #expect(Array(buffer[data.indices]) == [1, 2, 3])
    }

    @Test("a range of a slice that does not start at index 0")
    func rangeOfSlice() throws {
        let encoded = Self.message.encode()
        let buffer = [0x01, 0x02] + encoded + [0x03, 0x04]
        let slice = buffer[1 ..< buffer.count - 1]
        let decoded = try Message(decoding: slice, in: 2 ..< 2 + encoded.count)
        #expect(decoded == Self.message)
    }

    @Test("malformed bytes in the range are refused, the bytes around it are not read")
    func malformed() throws {
        let encoded = Self.message.encode()
        let buffer = encoded + encoded
        // Cut the first message short: its last field runs past the range's end.
        #expect(throws: RaftPBError.self) { try Message(decoding: buffer[...], in: 0 ..< encoded.count - 1) }
        // An empty range is the zero message.
        #expect(try Message(decoding: buffer[...], in: 5 ..< 5) == Message())
    }
}
