// libFuzzer target: the message stream decoder, fed the input in chunks whose sizes come from the
// input's first byte. Decoded messages must survive re-framing.
import RaftPB
import RaftStreamCodec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let step = Int(input[0] % 64) + 1
    var decoder = MessageStreamDecoder(limit: 1 << 20)
    var decoded: [Message] = []
    var offset = 1
    do {
        while offset < size {
            let end = min(size, offset + step)
            try decoder.feed(UnsafeRawBufferPointer(rebasing: input[offset ..< end])) { decoded.append($0) }
            offset = end
        }
        try decoder.finish()
    } catch {
        _ = error.description
    }
    let encoder = MessageStreamEncoder()
    var again: [UInt8] = []
    for message in decoded { encoder.append(message, to: &again) }
    var check = MessageStreamDecoder()
    var redecoded: [Message] = []
    do { try check.feed(again) { redecoded.append($0) } } catch { preconditionFailure("re-framed stream failed: \(error)") }
    precondition(redecoded == decoded, "message stream re-encode mismatch")
    return 0
}
