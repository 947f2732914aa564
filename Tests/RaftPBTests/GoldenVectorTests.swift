import RaftPB
import TestSupport
import Testing

@Suite("etcd 3.4 golden vectors: raftpb")
struct GoldenVectorTests {
    @Test("an Entry encodes to etcd 3.4's bytes and decodes back", arguments: Golden.names(kind: "raftpb.Entry"))
    func entry(name: String) throws {
        let golden = try Golden.named(name)
        let bytes = try golden.bytes()
        let entry = try #require(golden.entry).value()
        #expect(bytes.count == golden.size)
        #expect(entry.encodedSize == bytes.count)
        #expect(entry.encode() == bytes)
        #expect(try Entry(decoding: bytes) == entry)
    }

    @Test("a Message encodes to etcd 3.4's bytes and decodes back", arguments: Golden.names(kind: "raftpb.Message"))
    func message(name: String) throws {
        let golden = try Golden.named(name)
        let bytes = try golden.bytes()
        let message = try #require(golden.message).value()
        #expect(bytes.count == golden.size)
        #expect(message.encodedSize == bytes.count)
        #expect(message.encode() == bytes)
        #expect(try Message(decoding: bytes) == message)
    }

    @Test("every encode path writes the same bytes", arguments: Golden.names(kind: "raftpb.Message"))
    func encodePaths(name: String) throws {
        let golden = try Golden.named(name)
        let bytes = try golden.bytes()
        let message = try #require(golden.message).value()

        var appended: [UInt8] = [0xAA]
        message.append(to: &appended)
        #expect(appended == [0xAA] + bytes)

        var buffer = [UInt8](repeating: 0, count: bytes.count + 3)
        let written = buffer.withUnsafeMutableBytes { message.encode(into: $0) }
        #expect(written == bytes.count)
        #expect(Array(buffer.prefix(written)) == bytes)

        let copied = try bytes.withUnsafeBytes { raw in try Message(copying: raw) }
        #expect(copied == message)
    }

    @Test("nil and empty bytes stay distinct through a decode")
    func nilVersusEmpty() throws {
        let empty = try Message(decoding: try Golden.named("msg_heartbeat_empty_context").bytes())
        #expect(empty.context == [][...])
        let absent = try Message(decoding: try Golden.named("msg_heartbeat_context").bytes())
        #expect(absent.context != nil)
        let none = try Message(decoding: try Golden.named("msg_empty").bytes())
        #expect(none.context == nil)
        #expect(none.snapshot.data == nil)
        let app = try Message(decoding: try Golden.named("msg_app_entries").bytes())
        #expect(app.entries.map { $0.data == nil } == [false, true, false, false])
        #expect(app.entries[2].data?.isEmpty == true)
    }

    @Test("a decode hands out views of the input, not copies")
    func zeroCopy() throws {
        let bytes = try Golden.named("msg_app_large").bytes()
        let message = try Message(decoding: bytes)
        let data = try #require(message.entries.first?.data)
        #expect(data.count == 70000)
        let inputBase = bytes.withUnsafeBytes { $0.baseAddress }
        let dataBase = data.withUnsafeBytes { $0.baseAddress }
        let offset = data.startIndex
        #expect(dataBase == inputBase.map { $0 + offset })
    }

    @Test("the ConfChange inside entry_confchange decodes and re-encodes")
    func confChangeInsideEntry() throws {
        let entry = try Entry(decoding: try Golden.named("entry_confchange").bytes())
        #expect(entry.type == .confChange)
        let data = try #require(entry.data)
        let change = try ConfChange(decoding: data)
        #expect(change.id == 9)
        #expect(change.type == .addLearnerNode)
        #expect(change.context.map { String(decoding: $0, as: UTF8.self) } == "http://127.0.0.1:2380")
        #expect(change.encode()[...] == data)
    }
}
