import PropertyBased
import RaftPB
import TestSupport
import Testing

private let messages = Generator<Message, Shrink.None<Message>> { rng in RandomRaft.message(using: &rng) }
private let seeds = Gen.uint64(in: 0 ... .max)

@Suite("raftpb properties")
struct PropertyTests {
    @Test("any Message survives encode and decode, and encodedSize is exact")
    func messageRoundTrip() async {
        await propertyCheck(count: 500, input: messages) { (message: Message) throws in
            let bytes = message.encode()
            #expect(bytes.count == message.encodedSize)
            #expect(try Message(decoding: bytes) == message)
        }
    }

    @Test("any Entry, ConfChange, ConfChangeV2 and HardState survives encode and decode")
    func otherTypesRoundTrip() async {
        await propertyCheck(count: 300, input: seeds) { (seed: UInt64) throws in
            var rng = SplitMix64(seed: seed)
            let entry = RandomRaft.entry(using: &rng)
            #expect(try Entry(decoding: entry.encode()) == entry)
            let change = ConfChange(id: RandomRaft.uint64(using: &rng), type: ConfChangeType(rawValue: Int32.random(in: 0 ... 4, using: &rng)),
                                    nodeID: RandomRaft.uint64(using: &rng), context: RandomRaft.bytes(using: &rng))
            #expect(try ConfChange(decoding: change.encode()) == change)
            let changes = (0 ..< Int.random(in: 0 ... 3, using: &rng)).map { _ in
                ConfChangeSingle(type: .removeNode, nodeID: RandomRaft.uint64(using: &rng))
            }
            let v2 = ConfChangeV2(transition: .jointExplicit, changes: changes, context: RandomRaft.bytes(using: &rng))
            #expect(try ConfChangeV2(decoding: v2.encode()) == v2)
            let hard = HardState(term: RandomRaft.uint64(using: &rng), vote: RandomRaft.uint64(using: &rng),
                                 commit: RandomRaft.uint64(using: &rng))
            #expect(try HardState(decoding: hard.encode()) == hard)
        }
    }

    @Test("random and mutated bytes give a value or a RaftPBError, never a crash")
    func hostileBytes() async throws {
        var corpus: [[UInt8]] = []
        for name in Golden.names(kind: "raftpb.Message") + Golden.names(kind: "raftpb.Entry") {
            corpus.append(try Golden.named(name).bytes())
        }
        let inputs = corpus
        await propertyCheck(count: 2000, input: seeds) { (seed: UInt64) throws in
            var rng = SplitMix64(seed: seed)
            let bytes = seed % 4 == 0
                ? RandomRaft.randomBytes(using: &rng)
                : RandomRaft.mutate(inputs[Int(seed % UInt64(inputs.count))], using: &rng)
            // Each decoder either returns a value that re-encodes to something it decodes again
            // identically, or throws RaftPBError (the typed throws make anything else impossible).
            if let message = try? Message(decoding: bytes) {
                #expect(try Message(decoding: message.encode()) == message)
            }
            if let entry = try? Entry(decoding: bytes) {
                #expect(try Entry(decoding: entry.encode()) == entry)
            }
            _ = try? ConfChange(decoding: bytes)
            _ = try? ConfChangeV2(decoding: bytes)
            _ = try? HardState(decoding: bytes)
            _ = try? Snapshot(decoding: bytes)
        }
    }
}
