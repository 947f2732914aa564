// Random raftpb values and byte mutations for property and robustness tests.
import RaftPB

/// Random raftpb values, shaped so that each field's interesting sizes come up: zero, small,
/// multi-byte varints and the maximum; nil, empty and non-empty byte fields.
public enum RandomRaft {
    public static func uint64(using rng: inout some RandomNumberGenerator) -> UInt64 {
        switch Int.random(in: 0 ..< 6, using: &rng) {
        case 0: 0
        case 1: UInt64.random(in: 1 ... 127, using: &rng)
        case 2: UInt64.random(in: 128 ... 1 << 21, using: &rng)
        case 3: .max
        case 4: UInt64.random(in: 0 ... .max, using: &rng)
        default: UInt64.random(in: 0 ... 1 << 40, using: &rng)
        }
    }

    public static func bytes(using rng: inout some RandomNumberGenerator, maxCount: Int = 300) -> ArraySlice<UInt8>? {
        switch Int.random(in: 0 ..< 4, using: &rng) {
        case 0: return nil
        case 1: return []
        default:
            let count = Int.random(in: 1 ... maxCount, using: &rng)
            return (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }[...]
        }
    }

    public static func ids(using rng: inout some RandomNumberGenerator) -> [UInt64] {
        (0 ..< Int.random(in: 0 ... 4, using: &rng)).map { _ in uint64(using: &rng) }
    }

    public static func entry(using rng: inout some RandomNumberGenerator) -> Entry {
        Entry(term: uint64(using: &rng), index: uint64(using: &rng),
              type: EntryType(rawValue: Int32.random(in: -1 ... 3, using: &rng)), data: bytes(using: &rng))
    }

    public static func snapshot(using rng: inout some RandomNumberGenerator) -> Snapshot {
        guard Bool.random(using: &rng) else { return Snapshot() }
        let confState = ConfState(voters: ids(using: &rng), learners: ids(using: &rng),
                                  votersOutgoing: ids(using: &rng), learnersNext: ids(using: &rng),
                                  autoLeave: Bool.random(using: &rng))
        return Snapshot(data: bytes(using: &rng),
                        metadata: SnapshotMetadata(confState: confState, index: uint64(using: &rng),
                                                   term: uint64(using: &rng)))
    }

    public static func message(using rng: inout some RandomNumberGenerator) -> Message {
        Message(
            type: MessageType(rawValue: Int32.random(in: 0 ... 19, using: &rng)),
            to: uint64(using: &rng), from: uint64(using: &rng), term: uint64(using: &rng),
            logTerm: uint64(using: &rng), index: uint64(using: &rng),
            entries: (0 ..< Int.random(in: 0 ... 4, using: &rng)).map { _ in entry(using: &rng) },
            commit: uint64(using: &rng), snapshot: snapshot(using: &rng), reject: Bool.random(using: &rng),
            rejectHint: uint64(using: &rng), context: bytes(using: &rng, maxCount: 20))
    }

    /// A MsgApp as a leader sends it on the msgapp v2 stream from `from` to `to`: consecutive with
    /// `previous` (same term, next index) about half the time, so both frame forms come up.
    public static func append(after previous: (term: UInt64, index: UInt64), from: UInt64, to: UInt64,
                              using rng: inout some RandomNumberGenerator) -> Message {
        let consecutive = Bool.random(using: &rng)
        let term = consecutive ? previous.term : previous.term &+ UInt64.random(in: 0 ... 1, using: &rng)
        let logTerm = consecutive ? term : UInt64.random(in: 0 ... term, using: &rng)
        let index = consecutive ? previous.index : UInt64.random(in: 0 ... previous.index &+ 3, using: &rng)
        let count = Int.random(in: 0 ... 3, using: &rng)
        let entries = (0 ..< count).map { i in
            Entry(term: term, index: index &+ UInt64(i) &+ 1, data: bytes(using: &rng))
        }
        return Message(type: .msgApp, to: to, from: from, term: term, logTerm: logTerm, index: index,
                       entries: entries, commit: uint64(using: &rng))
    }

    /// `bytes` damaged the way a broken or hostile peer damages them: flipped, overwritten,
    /// inserted or removed bytes, a truncation, or a huge varint spliced in.
    public static func mutate(_ bytes: [UInt8], using rng: inout some RandomNumberGenerator) -> [UInt8] {
        var out = bytes
        for _ in 0 ... Int.random(in: 0 ... 3, using: &rng) {
            let position = out.isEmpty ? 0 : Int.random(in: 0 ..< out.count, using: &rng)
            switch Int.random(in: 0 ..< 6, using: &rng) {
            case 0 where !out.isEmpty: out[position] ^= 1 << UInt8.random(in: 0 ... 7, using: &rng)
            case 1 where !out.isEmpty: out[position] = UInt8.random(in: 0 ... 255, using: &rng)
            case 2: out.insert(UInt8.random(in: 0 ... 255, using: &rng), at: position)
            case 3 where !out.isEmpty: out.remove(at: position)
            case 4: out = Array(out.prefix(position))
            default: out.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], at: position)
            }
        }
        return out
    }

    public static func randomBytes(using rng: inout some RandomNumberGenerator, maxCount: Int = 200) -> [UInt8] {
        (0 ..< Int.random(in: 0 ... maxCount, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
    }
}

/// SplitMix64: a small deterministic generator, so that a failing robustness run can be replayed
/// from the seed in its test name.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
