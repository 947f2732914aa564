// libFuzzer target: the msgapp v2 decoder (local 2, remote 1), fed the input in chunks whose sizes
// come from the input's first byte.
import RaftPB
import RaftStreamCodec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let step = Int(input[0] % 64) + 1
    var decoder = MsgAppV2Decoder(local: 2, remote: 1, limit: 1 << 20)
    var count = 0
    var offset = 1
    do {
        while offset < size {
            let end = min(size, offset + step)
            try decoder.feed(UnsafeRawBufferPointer(rebasing: input[offset ..< end])) { message in
                count += 1
                var encoder = MsgAppV2Encoder()
                _ = encoder.encode(message)
            }
            offset = end
        }
        try decoder.finish()
    } catch {
        _ = error.description
    }
    return 0
}
