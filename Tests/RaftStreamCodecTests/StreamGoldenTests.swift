import RaftPB
import RaftStreamCodec
import TestSupport
import Testing

/// Feeds `bytes` to `feed` in chunks of `chunkSize` (0 = all at once).
func chunks(of bytes: [UInt8], size chunkSize: Int) -> [[UInt8]] {
    guard chunkSize > 0 else { return [bytes] }
    return stride(from: 0, to: bytes.count, by: chunkSize).map { Array(bytes[$0 ..< min($0 + chunkSize, bytes.count)]) }
}

@Suite("etcd 3.4 golden vectors: stream codecs")
struct StreamGoldenTests {
    @Test("the message stream encodes to etcd 3.4's bytes", arguments: Golden.names(kind: "message.stream"))
    func messageStreamEncode(name: String) throws {
        let golden = try Golden.named(name)
        let bytes = try golden.bytes()
        let encoder = MessageStreamEncoder()
        var out: [UInt8] = []
        for frame in try #require(golden.frames) {
            let message = try frame.input.value()
            #expect(encoder.frameSize(of: message) == frame.length)
            #expect(out.count == frame.offset)
            encoder.append(message, to: &out)
        }
        #expect(out == bytes)
    }

    @Test("the message stream decodes in chunks of any size",
          arguments: Golden.names(kind: "message.stream"), [0, 1, 3, 8, 37, 4096])
    func messageStreamDecode(name: String, chunkSize: Int) throws {
        let golden = try Golden.named(name)
        let expected = try #require(golden.frames).map { try $0.input.value() }
        var decoder = MessageStreamDecoder()
        var decoded: [Message] = []
        for chunk in chunks(of: try golden.bytes(), size: chunkSize) {
            try decoder.feed(chunk) { decoded.append($0) }
        }
        try decoder.finish()
        #expect(decoded == expected)
    }

    @Test("a msgapp v2 stream encodes to etcd 3.4's bytes, form by form",
          arguments: Golden.names(kind: "msgappv2.stream"))
    func msgAppV2Encode(name: String) throws {
        let golden = try Golden.named(name)
        let bytes = try golden.bytes()
        var encoder = MsgAppV2Encoder()
        var out: [UInt8] = []
        for frame in try #require(golden.frames) {
            let message = try frame.input.value()
            #expect(encoder.frameSize(of: message) == frame.length, "\(frame.form) at \(frame.offset)")
            let formByte: UInt8 = ["linkHeartbeat": 0, "appEntries": 1, "msgApp": 2][frame.form] ?? 0xFF
            encoder.append(message, to: &out)
            #expect(out[frame.offset] == formByte, "\(frame.form) at \(frame.offset)")
        }
        #expect(out == bytes)
    }

    @Test("a msgapp v2 stream decodes to what etcd's decoder returns, in chunks of any size",
          arguments: Golden.names(kind: "msgappv2.stream"), [0, 1, 7, 9, 64, 4096])
    func msgAppV2Decode(name: String, chunkSize: Int) throws {
        let golden = try Golden.named(name)
        let local = try Golden.uint64(try #require(golden.streamTo))
        let remote = try Golden.uint64(try #require(golden.streamFrom))
        let expected = try #require(golden.frames).map { try #require($0.decoded).value() }
        var decoder = MsgAppV2Decoder(local: local, remote: remote)
        var decoded: [Message] = []
        for chunk in chunks(of: try golden.bytes(), size: chunkSize) {
            try decoder.feed(chunk) { decoded.append($0) }
        }
        try decoder.finish()
        #expect(decoded == expected)
    }

    @Test("encode into a caller's buffer writes the same msgapp v2 bytes")
    func msgAppV2EncodeInto() throws {
        let golden = try Golden.named("msgappv2_sequence")
        let bytes = try golden.bytes()
        var encoder = MsgAppV2Encoder()
        var out = [UInt8](repeating: 0, count: bytes.count)
        var offset = 0
        for frame in try #require(golden.frames) {
            let message = try frame.input.value()
            offset += out.withUnsafeMutableBytes { encoder.encode(message, into: UnsafeMutableRawBufferPointer(rebasing: $0[offset...])) }
        }
        #expect(offset == bytes.count)
        #expect(out == bytes)
    }

    @Test("a snapshot body is a MsgSnap frame then the database, and its head decodes",
          arguments: Golden.names(kind: "snapshot.body"), [0, 1, 5, 76, 100])
    func snapshotBody(name: String, chunkSize: Int) throws {
        let golden = try Golden.named(name)
        let bytes = try golden.bytes()
        let message = try #require(golden.message).value()
        let database = try Golden.hex(try #require(golden.dbHex))
        #expect(SnapshotBody.encode(message: message, database: database) == bytes)
        #expect(SnapshotBody.head(for: message).count == golden.dbOffset)

        var decoder = SnapshotHeadDecoder()
        var received: [UInt8] = []
        for chunk in chunks(of: bytes, size: chunkSize) {
            let used = try decoder.feed(chunk)
            if decoder.message != nil { received += chunk[used...] }
        }
        try decoder.finish()
        #expect(decoder.message == message)
        #expect(decoder.headSize == golden.dbOffset)
        #expect(received == database)
    }
}
