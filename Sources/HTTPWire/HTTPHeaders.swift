// The header (or trailer) fields of a message, in wire order, repeated names kept.
// Part of HTTPWire, which imports nothing; `HTTPFields` conversion lives in PeerHTTP
// (HTTPTypes+PeerHTTP.swift).

/// Header or trailer fields in the order they were received or will be sent.
///
/// Names keep their case; every lookup compares names ASCII-case-insensitively. Repeated fields
/// stay separate entries (the parser never joins them), so `Set-Cookie`-like fields survive.
public struct HTTPHeaders: Hashable, Sendable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// One `name: value` line. The value has no leading or trailing whitespace.
    public struct Field: Hashable, Sendable {
        /// The field name as received, e.g. `Content-Length`.
        public var name: String
        /// The field value with surrounding spaces and tabs removed.
        public var value: String

        /// Creates a field; the serializer writes it as `name: value`.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in wire order. `package`: PeerHTTP's `HTTPFields` conversion appends to it.
    package var fields: [Field]

    /// Creates an empty field list.
    public init() { fields = [] }

    /// Creates a field list from a literal, keeping the order (and any repeated names) as written.
    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { Field(name: $0.0, value: $0.1) }
    }

    /// The position of the first field (always 0).
    public var startIndex: Int { fields.startIndex }
    /// One past the position of the last field: the number of fields.
    public var endIndex: Int { fields.endIndex }
    /// The field at `position`, in wire order.
    public subscript(position: Int) -> Field { fields[position] }

    /// Appends a field after the existing ones, even if one with the same name exists.
    public mutating func append(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Removes every field with this name (case-insensitively).
    public mutating func remove(name: String) {
        fields.removeAll { asciiCaseInsensitiveEquals($0.name, name) }
    }

    /// The value of the first field with this name (case-insensitively), or nil.
    public subscript(name: String) -> String? {
        fields.first { asciiCaseInsensitiveEquals($0.name, name) }?.value
    }

    /// The values of every field with this name (case-insensitively), in order.
    public func values(for name: String) -> [String] {
        fields.compactMap { asciiCaseInsensitiveEquals($0.name, name) ? $0.value : nil }
    }

    /// Whether any field with this name lists `token` among its comma-separated elements,
    /// case-insensitively: `containsToken("close", inField: "Connection")`.
    public func containsToken(_ token: String, inField name: String) -> Bool {
        for field in fields where asciiCaseInsensitiveEquals(field.name, name) {
            for element in field.value.utf8.split(separator: UInt8(ascii: ",")) {
                if asciiCaseInsensitiveEquals(trimmingOWS(element), token.utf8) { return true }
            }
        }
        return false
    }
}

/// ASCII case-insensitive comparison, as field names and tokens are compared (RFC 9110 §5.1).
func asciiCaseInsensitiveEquals(_ lhs: String, _ rhs: String) -> Bool {
    // Field names are native strings: their UTF-8 counts are O(1) and their bytes contiguous, so
    // this compares buffers instead of walking two UTF8Views in step (a header lookup per field
    // of every request).
    guard lhs.utf8.count == rhs.utf8.count else { return false }
    if let equal = lhs.utf8.withContiguousStorageIfAvailable({ a in
        rhs.utf8.withContiguousStorageIfAvailable { b in asciiCaseInsensitiveEquals(a, b) }
    }), let equal {
        return equal
    }
    return asciiCaseInsensitiveEquals(lhs.utf8, rhs.utf8)
}

func asciiCaseInsensitiveEquals<A: Collection<UInt8>, B: Collection<UInt8>>(_ lhs: A, _ rhs: B) -> Bool {
    guard lhs.count == rhs.count else { return false }
    for (a, b) in zip(lhs, rhs) where a != b {
        if a | 0x20 != b | 0x20 { return false }
        if !(UInt8(ascii: "a")...UInt8(ascii: "z")).contains(a | 0x20) { return false }
    }
    return true
}

/// The bytes without leading and trailing spaces and tabs (RFC 9110 OWS).
func trimmingOWS<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> C.SubSequence {
    var start = bytes.startIndex
    var end = bytes.endIndex
    while start < end, bytes[start] == ASCII.space || bytes[start] == ASCII.tab { bytes.formIndex(after: &start) }
    while end > start {
        let last = bytes.index(before: end)
        guard bytes[last] == ASCII.space || bytes[last] == ASCII.tab else { break }
        end = last
    }
    return bytes[start..<end]
}
