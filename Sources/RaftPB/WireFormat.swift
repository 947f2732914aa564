// The protobuf wire format, as much of it as raftpb needs: varints, length-delimited fields and
// the skipping of unknown fields. Everything here works on raw pointers into one buffer so that a
// decode or an encode touches no allocator except for the values it returns.
//
// | wire type | meaning            | raftpb uses it for                         |
// |-----------|--------------------|--------------------------------------------|
// | 0         | varint             | uint64, bool, enum; unpacked repeated uint64 |
// | 1         | fixed 64           | nothing (skipped when unknown)             |
// | 2         | length-delimited   | bytes, nested messages, packed repeated    |
// | 3, 4      | start / end group  | nothing (skipped when unknown, bounded)    |
// | 5         | fixed 32           | nothing (skipped when unknown)             |
//
// A tag is the varint `field << 3 | wireType`. gogoproto emits one-byte tags for every raftpb field.

/// Bytes a varint takes for `value`: one per started group of seven bits.
@inlinable @inline(__always)
func varintSize(_ value: UInt64) -> Int {
    (64 - (value | 1).leadingZeroBitCount + 6) / 7
}

/// Bytes a length-delimited field takes, tag included, for a payload of `length` bytes.
@inlinable @inline(__always)
func delimitedSize(_ length: Int) -> Int {
    1 + varintSize(UInt64(length)) + length
}

/// Protobuf sends enums as int32 varints; a negative value goes out sign-extended to ten bytes.
@inlinable @inline(__always)
func enumWireValue(_ raw: Int32) -> UInt64 {
    UInt64(bitPattern: Int64(raw))
}

/// Encodes `size` bytes (a value's `wireSize`) with `write` into `buffer`, which must hold them
/// (a smaller buffer traps); returns `size`. Inlinable for the types the streams encode per
/// message, whose encode must not become an opaque call (see ``WireWriter``).
@inlinable @inline(__always)
func encodeSized(_ size: Int, into buffer: UnsafeMutableRawBufferPointer, _ write: (inout WireWriter) -> Void) -> Int {
    precondition(buffer.count >= size, "buffer of \(buffer.count) bytes is smaller than encodedSize \(size)")
    if let base = buffer.baseAddress, size > 0 {
        var writer = WireWriter(base: base, position: 0)
        write(&writer)
    }
    return size
}

/// Writes wire format into memory the caller sized with the value's `wireSize`. It never checks
/// bounds: the size computation is the contract.
///
/// Inlinable, with the encoders of the types the streams encode per message (``Entry``): an
/// encode called across the module boundary would copy, and so retain, every value it is given.
@usableFromInline
struct WireWriter {
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline var position: Int

    @inlinable
    init(base: UnsafeMutableRawPointer, position: Int) {
        self.base = base
        self.position = position
    }

    @inlinable @inline(__always)
    mutating func byte(_ value: UInt8) {
        base.storeBytes(of: value, toByteOffset: position, as: UInt8.self)
        position += 1
    }

    @inlinable @inline(__always)
    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            byte(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        byte(UInt8(value))
    }

    /// A one-byte tag and a varint: every scalar raftpb field.
    @inlinable @inline(__always)
    mutating func field(_ tag: UInt8, _ value: UInt64) {
        byte(tag)
        varint(value)
    }

    @inlinable @inline(__always)
    mutating func raw(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { source in
            guard let from = source.baseAddress, !source.isEmpty else { return }
            (base + position).copyMemory(from: from, byteCount: source.count)
        }
        position += bytes.count
    }

    @inlinable @inline(__always)
    mutating func delimited(_ tag: UInt8, _ bytes: ArraySlice<UInt8>) {
        byte(tag)
        varint(UInt64(bytes.count))
        raw(bytes)
    }

    mutating func embedded(_ tag: UInt8, _ value: some WireMessage) {
        byte(tag)
        varint(UInt64(value.wireSize))
        value.write(to: &self)
    }

    @inline(__always)
    mutating func bigEndian(_ value: UInt64) {
        base.storeBytes(of: value.bigEndian, toByteOffset: position, as: UInt64.self)
        position += 8
    }
}

/// Reads wire format from one buffer. `end` is the end of the message being read, narrowed while
/// a nested message is read, so a nested field can never run past its parent. Byte fields come
/// back as slices of `storage`: no copy, the slice keeps the caller's array alive.
struct WireReader {
    private let base: UnsafeRawPointer?
    private(set) var position: Int
    private(set) var end: Int
    /// The caller's slice, by address: holding a copy of it cost a retain and a release of its
    /// storage per decode, for messages that mostly have no bytes field to hand out.
    private let storage: UnsafePointer<ArraySlice<UInt8>>
    /// The index in `storage` of the first byte of `raw`.
    private let startIndex: Int

    /// `raw` must be the bytes of the slice at `storage` from index `startIndex` on, and both stay
    /// valid while the reader is used.
    init(_ raw: UnsafeRawBufferPointer, storage: UnsafePointer<ArraySlice<UInt8>>, startIndex: Int) {
        self.base = raw.baseAddress
        self.position = 0
        self.end = raw.count
        self.storage = storage
        self.startIndex = startIndex
    }

    @inline(__always)
    var hasMore: Bool { position < end }

    /// The byte at the current position, if the current message has one; reads nothing.
    @inline(__always)
    var nextByte: UInt8? { position < end ? byte(at: position) : nil }

    @inline(__always)
    private func byte(at offset: Int) -> UInt8 {
        // Callers check `offset < end`, and `end` never exceeds the buffer, so `base` is non-nil here.
        base.unsafelyUnwrapped.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(__always)
    mutating func varint(_ field: StaticString) throws(RaftPBError) -> UInt64 {
        if position < end {
            let first = byte(at: position)
            if first < 0x80 {
                position += 1
                return UInt64(first)
            }
        }
        return try longVarint(field)
    }

    private mutating func longVarint(_ field: StaticString) throws(RaftPBError) -> UInt64 {
        // Member IDs are random 64-bit values, so ten-byte varints are the common case here, not
        // the rare one. With ten bytes left, read the first eight as one word: byte i's low seven
        // bits move to bit 7i (shift right by i and mask), and the first byte without its high bit
        // ends the varint. Bytes nine and ten, if needed, are read one by one.
        if end - position >= 10 {
            let start = base.unsafelyUnwrapped + position
            let word = UInt64(littleEndian: start.loadUnaligned(as: UInt64.self))
            var value: UInt64 = 0
            for i: UInt64 in 0 ..< 8 { value |= (word >> i) & (0x7F << (7 * i)) }
            let lastBytes = ~word & 0x8080_8080_8080_8080
            if lastBytes != 0 {
                let length = (lastBytes.trailingZeroBitCount + 1) / 8
                position += length
                return length == 8 ? value : value & ((1 << UInt64(7 * length)) - 1)
            }
            let ninth = start.load(fromByteOffset: 8, as: UInt8.self)
            value |= UInt64(ninth & 0x7F) << 56
            if ninth < 0x80 {
                position += 9
                return value
            }
            // The tenth byte holds one significant bit; like the Go decoders, drop the rest.
            let tenth = start.load(fromByteOffset: 9, as: UInt8.self)
            value |= UInt64(tenth & 0x7F) << 63
            if tenth < 0x80 {
                position += 10
                return value
            }
            throw .varintOverflow(at: position, in: "\(field)")
        }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var offset = position
        while true {
            guard shift < 64 else { throw .varintOverflow(at: position, in: "\(field)") }
            guard offset < end else { throw .truncatedVarint(at: position, in: "\(field)") }
            let next = byte(at: offset)
            offset += 1
            // The tenth byte holds one significant bit; like the Go decoders, drop the rest.
            value |= UInt64(next & 0x7F) << shift
            if next < 0x80 { break }
            shift += 7
        }
        position = offset
        return value
    }

    /// Reads a tag; the field number is the int32 the Go decoders compare against.
    @inline(__always)
    mutating func tag(_ message: StaticString) throws(RaftPBError) -> (field: Int32, wireType: UInt8) {
        let start = position
        let key = try varint(message)
        let field = Int32(truncatingIfNeeded: key >> 3)
        let wireType = UInt8(key & 7)
        guard field > 0 else { throw .invalidFieldNumber(at: start, in: "\(message)") }
        guard wireType != 4 else { throw .unexpectedEndGroup(at: start, in: "\(message)") }
        return (field, wireType)
    }

    @inline(__always)
    mutating func expect(_ wireType: UInt8, _ wanted: UInt8, _ field: StaticString) throws(RaftPBError) {
        guard wireType == wanted else {
            throw .wrongWireType(wireType, expected: wanted == 0 ? "a varint" : "a length-delimited field",
                                 at: position, in: "\(field)")
        }
    }

    @inline(__always)
    mutating func uint64(_ wireType: UInt8, _ field: StaticString) throws(RaftPBError) -> UInt64 {
        try expect(wireType, 0, field)
        return try varint(field)
    }

    @inline(__always)
    mutating func enumValue(_ wireType: UInt8, _ field: StaticString) throws(RaftPBError) -> Int32 {
        Int32(truncatingIfNeeded: try uint64(wireType, field))
    }

    @inline(__always)
    mutating func bool(_ wireType: UInt8, _ field: StaticString) throws(RaftPBError) -> Bool {
        try uint64(wireType, field) != 0
    }

    /// Reads a length prefix and checks it against what is left of the current message.
    @inline(__always)
    mutating func length(_ field: StaticString) throws(RaftPBError) -> Int {
        let start = position
        let length = try varint(field)
        let remaining = end - position
        guard length <= UInt64(remaining) else {
            throw .lengthPastEnd(length, remaining: remaining, at: start, in: "\(field)")
        }
        return Int(length)
    }

    /// A bytes field, as a slice of the caller's storage (present, possibly empty).
    @inline(__always)
    mutating func bytes(_ wireType: UInt8, _ field: StaticString) throws(RaftPBError) -> ArraySlice<UInt8> {
        try expect(wireType, 2, field)
        let count = try length(field)
        let from = startIndex + position
        position += count
        return storage.pointee[from ..< from + count]
    }

    /// Skips a length-delimited field whose payload is exactly `payload` and returns true;
    /// otherwise reads nothing and returns false. The fast path for a nested message that is
    /// nearly always the same few bytes.
    @inline(__always)
    mutating func skip(_ wireType: UInt8, ifPayloadIs payload: UnsafeRawBufferPointer) -> Bool {
        // Payloads under 128 bytes only: their length is one byte.
        guard wireType == 2, position < end, Int(byte(at: position)) == payload.count,
              end - position - 1 >= payload.count
        else { return false }
        for i in 0 ..< payload.count where byte(at: position + 1 + i) != payload[i] { return false }
        position += 1 + payload.count
        return true
    }

    /// How many fields with the one-byte `key` are left in the current message: a scan that reads
    /// only tags and lengths, so that a repeated field's array can be allocated once at its final
    /// size. It stops at the first byte it cannot step over; the decode proper then reports that
    /// byte. Each counted field takes at least two bytes, so the count never exceeds what the
    /// bytes left could decode to anyway.
    func countFields(key: UInt8) -> Int {
        var offset = position
        var count = 0
        /// A varint at `offset`, or nil when it runs past `end` or past ten bytes.
        func varint() -> UInt64? {
            var value: UInt64 = 0
            for shift in stride(from: UInt64(0), to: 70, by: 7) {
                guard offset < end else { return nil }
                let next = byte(at: offset)
                offset += 1
                value |= UInt64(next & 0x7F) << shift
                if next < 0x80 { return value }
            }
            return nil
        }
        while offset < end {
            guard let fieldKey = varint() else { break }
            if fieldKey == UInt64(key) { count += 1 }
            switch fieldKey & 7 {
            case 0: guard varint() != nil else { return count }
            case 1: offset += 8
            case 2:
                guard let length = varint(), length <= UInt64(end - offset) else { return count }
                offset += Int(length)
            case 5: offset += 4
            default: return count  // groups: rare enough to leave to the decode proper
            }
        }
        return count
    }

    /// Merges a nested message into `value`, as proto2 merges a repeated non-repeated field.
    @inline(__always)
    mutating func embedded<T: WireMessage>(_ wireType: UInt8, into value: inout T, _ field: StaticString)
        throws(RaftPBError)
    {
        try expect(wireType, 2, field)
        let count = try length(field)
        let outer = end
        end = position + count
        try value.merge(from: &self)
        end = outer
    }

    /// A repeated uint64, accepted unpacked (what gogoproto writes) and packed (what a proto2
    /// parser must also take). Grows the array only as values are read: no trust in any count.
    mutating func repeatedUInt64(_ wireType: UInt8, into values: inout [UInt64], _ field: StaticString)
        throws(RaftPBError)
    {
        switch wireType {
        case 0:
            values.append(try varint(field))
        case 2:
            let count = try length(field)
            let outer = end
            end = position + count
            while position < end { values.append(try varint(field)) }
            end = outer
        default:
            throw .wrongWireType(wireType, expected: "a varint or a packed run", at: position, in: "\(field)")
        }
    }

    /// Skips a field this schema does not know.
    mutating func skip(_ wireType: UInt8, _ message: StaticString) throws(RaftPBError) {
        switch wireType {
        case 0:
            _ = try varint(message)
        case 1:
            try skipFixed(8, message)
        case 2:
            position += try length(message)
        case 3:
            try skipGroup(message)
        case 5:
            try skipFixed(4, message)
        default:
            throw .invalidWireType(wireType, at: position, in: "\(message)")
        }
    }

    private mutating func skipFixed(_ width: Int, _ message: StaticString) throws(RaftPBError) {
        guard end - position >= width else { throw .truncatedFixed(at: position, width: width, in: "\(message)") }
        position += width
    }

    /// Skips a group whose start tag was just read; loops rather than recurses, with a depth bound.
    private mutating func skipGroup(_ message: StaticString) throws(RaftPBError) {
        var depth = 1
        while true {
            let start = position
            let key = try varint(message)
            let wireType = UInt8(key & 7)
            switch wireType {
            case 3:
                depth += 1
                guard depth <= RaftPBError.maximumGroupDepth else { throw .nestingTooDeep(at: start, in: "\(message)") }
            case 4:
                depth -= 1
                if depth == 0 { return }
            default:
                try skip(wireType, message)
            }
        }
    }
}

/// What every raftpb type implements for the shared encode and decode paths.
protocol WireMessage {
    init()
    /// Exact bytes `write(to:)` produces.
    var wireSize: Int { get }
    func write(to writer: inout WireWriter)
    /// Reads fields until the reader's current `end`, overwriting scalars and appending to repeated
    /// fields, as proto2 merging does.
    mutating func merge(from reader: inout WireReader) throws(RaftPBError)
}

/// The public entry points, written once for all types.
enum WireCoding {
    @inline(__always)
    static func encode(_ value: some WireMessage) -> [UInt8] {
        let size = value.wireSize
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            if let base = buffer.baseAddress, size > 0 {
                var writer = WireWriter(base: UnsafeMutableRawPointer(base), position: 0)
                value.write(to: &writer)
            }
            count = size
        }
    }

    @inline(__always)
    static func encode(_ value: some WireMessage, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let size = value.wireSize
        precondition(buffer.count >= size, "buffer of \(buffer.count) bytes is smaller than encodedSize \(size)")
        if let base = buffer.baseAddress, size > 0 {
            var writer = WireWriter(base: base, position: 0)
            value.write(to: &writer)
        }
        return size
    }

    @inline(__always)
    static func append(_ value: some WireMessage, to bytes: inout [UInt8]) {
        let size = value.wireSize
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: size))
        bytes.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress, size > 0 {
                var writer = WireWriter(base: base, position: start)
                value.write(to: &writer)
            }
        }
    }

    /// Calls `body` with a reader over `bytes[range]` (all of `bytes` when nil), whose bytes fields
    /// are slices of `bytes`.
    @inline(__always)
    static func withReader<R>(_ bytes: ArraySlice<UInt8>, _ range: Range<Int>? = nil, _ body: (inout WireReader) -> R) -> R {
        let range = range ?? bytes.indices
        precondition(range.lowerBound >= bytes.startIndex && range.upperBound <= bytes.endIndex,
                     "range \(range) is outside the bytes' indices \(bytes.indices)")
        return withUnsafePointer(to: bytes) { storage in
            bytes.withUnsafeBytes { all in
                let raw = UnsafeRawBufferPointer(rebasing: all[(range.lowerBound - bytes.startIndex) ..< (range.upperBound - bytes.startIndex)])
                var reader = WireReader(raw, storage: storage, startIndex: range.lowerBound)
                return body(&reader)
            }
        }
    }

    /// Decodes in place into `value` (normally fresh): no intermediate copies of a large value.
    @inline(__always)
    static func decode<T: WireMessage>(_ bytes: ArraySlice<UInt8>, into value: inout T) throws(RaftPBError) {
        let failure: RaftPBError? = withReader(bytes) { reader in
            do throws(RaftPBError) {
                try value.merge(from: &reader)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }
}

/// A raftpb type with etcd 3.4's protobuf encoding (gogoproto, proto2, non-nullable fields).
///
/// Encoding writes every non-nullable scalar even when it is zero, repeated `uint64` fields
/// unpacked, and fields in field-number order, byte for byte as etcd 3.4 does. Byte fields that are
/// `nil` are left out; empty non-`nil` ones are written with length 0.
///
/// Decoding accepts anything a proto2 parser must: fields in any order, absent fields (zero),
/// packed repeated `uint64`, repeated occurrences of a nested message (merged), and unknown fields
/// (skipped). It throws ``RaftPBError`` on malformed bytes and never allocates more than the input
/// justifies.
///
/// All of it is pure value code: call it from any thread.
public protocol ProtobufMessage: Hashable, Sendable {
    /// The exact number of bytes ``encode()`` produces.
    var encodedSize: Int { get }

    /// Encodes into `buffer`, which must hold at least ``encodedSize`` bytes (a smaller buffer
    /// traps), and returns the number of bytes written. Use it to encode straight into a
    /// connection's output buffer.
    func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int

    /// Encodes into a new array of exactly ``encodedSize`` bytes (one allocation).
    func encode() -> [UInt8]

    /// Appends the encoding to `bytes`, growing it at most once.
    func append(to bytes: inout [UInt8])

    /// Decodes from `bytes` without copying: byte fields of the result are slices of `bytes`'
    /// storage and keep it alive. Throws ``RaftPBError`` if the bytes are malformed.
    init(decoding bytes: ArraySlice<UInt8>) throws(RaftPBError)
}

extension ProtobufMessage {
    /// Decodes from `bytes` without copying: byte fields of the result share `bytes`' storage.
    /// Throws ``RaftPBError`` if the bytes are malformed.
    @inlinable
    public init(decoding bytes: [UInt8]) throws(RaftPBError) {
        try self.init(decoding: bytes[...])
    }

    /// Decodes from memory the caller keeps only for the duration of the call: the bytes are copied
    /// once into one array that all byte fields of the result then share. Throws ``RaftPBError``.
    @inlinable
    public init(copying buffer: UnsafeRawBufferPointer) throws(RaftPBError) {
        try self.init(decoding: [UInt8](buffer)[...])
    }
}
