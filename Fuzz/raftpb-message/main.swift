// libFuzzer target: every raftpb decoder on the same bytes. A decode must return a value or throw
// RaftPBError; a value must re-encode to bytes that decode to the same value.
import RaftPB

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : [UInt8](UnsafeBufferPointer(start: data, count: size))
    if let message = try? Message(decoding: bytes) {
        let encoded = message.encode()
        precondition(encoded.count == message.encodedSize)
        precondition((try? Message(decoding: encoded)) == message, "Message re-encode mismatch")
    }
    if let entry = try? Entry(decoding: bytes) {
        precondition((try? Entry(decoding: entry.encode())) == entry, "Entry re-encode mismatch")
    }
    if let change = try? ConfChangeV2(decoding: bytes) {
        precondition((try? ConfChangeV2(decoding: change.encode())) == change, "ConfChangeV2 re-encode mismatch")
    }
    _ = try? ConfChange(decoding: bytes)
    _ = try? HardState(decoding: bytes)
    return 0
}
