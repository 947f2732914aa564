import CRaftIO
import RaftIO
import Testing

@Suite("RaftIOError: errors from the C core are classified by their code, never their text")
struct RaftIOErrorTests {
    @Test("the core's own codes map to their kinds, whatever the message says")
    func ownCodes() {
        #expect(RaftIOError(code: RIO_E_LOOP_STOPPED, message: "anything at all").kind == .eventLoopStopped)
        #expect(RaftIOError(code: RIO_E_TLS_HANDSHAKE, message: "x").kind == .tlsHandshake)
        #expect(RaftIOError(code: RIO_E_TLS, message: "TLS handshake: looks like one, is not").kind == .tls)
        #expect(RaftIOError(code: RIO_E_TLS_CONFIG, message: "x").kind == .configuration)
        #expect(String(cString: rio_err_name(RIO_E_LOOP_STOPPED)) == "RIO_E_LOOP_STOPPED")
        #expect(String(cString: rio_strerror(RIO_E_LOOP_STOPPED)) == "event loop stopped")
    }

    @Test("libuv's codes map by name; a text that mentions the loop stopping does not change the kind")
    func libuvCodes() {
        #expect(RaftIOError(code: -111, message: "uv_tcp_connect(): connection refused").kind == .connectionRefused) // ECONNREFUSED
        #expect(RaftIOError(code: -110, message: "x").kind == .timedOut) // ETIMEDOUT
        #expect(RaftIOError(code: -104, message: "x").kind == .connectionReset) // ECONNRESET
        #expect(RaftIOError(code: -125, message: "event loop stopped").kind == .closed) // ECANCELED
        #expect(RaftIOError(code: -4095, message: "x").kind == .closed) // UV_EOF
        #expect(RaftIOError(code: -3008, message: "x").kind == .addressResolution) // UV_EAI_NONAME
        #expect(RaftIOError(code: -12, message: "x").kind == .io) // ENOMEM
    }
}
