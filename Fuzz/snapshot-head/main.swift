// libFuzzer target: the snapshot head decoder, fed the input in chunks whose sizes come from the
// input's first byte. Everything after the head must be reported as database bytes.
import RaftStreamCodec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let step = Int(input[0] % 64) + 1
    var decoder = SnapshotHeadDecoder(limit: 1 << 20)
    var database = 0
    var offset = 1
    do {
        while offset < size {
            let end = min(size, offset + step)
            let used = try decoder.feed(UnsafeRawBufferPointer(rebasing: input[offset ..< end]))
            precondition(used <= end - offset)
            if decoder.message != nil { database += end - offset - used }
            offset = end
        }
        try decoder.finish()
        precondition(decoder.headSize.map { $0 + database } == size - 1, "head + database != body")
    } catch {
        _ = error.description
    }
    return 0
}
