/// FNV-1a over a byte stream, fed in any split. TestSupport is compiled with -O so that checking
/// hundreds of MiB stays fast in debug test builds.
public struct StreamChecksum: Sendable, Hashable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public private(set) var count = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for b in bytes {
            h = (h ^ UInt64(b)) &* 0x100_0000_01b3
        }
        value = h
        count += bytes.count
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }
}
