// The replicated state machine: a map from keys to values, changed only by applying committed
// raft entries, in log order, on the raft loop; read from any thread (raftexample's kvstore: a GET
// reads the local copy, so a follower may answer with a value a little behind the leader's).
import RaftIO
import RaftStorage

/// One write, as an entry's data.
///
/// | offset | bytes | meaning                                                          |
/// |--------|-------|------------------------------------------------------------------|
/// | 0      | 8     | request ID (little-endian): lets the proposing member answer it  |
/// | 8      | 4     | key length k (little-endian)                                     |
/// | 12     | k     | key, UTF-8                                                       |
/// | 12+k   | rest  | value                                                            |
public struct KVCommand: Sendable, Hashable {
    /// Chosen by the member that proposed the write, to find its waiting request when it applies.
    public var requestID: UInt64
    /// The key.
    public var key: String
    /// The value.
    public var value: [UInt8]

    /// A write of `value` at `key`.
    public init(requestID: UInt64, key: String, value: [UInt8]) {
        self.requestID = requestID
        self.key = key
        self.value = value
    }

    /// The entry data for this write.
    public func encode() -> [UInt8] {
        let key = Array(key.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(12 + key.count + value.count)
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: requestID >> UInt64(shift))) }
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: UInt32(key.count) >> UInt32(shift))) }
        out.append(contentsOf: key)
        out.append(contentsOf: value)
        return out
    }

    /// Decodes entry data; nil when it is not a command (too short, or a key past the end).
    public init?(decoding data: ArraySlice<UInt8>) {
        guard data.count >= 12 else { return nil }
        let base = data.startIndex
        requestID = (0..<8).reduce(0) { $0 | UInt64(data[base + $1]) << UInt64(8 * $1) }
        let keyLength = Int((0..<4).reduce(UInt32(0)) { $0 | UInt32(data[base + 8 + $1]) << UInt32(8 * $1) })
        guard data.count - 12 >= keyLength else { return nil }
        key = String(decoding: data[(base + 12)..<(base + 12 + keyLength)], as: UTF8.self)
        value = Array(data[(base + 12 + keyLength)...])
    }
}

/// The key-value map. Writes come from the raft loop; reads from any thread.
public final class KVStore: Sendable {
    private let map = Locked<[String: [UInt8]]>([:])

    /// An empty store.
    public init() {}

    /// The value at `key`, or nil. Any thread.
    public func get(_ key: String) -> [UInt8]? { map.withLock { $0[key] } }

    /// Sets `key` to `value`: only the raft loop calls it, for a committed entry.
    func put(_ key: String, _ value: [UInt8]) { map.withLock { $0[key] = value } }

    /// How many keys the store holds.
    public var count: Int { map.withLock { $0.count } }

    /// The whole map, encoded for a snapshot (with no removed members; see ``encode(_:removed:)``).
    public func snapshotData() -> [UInt8] { Self.encode(contents, removed: []) }

    /// The map as it is now: a copy-on-write copy, O(1) under the lock, that later writes do not
    /// change. The raft loop takes it, a snapshot thread encodes it.
    var contents: [String: [UInt8]] { map.withLock { $0 } }

    /// A snapshot's data: the members removed from the cluster as of the snapshot's index, then
    /// the map, keys in order so that members that applied the same entries write the same bytes.
    /// The voters ride in the snapshot's ConfState; the removed IDs are here, as etcd keeps them
    /// in its backend's `members_removed` bucket inside the snapshot database: a member restored
    /// from a snapshot must still refuse a removed member (410, 403).
    ///
    /// | offset | bytes | meaning                                                          |
    /// |--------|-------|------------------------------------------------------------------|
    /// | 0      | 4     | n, removed member count (little-endian)                          |
    /// | 4      | 8 × n | removed member IDs, ascending (little-endian)                    |
    /// | 4+8n   | rest  | per key: 4 key length, key, 4 value length, value               |
    static func encode(_ all: [String: [UInt8]], removed: Set<UInt64>) -> [UInt8] {
        var out: [UInt8] = []
        WriteAheadLog.appendUInt32(UInt32(removed.count), to: &out)
        for id in removed.sorted() {
            for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: id >> UInt64(shift))) }
        }
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            let k = Array(key.utf8)
            WriteAheadLog.appendUInt32(UInt32(k.count), to: &out)
            out.append(contentsOf: k)
            WriteAheadLog.appendUInt32(UInt32(value.count), to: &out)
            out.append(contentsOf: value)
        }
        return out
    }

    /// Replaces the whole map by a snapshot's (see ``encode(_:removed:)``) and returns the
    /// removed members it lists. Returns nil (and changes nothing) when `data` does not decode.
    func restore(_ data: [UInt8]) -> Set<UInt64>? {
        var all: [String: [UInt8]] = [:]
        var at = 0
        func length() -> Int? {
            guard at + 4 <= data.count else { return nil }
            defer { at += 4 }
            return Int(WriteAheadLog.readUInt32(data, at))
        }
        guard let n = length(), n <= (data.count - at) / 8 else { return nil }
        var removed = Set<UInt64>()
        for _ in 0..<n {
            removed.insert((0..<8).reduce(UInt64(0)) { $0 | UInt64(data[at + $1]) << UInt64(8 * $1) })
            at += 8
        }
        while at < data.count {
            guard let k = length(), at + k <= data.count else { return nil }
            let key = String(decoding: data[at..<(at + k)], as: UTF8.self)
            at += k
            guard let v = length(), at + v <= data.count else { return nil }
            all[key] = Array(data[at..<(at + v)])
            at += v
        }
        map.withLock { $0 = all }
        return removed
    }
}
