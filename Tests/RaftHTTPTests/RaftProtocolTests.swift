@testable import RaftHTTP
import RaftIO
import RaftPB
import Testing

private struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}

/// Records what the transport hands it; throws for messages of one type.
private final class ProtocolRecordingRaft: Raft {
    let processed = Locked<[UInt64]>([])
    let failOn: MessageType?

    init(failOn: MessageType? = nil) { self.failOn = failOn }

    func process(_ message: Message) throws {
        processed.withLock { $0.append(message.index) }
        if message.type == failOn { throw Boom() }
    }

    func isIDRemoved(_ id: UInt64) -> Bool { false }
    func reportUnreachable(_ id: UInt64) {}
    func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {}
}

private func message(_ type: MessageType, index: UInt64) -> Message {
    var message = Message()
    message.type = type
    message.index = index
    return message
}

@Suite("the Raft protocol's defaults and error mapping")
struct RaftProtocolTests {
    @Test("a batch is processed in order, one message at a time, by default")
    func batchInOrder() throws {
        let raft = ProtocolRecordingRaft()
        try raft.process(batch: (1 ... 5).map { message(.msgApp, index: $0) })
        #expect(raft.processed.withLock { $0 } == [1, 2, 3, 4, 5])
    }

    @Test("a failing message does not stop the rest of its batch; the first error is rethrown")
    func batchGoesOn() {
        let raft = ProtocolRecordingRaft(failOn: .msgProp)
        #expect(throws: Boom.self) {
            try raft.process(batch: [message(.msgApp, index: 1), message(.msgProp, index: 2), message(.msgApp, index: 3)])
        }
        #expect(raft.processed.withLock { $0 } == [1, 2, 3])
    }

    @Test("a removed-member error makes the pipeline answer 403 JSON, anything else 500")
    func pipelineMapping() {
        #expect(Wire.ErrorResponse.pipelineAnswer(toProcessError: RaftProcessError.removedMember) == .removedMemberForbidden)
        #expect(Wire.ErrorResponse.pipelineAnswer(toProcessError: Boom()) == .errorProcessingMessage)
        #expect(Wire.ErrorResponse.pipelineAnswer(toProcessError: Boom()).status == 500)
    }

    @Test("the snapshot handler answers 403 for a removed member and 500 with the reason otherwise")
    func snapshotMapping() {
        #expect(Wire.ErrorResponse.snapshotAnswer(toProcessError: RaftProcessError.removedMember).status == 403)
        #expect(Wire.ErrorResponse.snapshotAnswer(toProcessError: Boom()).body == "failed to process raft message (boom)\n")
    }

    @Test("the removed-member error reads as etcd's text")
    func processErrorText() {
        #expect(RaftProcessError.removedMember.description == "cannot process message from removed member")
    }
}
