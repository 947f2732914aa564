import PropertyBased
import RaftPB
import RaftStreamCodec
import TestSupport
import Testing

private let seeds = Gen.uint64(in: 0 ... .max)

/// Splits `bytes` at random points, including empty chunks.
private func randomChunks(_ bytes: [UInt8], using rng: inout some RandomNumberGenerator) -> [[UInt8]] {
    var result: [[UInt8]] = []
    var start = 0
    while start < bytes.count {
        let size = Int.random(in: 0 ... min(bytes.count - start, Int.random(in: 1 ... 200, using: &rng)), using: &rng)
        result.append(Array(bytes[start ..< start + size]))
        start += size
    }
    return result
}

@Suite("stream codec properties")
struct StreamPropertyTests {
    @Test("any message sequence survives the message stream, whatever the chunking")
    func messageStreamRoundTrip() async {
        await propertyCheck(count: 200, input: seeds) { (seed: UInt64) throws in
            var rng = SplitMix64(seed: seed)
            let messages = (0 ..< Int.random(in: 0 ... 6, using: &rng)).map { _ in RandomRaft.message(using: &rng) }
            var bytes: [UInt8] = []
            for message in messages { MessageStreamEncoder().append(message, to: &bytes) }
            var decoder = MessageStreamDecoder()
            var decoded: [Message] = []
            for chunk in randomChunks(bytes, using: &rng) { try decoder.feed(chunk) { decoded.append($0) } }
            try decoder.finish()
            #expect(decoded == messages)
        }
    }

    @Test("decoding into a batch gives the closure's messages, with link heartbeats counted, not appended")
    func batchDecodeMatchesClosure() async {
        await propertyCheck(count: 200, input: seeds) { (seed: UInt64) throws in
            var rng = SplitMix64(seed: seed)
            var messages: [Message] = []
            for _ in 0 ..< Int.random(in: 0 ... 8, using: &rng) {
                messages.append(Int.random(in: 0 ..< 4, using: &rng) == 0
                    ? Message(type: .msgHeartbeat) // rafthttp's link heartbeat: from 0 to 0
                    : RandomRaft.message(using: &rng))
            }
            var bytes: [UInt8] = []
            for message in messages { MessageStreamEncoder().append(message, to: &bytes) }
            var byClosure = MessageStreamDecoder()
            var byBatch = MessageStreamDecoder()
            var closureMessages: [Message] = []
            var batch: [Message] = []
            var heartbeats = 0
            for chunk in randomChunks(bytes, using: &rng) {
                try byClosure.feed(chunk) { closureMessages.append($0) }
                chunk.withUnsafeBytes { byBatch.append($0) }
                heartbeats += try byBatch.decodeAppended(into: &batch)
            }
            #expect(batch == closureMessages.filter { !$0.isLinkHeartbeat })
            #expect(heartbeats == closureMessages.filter(\.isLinkHeartbeat).count)

            // The msgapp v2 stream: appends and link heartbeats.
            var encoder = MsgAppV2Encoder()
            var sent: [Message] = []
            var v2: [UInt8] = []
            var last: (term: UInt64, index: UInt64) = (0, 0)
            for _ in 0 ..< Int.random(in: 0 ... 8, using: &rng) {
                let message = Int.random(in: 0 ..< 4, using: &rng) == 0
                    ? Message(type: .msgHeartbeat)
                    : RandomRaft.append(after: last, from: 1, to: 2, using: &rng)
                encoder.append(message, to: &v2)
                last = (encoder.term, encoder.index)
                sent.append(message)
            }
            var decoder = MsgAppV2Decoder(local: 2, remote: 1)
            var appended: [Message] = []
            var v2Heartbeats = 0
            for chunk in randomChunks(v2, using: &rng) {
                chunk.withUnsafeBytes { decoder.append($0) }
                v2Heartbeats += try decoder.decodeAppended(into: &appended)
            }
            try decoder.finish()
            #expect(appended.count + v2Heartbeats == sent.count)
            #expect(appended.map(\.index) == sent.filter { !$0.isLinkHeartbeat }.map(\.index))
            #expect(appended.map(\.entries) == sent.filter { !$0.isLinkHeartbeat }.map(\.entries))
        }
    }

    @Test("any MsgApp sequence survives the msgapp v2 stream, whatever the chunking")
    func msgAppV2RoundTrip() async {
        await propertyCheck(count: 200, input: seeds) { (seed: UInt64) throws in
            var rng = SplitMix64(seed: seed)
            var encoder = MsgAppV2Encoder()
            var sent: [Message] = []
            var bytes: [UInt8] = []
            var last: (term: UInt64, index: UInt64) = (0, 0)
            for _ in 0 ..< Int.random(in: 0 ... 12, using: &rng) {
                let message = Int.random(in: 0 ..< 5, using: &rng) == 0
                    ? Message(type: .msgHeartbeat)
                    : RandomRaft.append(after: last, from: 1, to: 2, using: &rng)
                let expectedSize = encoder.frameSize(of: message)
                let before = bytes.count
                encoder.append(message, to: &bytes)
                #expect(bytes.count - before == expectedSize)
                last = (encoder.term, encoder.index)
                sent.append(message)
            }
            var decoder = MsgAppV2Decoder(local: 2, remote: 1)
            var decoded: [Message] = []
            for chunk in randomChunks(bytes, using: &rng) { try decoder.feed(chunk) { decoded.append($0) } }
            try decoder.finish()
            #expect(decoded == sent)
            #expect(decoder.term == encoder.term)
            #expect(decoder.index == encoder.index)
        }
    }

    @Test("a batch is sized and encoded exactly as its messages one by one (appEntries, msgApp and heartbeat frames mixed), state included")
    func msgAppV2BatchMatchesSingles() async {
        await propertyCheck(count: 300, input: seeds) { (seed: UInt64) in
            var rng = SplitMix64(seed: seed)
            var single = MsgAppV2Encoder()
            var batch: [Message] = []
            var last: (term: UInt64, index: UInt64) = (0, 0)
            var expected: [UInt8] = []
            for _ in 0 ..< Int.random(in: 0 ... 12, using: &rng) {
                let message: Message
                switch Int.random(in: 0 ..< 6, using: &rng) {
                case 0: message = Message(type: .msgHeartbeat)
                case 1: message = RandomRaft.message(using: &rng) // any type: the general frame
                default: message = RandomRaft.append(after: last, from: 1, to: 2, using: &rng)
                }
                single.append(message, to: &expected)
                last = (single.term, single.index)
                batch.append(message)
            }
            var encoder = MsgAppV2Encoder()
            let size = batch.withUnsafeBufferPointer { encoder.frameSize(of: $0) }
            #expect(size == expected.count)
            var bytes = [UInt8](repeating: 0, count: size)
            let written = bytes.withUnsafeMutableBytes { out in
                batch.withUnsafeBufferPointer { encoder.encode($0, into: out) }
            }
            #expect(written == size)
            #expect(bytes == expected)
            #expect(encoder.term == single.term && encoder.index == single.index)
        }
    }

    @Test("a message stream batch is sized and encoded in place exactly as its messages one by one, and as Message.encode")
    func messageStreamBatchMatchesSingles() async {
        await propertyCheck(count: 300, input: seeds) { (seed: UInt64) in
            var rng = SplitMix64(seed: seed)
            let batch = (0 ..< Int.random(in: 0 ... 12, using: &rng)).map { _ in RandomRaft.message(using: &rng) }
            var expected: [UInt8] = []
            for message in batch { MessageStreamEncoder().append(message, to: &expected) }
            let size = batch.withUnsafeBufferPointer { MessageStreamEncoder().frameSize(of: $0) }
            #expect(size == expected.count)
            var bytes = [UInt8](repeating: 0, count: size)
            let written = bytes.withUnsafeMutableBytes { out in
                batch.withUnsafeBufferPointer { MessageStreamEncoder().encode($0, into: out) }
            }
            #expect(written == size)
            #expect(bytes == expected)
            for message in batch {
                let inPlace = withUnsafePointer(to: message) { pointer in
                    var out = [UInt8](repeating: 0, count: Message.encodedSize(at: pointer))
                    _ = out.withUnsafeMutableBytes { Message.encode(at: pointer, into: $0) }
                    return out
                }
                #expect(inPlace == message.encode())
            }
        }
    }

    @Test("random and mutated golden streams give messages or a StreamCodecError, never a crash")
    func hostileStreams() async throws {
        let messageStream = try Golden.named("message_stream_sequence").bytes()
        let msgAppStream = try Golden.named("msgappv2_sequence").bytes()
        let snapshotBody = Array(try Golden.named("snapshot_body").bytes().prefix(200))
        await propertyCheck(count: 1500, input: seeds) { (seed: UInt64) in
            var rng = SplitMix64(seed: seed)
            func input(_ base: [UInt8]) -> [[UInt8]] {
                let bytes = seed % 5 == 0 ? RandomRaft.randomBytes(using: &rng, maxCount: 300)
                                          : RandomRaft.mutate(base, using: &rng)
                return randomChunks(bytes, using: &rng)
            }
            var messages = MessageStreamDecoder(limit: 1 << 20)
            do throws(StreamCodecError) {
                for chunk in input(messageStream) { try messages.feed(chunk) { _ in } }
                try messages.finish()
            } catch {
                _ = error.code  // typed throws: nothing but StreamCodecError can arrive
            }
            var msgApp = MsgAppV2Decoder(local: 2, remote: 1, limit: 1 << 20)
            do throws(StreamCodecError) {
                for chunk in input(msgAppStream) { try msgApp.feed(chunk) { _ in } }
                try msgApp.finish()
            } catch {
                _ = error.code
            }
            var head = SnapshotHeadDecoder(limit: 1 << 20)
            do throws(StreamCodecError) {
                for chunk in input(snapshotBody) { _ = try head.feed(chunk) }
                try head.finish()
            } catch {
                _ = error.code
            }
        }
    }
}
