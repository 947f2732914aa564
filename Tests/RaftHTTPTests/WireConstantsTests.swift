@testable import RaftHTTP
import HTTPTypes
import RaftStreamCodec
import Testing

@Suite("wire constants match etcd 3.4")
struct WireConstantsTests {
    @Test("paths are etcd's routes")
    func paths() {
        #expect(Wire.Path.pipeline == "/raft")
        #expect(Wire.Path.streamPrefix == "/raft/stream/")
        #expect(Wire.Path.msgAppStreamPrefix == "/raft/stream/msgapp/")
        #expect(Wire.Path.messageStreamPrefix == "/raft/stream/message/")
        #expect(Wire.Path.snapshot == "/raft/snapshot")
        #expect(Wire.Path.probing == "/raft/probing")
        #expect(StreamType.msgAppV2.path(dialerID: 0x5485ed9a2f08260c) == "/raft/stream/msgapp/5485ed9a2f08260c")
        #expect(StreamType.message.path(dialerID: 1) == "/raft/stream/message/1")
    }

    @Test("header names are spelled as Go puts them on the wire")
    func headers() {
        #expect(Wire.Header.serverFrom == "X-Server-From")
        #expect(Wire.Header.serverVersion == "X-Server-Version")
        #expect(Wire.Header.minClusterVersion == "X-Min-Cluster-Version")
        #expect(Wire.Header.clusterID == "X-Etcd-Cluster-Id")
        #expect(Wire.Header.raftTo == "X-Raft-To")
        #expect(Wire.Header.peerURLs == "X-Peerurls")
        #expect(Wire.Header.clusterID.lowercased() == "X-Etcd-Cluster-ID".lowercased())
        #expect(Wire.Header.peerURLs.lowercased() == "X-PeerURLs".lowercased())
        // Every one is a valid field name: HTTPFields[wire:] relies on it.
        for name in [Wire.Header.serverFrom, Wire.Header.serverVersion, Wire.Header.minClusterVersion, Wire.Header.clusterID,
                     Wire.Header.raftTo, Wire.Header.peerURLs, Wire.Header.allow, Wire.Header.contentType,
                     Wire.Header.contentTypeOptions] {
            #expect(HTTPField.Name(name) != nil, "\(name)")
        }
    }

    @Test("versions sent by default are 3.5.1 and min cluster 3.0.0 (etcd 3.5.1's version.Version and MinClusterVersion)")
    func versions() {
        #expect(Wire.Version.server == "3.5.1")
        #expect(Wire.Version.minCluster == "3.0.0")
        #expect(EtcdVersion.localServer.description == Wire.Version.server)
        #expect(EtcdVersion.localMinCluster.description == Wire.Version.minCluster)
    }

    @Test("buffer sizes and frame limits are etcd's")
    func limits() {
        #expect(Wire.Limit.pipelineBuffer == 64)
        #expect(Wire.Limit.pipelineWorkers == 4)
        #expect(Wire.Limit.messageFrame == 536_870_912)
        #expect(MessageStreamDecoder.defaultLimit == 536_870_912)
    }

    @Test("the configuration's defaults are the wire constants")
    func configurationDefaults() {
        let c = Transport.Configuration(localID: 1, clusterID: 2, localURLs: [])
        #expect(c.dialTimeout == Wire.Timeout.dial)
        #expect(c.dialRetryFrequency == Wire.Timeout.streamRedial)
        #expect(c.connectionReadTimeout == Wire.Timeout.connRead)
        #expect(c.pipelineBufferSize == Wire.Limit.pipelineBuffer)
        #expect(c.pipelineWorkers == Wire.Limit.pipelineWorkers)
        #expect(c.maxMessageSize == Wire.Limit.messageFrame)
        #expect(c.snapshotHeadLimit == Wire.Limit.messageFrame)
        #expect(c.streamQueueLimitBytes == 64 << 20)
        #expect(c.serverVersion == Wire.Version.server)
        #expect(c.minClusterVersion == Wire.Version.minCluster)
    }

    @Test("timeouts are etcd's")
    func timeouts() {
        #expect(Wire.Timeout.connRead == .seconds(5))
        #expect(Wire.Timeout.probeInterval == Wire.Timeout.connRead - .seconds(1))
        #expect(Wire.Timeout.probeMonitorHealthy == .seconds(30))
        #expect(Wire.Timeout.probeMonitorUnhealthy == .seconds(5))
        #expect(Wire.Timeout.clockDriftWarning == .seconds(1))
        #expect(Wire.Timeout.streamRedial == .milliseconds(100))
        #expect(Wire.Timeout.dial == .seconds(2))
        #expect(Wire.Timeout.snapshotResponse == .seconds(5))
    }

    @Test("error answers are etcd's status, content type and body, byte for byte",
          arguments: [
              (Wire.ErrorResponse.streamMethodNotAllowed, 405, "Method Not Allowed\n"),
              (.postMethodNotAllowed, 405, "Method Not Allowed\n"),
              (.incompatibleVersion, 412, "incompatible version\n"),
              (.clusterIDMismatch, 412, "cluster ID mismatch\n"),
              (.invalidPath, 404, "invalid path\n"),
              (.invalidFrom, 404, "invalid from\n"),
              (.removedMember, 410, "removed member\n"),
              (.senderNotFound, 404, "error sender not found\n"),
              (.toFieldMismatch, 412, "to field mismatch\n"),
              (.errorReadingMessage, 400, "error reading raft message\n"),
              (.errorUnmarshallingMessage, 400, "error unmarshalling raft message\n"),
              (.errorProcessingMessage, 500, "error processing raft message\n"),
              (.wrongRaftMessageType, 400, "wrong raft message type\n"),
              (.failedToDecode("unexpected EOF"), 400, "failed to decode raft message (unexpected EOF)\n"),
              (.failedToSaveSnapshot("no space left on device"), 500, "failed to save KV snapshot (no space left on device)\n"),
              (.failedToProcess("boom"), 500, "failed to process raft message (boom)\n"),
              (.notFound, 404, "404 page not found\n"),
          ])
    func plainErrors(response: Wire.ErrorResponse, status: Int, body: String) {
        #expect(response.status == status)
        #expect(response.body == body)
        #expect(response.contentType == "text/plain; charset=utf-8")
    }

    @Test("the two 405 answers carry Allow GET for streams and Allow POST for posts")
    func allow() {
        #expect(Wire.ErrorResponse.streamMethodNotAllowed.allow == "GET")
        #expect(Wire.ErrorResponse.postMethodNotAllowed.allow == "POST")
        #expect(Wire.ErrorResponse.clusterIDMismatch.allow == nil)
    }

    @Test("the 412 body is 20 bytes for cluster ID mismatch and 21 for incompatible version, as on the wire")
    func lengths() {
        #expect(Wire.ErrorResponse.clusterIDMismatch.body.utf8.count == 20)
        #expect(Wire.ErrorResponse.incompatibleVersion.body.utf8.count == 21)
        #expect(Wire.ErrorResponse.errorUnmarshallingMessage.body.utf8.count == 33)
        #expect(Wire.ErrorResponse.clusterIDMismatch.text == "cluster ID mismatch")
    }

    @Test("the removed-member 403 is JSON without a trailing newline")
    func forbidden() {
        let response = Wire.ErrorResponse.removedMemberForbidden
        #expect(response.status == 403)
        #expect(response.contentType == "application/json")
        #expect(response.body == #"{"message":"cannot process message from removed member"}"#)
        #expect(response.text == response.body)
    }

    @Test("stream paths parse into type and sender, and reject what etcd calls an invalid path")
    func streamPaths() {
        #expect(StreamType.parse(path: "/raft/stream/msgapp/8e9e05c52164694d")?.type == .msgAppV2)
        #expect(StreamType.parse(path: "/raft/stream/message/8e9e05c52164694d")?.from == "8e9e05c52164694d")
        #expect(StreamType.parse(path: "/raft/stream/message/")?.from == "")
        #expect(StreamType.parse(path: "/raft/stream/other/1") == nil)
        #expect(StreamType.parse(path: "/raft/stream/msgapp/1/2") == nil)
        #expect(StreamType.msgAppV2.description == "stream MsgApp v2")
        #expect(StreamType.message.description == "stream Message")
    }
}
