// Loads the etcd 3.4 golden vectors from ../shared/golden/etcd-3.4 (beside the package root), or
// from $RAFTHTTP_GOLDEN_DIR. The vectors are read at run time, never copied into the repository.
import Foundation
import RaftPB

/// Why the golden vectors could not be used.
public struct GoldenError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One case of `cases.json`; see the README beside it.
public struct GoldenCase: Decodable, Sendable {
    public let name: String
    public let file: String
    public let kind: String
    public let description: String
    public let size: Int
    public let entry: GoldenEntry?
    public let message: GoldenMessage?
    public let frames: [GoldenFrame]?
    public let streamFrom: String?
    public let streamTo: String?
    public let dbHex: String?
    public let dbOffset: Int?

    enum CodingKeys: String, CodingKey {
        case name, file, kind, description, size, entry, message, frames
        case streamFrom = "stream_from", streamTo = "stream_to", dbHex = "db_hex", dbOffset = "db_offset"
    }

    /// The `.bin` file's bytes.
    public func bytes() throws -> [UInt8] {
        let url = Golden.directory.appendingPathComponent(file)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw GoldenError("cannot read \(url.path)")
        }
        return [UInt8](data)
    }
}

/// One frame of a stream case.
public struct GoldenFrame: Decodable, Sendable {
    public let offset: Int
    public let length: Int
    public let form: String
    public let input: GoldenMessage
    public let decoded: GoldenMessage?
}

public struct GoldenEntry: Decodable, Sendable {
    public let term: String
    public let index: String
    public let type: String
    public let typeNum: Int32
    public let dataHex: String?

    enum CodingKeys: String, CodingKey {
        case term, index, type, typeNum = "type_num", dataHex = "data_hex"
    }

    public func value() throws -> Entry {
        Entry(term: try Golden.uint64(term), index: try Golden.uint64(index),
              type: EntryType(rawValue: typeNum), data: try dataHex.map { try Golden.hex($0)[...] })
    }
}

public struct GoldenConfState: Decodable, Sendable {
    public let voters: [String]
    public let learners: [String]
    public let votersOutgoing: [String]
    public let learnersNext: [String]
    public let autoLeave: Bool

    enum CodingKeys: String, CodingKey {
        case voters, learners, votersOutgoing = "voters_outgoing", learnersNext = "learners_next"
        case autoLeave = "auto_leave"
    }

    public func value() throws -> ConfState {
        ConfState(voters: try voters.map(Golden.uint64), learners: try learners.map(Golden.uint64),
                  votersOutgoing: try votersOutgoing.map(Golden.uint64),
                  learnersNext: try learnersNext.map(Golden.uint64), autoLeave: autoLeave)
    }
}

public struct GoldenMetadata: Decodable, Sendable {
    public let confState: GoldenConfState
    public let index: String
    public let term: String

    enum CodingKeys: String, CodingKey { case confState = "conf_state", index, term }
}

public struct GoldenSnapshot: Decodable, Sendable {
    public let dataHex: String?
    public let metadata: GoldenMetadata

    enum CodingKeys: String, CodingKey { case dataHex = "data_hex", metadata }

    public func value() throws -> Snapshot {
        Snapshot(
            data: try dataHex.map { try Golden.hex($0)[...] },
            metadata: SnapshotMetadata(confState: try metadata.confState.value(),
                                       index: try Golden.uint64(metadata.index),
                                       term: try Golden.uint64(metadata.term)))
    }
}

public struct GoldenMessage: Decodable, Sendable {
    public let type: String
    public let typeNum: Int32
    public let to, from, term, logTerm, index, commit, rejectHint: String
    public let entries: [GoldenEntry]
    public let snapshot: GoldenSnapshot
    public let reject: Bool
    public let contextHex: String?

    enum CodingKeys: String, CodingKey {
        case type, typeNum = "type_num", to, from, term, logTerm, index, commit, rejectHint, entries
        case snapshot, reject, contextHex = "context_hex"
    }

    public func value() throws -> Message {
        Message(
            type: MessageType(rawValue: typeNum), to: try Golden.uint64(to), from: try Golden.uint64(from),
            term: try Golden.uint64(term), logTerm: try Golden.uint64(logTerm), index: try Golden.uint64(index),
            entries: try entries.map { try $0.value() }, commit: try Golden.uint64(commit),
            snapshot: try snapshot.value(), reject: reject, rejectHint: try Golden.uint64(rejectHint),
            context: try contextHex.map { try Golden.hex($0)[...] })
    }
}

/// Access to the golden vectors.
public enum Golden {
    /// The vectors' folder: `$RAFTHTTP_GOLDEN_DIR`, else `../shared/golden/etcd-3.4` from the
    /// package root (found from this file's path).
    public static var directory: URL {
        if let dir = ProcessInfo.processInfo.environment["RAFTHTTP_GOLDEN_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // TestSupport
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()
        return packageRoot.deletingLastPathComponent()
            .appendingPathComponent("shared/golden/etcd-3.4")
    }

    /// Every case in `cases.json`.
    public static func cases() throws -> [GoldenCase] {
        let url = directory.appendingPathComponent("cases.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw GoldenError("golden vectors not found at \(url.path); set RAFTHTTP_GOLDEN_DIR")
        }
        struct File: Decodable { let cases: [GoldenCase] }
        return try JSONDecoder().decode(File.self, from: data).cases
    }

    /// Names of the cases of one kind, for `@Test(arguments:)`. If the vectors cannot be loaded it
    /// returns one name describing why, so that the test fails visibly instead of running on nothing.
    public static func names(kind: String) -> [String] {
        do {
            let names = try cases().filter { $0.kind == kind }.map(\.name)
            return names.isEmpty ? ["<no golden case of kind \(kind)>"] : names
        } catch {
            return ["<golden vectors unavailable: \(error)>"]
        }
    }

    /// The case with this name.
    public static func named(_ name: String) throws -> GoldenCase {
        guard let found = try cases().first(where: { $0.name == name }) else {
            throw GoldenError("no golden case \(name)")
        }
        return found
    }

    /// Decimal string to UInt64, as cases.json writes every uint64.
    public static func uint64(_ text: String) throws -> UInt64 {
        guard let value = UInt64(text) else { throw GoldenError("not a uint64: \(text)") }
        return value
    }

    /// Lower-case hex string to bytes.
    public static func hex(_ text: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for char in text.utf8 {
            let nibble: UInt8
            switch char {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = char - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = char - UInt8(ascii: "a") + 10
            default: throw GoldenError("bad hex digit in \(text.prefix(20))")
            }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        guard high == nil else { throw GoldenError("odd-length hex") }
        return bytes
    }
}
