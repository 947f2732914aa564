import RaftPB
import Testing

/// `Entry(decoding:)` reads the layout etcd writes without the general reader; anything else goes
/// to the general reader. Both must give the same entries, and the same refusals.
@Suite("Entry decoding: etcd's layout on the fast path, everything else as before")
struct EntryFastPathTests {
    @Test("etcd's layout: no data, empty data, data, multi-byte term and index")
    func etcdLayout() throws {
        let none = try Entry(decoding: [0x08, 0x00, 0x10, 0x01, 0x18, 0x02][...])
        #expect(none == Entry(term: 1, index: 2))
        #expect(none.data == nil)
        let empty = try Entry(decoding: [0x08, 0x01, 0x10, 0x01, 0x18, 0x02, 0x22, 0x00][...])
        #expect(empty == Entry(term: 1, index: 2, type: .confChange, data: [][...]))
        let big = Entry(term: 300, index: 1 << 40, data: [1, 2, 3][...])
        #expect(try Entry(decoding: big.encode()[...]) == big)
        // A slice of a larger buffer: the data's indices are the buffer's.
        let buffer = [0xff, 0xff] + big.encode() + [0xee]
        let sliced = try Entry(decoding: buffer[2 ..< buffer.count - 1])
        #expect(sliced == big)
        #expect(sliced.data.map(Array.init) == [1, 2, 3])
    }

    @Test("other layouts go to the general reader: large values, other orders, unknown fields, wide types")
    func otherLayouts() throws {
        let max = Entry(term: .max, index: .max - 1, data: [9][...])
        #expect(try Entry(decoding: max.encode()[...]) == max)
        // index before term
        #expect(try Entry(decoding: [0x18, 0x02, 0x10, 0x01, 0x08, 0x00][...]) == Entry(term: 1, index: 2))
        // an unknown varint field 5 after the data
        #expect(try Entry(decoding: [0x08, 0x00, 0x10, 0x01, 0x18, 0x02, 0x22, 0x01, 0x07, 0x28, 0x05][...])
            == Entry(term: 1, index: 2, data: [7][...]))
        // a type above 127 (two-byte varint)
        #expect(try Entry(decoding: [0x08, 0x80, 0x01, 0x10, 0x01, 0x18, 0x02][...])
            == Entry(term: 1, index: 2, type: EntryType(rawValue: 128)))
    }

    @Test("refusals are the general reader's: a data length past the end, a cut varint")
    func refusals() {
        #expect(throws: RaftPBError.self) { try Entry(decoding: [0x08, 0x00, 0x10, 0x01, 0x18, 0x02, 0x22, 0x05, 0x01][...]) }
        #expect(throws: RaftPBError.self) { try Entry(decoding: [0x08, 0x00, 0x10, 0x81][...]) }
    }
}
