/// Why a protobuf decode of a raftpb type failed.
///
/// The decoders never trap on hostile input: every way bytes can be malformed ends in one of these
/// errors. `code` says what went wrong, `offset` where (counted from the start of the bytes handed to
/// the outermost decoder), and `description` reads as a sentence a person can act on, for example
/// `raftpb: length 70000 at offset 12 runs past the end of the message (4 bytes left) in Entry.data`.
///
/// Compare errors by `code`; new codes may be added in later versions.
public struct RaftPBError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of decode failure, an open set of values rather than an enum that can never grow.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case truncatedVarint
            case varintOverflow
            case truncatedFixed
            case lengthPastEnd
            case wrongWireType
            case invalidWireType
            case invalidFieldNumber
            case unexpectedEndGroup
            case nestingTooDeep
        }

        fileprivate let base: Base

        /// The bytes ended in the middle of a varint.
        public static let truncatedVarint = Code(base: .truncatedVarint)
        /// A varint ran longer than the ten bytes a 64-bit value can take.
        public static let varintOverflow = Code(base: .varintOverflow)
        /// The bytes ended inside a fixed 32- or 64-bit field that was being skipped.
        public static let truncatedFixed = Code(base: .truncatedFixed)
        /// A length-delimited field declared more bytes than remain in its enclosing message.
        public static let lengthPastEnd = Code(base: .lengthPastEnd)
        /// A known field arrived with a wire type its schema does not allow (say a nested message
        /// where a `uint64` belongs).
        public static let wrongWireType = Code(base: .wrongWireType)
        /// A tag carried wire type 6 or 7, which protobuf does not define.
        public static let invalidWireType = Code(base: .invalidWireType)
        /// A tag carried field number 0, which protobuf reserves.
        public static let invalidFieldNumber = Code(base: .invalidFieldNumber)
        /// An end-group tag appeared without a matching start-group.
        public static let unexpectedEndGroup = Code(base: .unexpectedEndGroup)
        /// Unknown groups nested deeper than ``RaftPBError/maximumGroupDepth``.
        public static let nestingTooDeep = Code(base: .nestingTooDeep)

        public var description: String {
            switch base {
            case .truncatedVarint: "truncated varint"
            case .varintOverflow: "varint overflow"
            case .truncatedFixed: "truncated fixed-width field"
            case .lengthPastEnd: "length past end"
            case .wrongWireType: "wrong wire type"
            case .invalidWireType: "invalid wire type"
            case .invalidFieldNumber: "invalid field number"
            case .unexpectedEndGroup: "unexpected end group"
            case .nestingTooDeep: "nesting too deep"
            }
        }
    }

    /// How deep unknown protobuf groups may nest before the decoder gives up. Known fields never
    /// nest deeper than the schema (Message → Snapshot → SnapshotMetadata → ConfState); only an
    /// unknown group could, and recursing without bound on a hostile peer's say-so is not an option.
    public static let maximumGroupDepth = 16

    /// What went wrong.
    public let code: Code
    /// Byte offset, from the start of the outermost decoded buffer, where the problem was detected.
    public let offset: Int
    /// The field being read, as `Type.field` (for example `Message.entries`), or the type name.
    public let field: String
    private let detail: String

    init(_ code: Code, offset: Int, field: String, detail: String) {
        self.code = code
        self.offset = offset
        self.field = field
        self.detail = detail
    }

    public var description: String {
        "raftpb: \(detail) at offset \(offset) in \(field)"
    }

    static func truncatedVarint(at offset: Int, in field: String) -> RaftPBError {
        RaftPBError(.truncatedVarint, offset: offset, field: field, detail: "input ends inside a varint")
    }

    static func varintOverflow(at offset: Int, in field: String) -> RaftPBError {
        RaftPBError(.varintOverflow, offset: offset, field: field, detail: "varint longer than 10 bytes")
    }

    static func truncatedFixed(at offset: Int, width: Int, in field: String) -> RaftPBError {
        RaftPBError(.truncatedFixed, offset: offset, field: field,
                    detail: "input ends inside a \(width)-byte fixed field")
    }

    static func lengthPastEnd(_ length: UInt64, remaining: Int, at offset: Int, in field: String) -> RaftPBError {
        RaftPBError(.lengthPastEnd, offset: offset, field: field,
                    detail: "length \(length) runs past the end of the message (\(remaining) bytes left)")
    }

    static func wrongWireType(_ wireType: UInt8, expected: String, at offset: Int, in field: String) -> RaftPBError {
        RaftPBError(.wrongWireType, offset: offset, field: field,
                    detail: "wire type \(wireType) where \(expected) belongs")
    }

    static func invalidWireType(_ wireType: UInt8, at offset: Int, in field: String) -> RaftPBError {
        RaftPBError(.invalidWireType, offset: offset, field: field, detail: "undefined wire type \(wireType)")
    }

    static func invalidFieldNumber(at offset: Int, in field: String) -> RaftPBError {
        RaftPBError(.invalidFieldNumber, offset: offset, field: field, detail: "field number 0")
    }

    static func unexpectedEndGroup(at offset: Int, in field: String) -> RaftPBError {
        RaftPBError(.unexpectedEndGroup, offset: offset, field: field, detail: "end-group tag without a start")
    }

    static func nestingTooDeep(at offset: Int, in field: String) -> RaftPBError {
        RaftPBError(.nestingTooDeep, offset: offset, field: field,
                    detail: "unknown groups nested deeper than \(maximumGroupDepth)")
    }
}
