// Durable whole-file writes: the content arrives whole, replaces what was there, leaves no temp
// file, and a failure names the step and the file and leaves the old file as it was.
import Foundation
import Testing

@testable import RaftStorage

@Suite("durable file")
struct DurableFileTests {
    @Test("replace writes the whole content over the old file and leaves no temp file; read returns it")
    func replace() throws {
        let dir = NSTemporaryDirectory() + "raftstorage-durable-\(UInt64.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try DurableFile.makeDirectories(dir + "/a/b")
        let path = dir + "/a/b/file"
        try DurableFile.replace(path, with: Array(repeating: 1, count: 200_000))
        try DurableFile.replace(path, with: [7, 8, 9])
        #expect(try DurableFile.read(path) == [7, 8, 9])
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test("a directory that does not exist: the error names the step and the temp file")
    func missingDirectory() throws {
        let path = NSTemporaryDirectory() + "raftstorage-missing-\(UInt64.random(in: 0 ... .max))/file"
        #expect(throws: WALError.self) { try DurableFile.replace(path, with: [1]) }
        do {
            try DurableFile.replace(path, with: [1])
        } catch {
            #expect(error.description == "wal open \(path).tmp: No such file or directory")
        }
    }
}
