import RaftIO
import Testing
import TestSupport

/// Collects errors a listener reports, and lets a test wait for the first one.
final class ErrorCollector: Sendable {
    private let state = Locked<(errors: [RaftIOError], waiters: [CheckedContinuation<RaftIOError, Never>])>(([], []))

    func record(_ error: RaftIOError) {
        let waiters = state.withLock { s in
            s.errors.append(error)
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: error) }
    }

    func first() async -> RaftIOError {
        await withCheckedContinuation { cont in
            let e: RaftIOError? = state.withLock { s in
                if let e = s.errors.first { return e }
                s.waiters.append(cont)
                return nil
            }
            if let e { cont.resume(returning: e) }
        }
    }
}

@Suite("TLS rejections carry OpenSSL's reason")
struct TLSRejectionTests {
    let certs = TestCertificates.shared

    /// Dials a TLS echo listener and returns the error the client sees, either from the handshake
    /// or (TLS 1.3: the server checks the client certificate after the client finished) from the
    /// first read; plus the error the server reported.
    func reject(server: TLSConfiguration, client: TLSConfiguration, serverName: String? = nil) async throws -> (client: RaftIOError, server: RaftIOError?) {
        try await withEventLoop { group in
            let loop = group.next()
            let errors = ErrorCollector()
            let listener = try await echoListener(on: loop, tls: try TLSContext(configuration: server, role: .server),
                                                  onError: { errors.record($0) })
            defer { listener.close() }
            let ctx = try TLSContext(configuration: client, role: .client)
            let conn: Connection
            do {
                conn = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop, tls: ctx,
                                                    serverName: serverName)
            } catch let e as RaftIOError {
                return (e, nil)
            }
            // TLS 1.3: the handshake completed on our side; the refusal arrives as an alert.
            do {
                try conn.write([1])
                _ = try await readExactly(1, from: conn)
            } catch {}
            guard let closeError = await conn.waitClosed() else {
                throw RaftIOError(kind: .io, message: "the server closed cleanly instead of refusing")
            }
            return (closeError, await errors.first())
        }
    }

    @Test("a client without a certificate is refused when the server requires one")
    func missingClientCertificate() async throws {
        let (client, server) = try await reject(server: certs.server(clientAuth: .require), client: certs.client(nil))
        #expect(client.kind == .tls || client.kind == .tlsHandshake)
        #expect(client.message.contains("certificate required"), "\(client)")
        #expect(server?.message == "TLS handshake: peer did not return a certificate")
    }

    @Test("a client certificate from an unknown CA is refused")
    func unknownCA() async throws {
        let (client, server) = try await reject(server: certs.server(clientAuth: .require), client: certs.client("rogue-client"))
        #expect(client.message.contains("unknown ca"), "\(client)")
        #expect(server?.message == "TLS handshake: certificate verify failed (unable to get local issuer certificate)")
    }

    @Test("an expired server certificate is refused by the client")
    func expiredServer() async throws {
        let (client, _) = try await reject(server: certs.server("expired"), client: certs.client())
        #expect(client.kind == .tlsHandshake)
        #expect(client.message == "TLS handshake: certificate verify failed (certificate has expired)")
    }

    @Test("a server whose SANs do not name the dialed host is refused")
    func nameMismatch() async throws {
        let (client, _) = try await reject(server: certs.server("wrong-name"), client: certs.client())
        #expect(client.message == "TLS handshake: certificate verify failed (IP address mismatch)")
        let (byName, _) = try await reject(server: certs.server("wrong-name"), client: certs.client(), serverName: "localhost")
        #expect(byName.message == "TLS handshake: certificate verify failed (hostname mismatch)")
    }

    @Test("an unreadable certificate file is a configuration error naming the file")
    func unreadableFile() {
        #expect(throws: RaftIOError.self) {
            try TLSContext(configuration: .client(trustRoots: .file("/nonexistent/ca.pem")), role: .client)
        }
        do {
            _ = try TLSContext(configuration: .client(trustRoots: .file("/nonexistent/ca.pem")), role: .client)
        } catch {
            #expect(error.kind == .configuration)
            #expect(error.message == "TLS trust roots: cannot read /nonexistent/ca.pem: No such file or directory")
        }
        do {
            _ = try TLSContext(configuration: .server(certificateChain: .bytes(Array("not pem".utf8)), privateKey: .bytes([])), role: .server)
            Issue.record("garbage PEM was accepted")
        } catch {
            #expect(error.message.hasPrefix("TLS certificate: "), "\(error)")
        }
    }

    @Test("garbage sent to a TLS listener fails that connection only; the listener keeps serving")
    func garbageToTLSListener() async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let errors = ErrorCollector()
            let server = try TLSContext(configuration: certs.server(), role: .server)
            let listener = try await echoListener(on: loop, tls: server, onError: { errors.record($0) })
            let rogue = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop)
            try rogue.write(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            let error = await errors.first()
            #expect(error.kind == .tlsHandshake)
            #expect(error.message == "TLS handshake: http request")
            // The server hung up: our reader sees the end of the stream, with no echo.
            let echoed = try? await readExactly(1, from: rogue)
            #expect(echoed == nil || echoed == [])
            rogue.close()
            await rogue.waitClosed()
            let good = try await Connection.connect(host: "127.0.0.1", port: listener.port, on: loop,
                                                    tls: try TLSContext(configuration: certs.client(), role: .client))
            try good.write([42])
            #expect(try await readExactly(1, from: good) == [42])
            good.close()
            listener.close()
        }
    }
}
