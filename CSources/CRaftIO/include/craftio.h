#ifndef CRAFTIO_H
#define CRAFTIO_H
/*
 * CRaftIO: the thin C core of swift-rafthttp.
 *
 * It knows event loops, sockets, timers and TLS records; nothing of HTTP or raft. Swift drives it
 * through the functions below and receives events through plain C callbacks that carry the opaque
 * `data` pointer Swift handed in. C never interprets `data` and never owns a Swift object: Swift
 * retains its context when it hands `data` over and releases it in the matching close callback,
 * which C calls exactly once per handle.
 *
 * Threads: each loop runs on its own thread (rio_loop_start). Unless a function says "any thread",
 * it must be called on the loop's thread (from a callback, or from a job run by rio_loop_submit).
 *
 * Errors are negative errno-style codes (libuv's UV_E*), plus a message such as
 * "uv_tcp_connect(): connection refused" or "TLS handshake: certificate verify failed (...)".
 */

/* Both the C compile and Swift's importer must see the same OpenSSL declarations. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rio_loop_s rio_loop_t;
typedef struct rio_conn_s rio_conn_t;
typedef struct rio_listener_s rio_listener_t;
typedef struct rio_timer_s rio_timer_t;
typedef struct rio_tls_ctx_s rio_tls_ctx_t;

/* Size of the error message buffers callers pass in. */
#define RIO_ERRLEN 256

/* ---------------------------------------------------------------------------------------------- */
/* Loops */

/* Creates a loop; it does not run until rio_loop_start. NULL on failure, with `err` filled. */
rio_loop_t *rio_loop_new(char *err, size_t errlen);

/* Starts the loop's thread. Returns 0 or a negative code. Call once. */
int rio_loop_start(rio_loop_t *loop);

/* Any thread except the loop's: closes every handle still open on the loop (each gets its close
 * callback, with reason "event loop stopped"), lets the loop finish, and joins its thread.
 * Jobs submitted before this call still run; later submissions fail. Idempotent. */
void rio_loop_stop(rio_loop_t *loop);

/* Frees a loop that was never started or has been stopped. */
void rio_loop_free(rio_loop_t *loop);

/* Any thread: runs `fn(arg)` on the loop thread, in submission order. One wake-up per burst.
 * Returns 0, or RIO_E_LOOP_STOPPED once the loop is stopping (then `fn` will never run: the caller keeps
 * ownership of `arg`). */
int rio_loop_submit(rio_loop_t *loop, void (*fn)(void *arg), void *arg);

/* How long (ns) a loop keeps polling without blocking after its last read or job, so that a
 * message following closely is handled without a sleep and wake-up (which cost tens of µs on a
 * VM). 0 (the default) turns spinning off. Call before rio_loop_start. */
#define RIO_DEFAULT_SPIN_NS 0
void rio_loop_set_spin(rio_loop_t *loop, uint64_t nanoseconds);

/* Any thread: 1 when called on this loop's thread. */
int rio_loop_on_thread(const rio_loop_t *loop);

/* ---------------------------------------------------------------------------------------------- */
/* TLS contexts (shared, read-only after creation: any thread may use one for many handles) */

typedef enum { RIO_TLS_CLIENT = 0, RIO_TLS_SERVER = 1 } rio_tls_role_t;

/* Everything a context is built from. Pointers are borrowed for the duration of the call only:
 * the context copies what it keeps. PEM lengths are byte counts (no terminating NUL needed). */
typedef struct {
    rio_tls_role_t role;
    /* Our certificate chain (leaf first) and its key; NULL: none (a client without a certificate). */
    const char *cert;
    size_t cert_len;
    const char *key;
    size_t key_len;
    /* Trusted CAs (one or more PEM certificates). NULL: the system's store for a verifying client,
     * no client CAs for a server. */
    const char *ca;
    size_t ca_len;
    /* A certificate revocation list, PEM or DER; NULL: none. As etcd does, a peer whose chain holds
     * any certificate with a serial listed there is refused ("certificate serial <hex> revoked");
     * the CRL's issuer and signature are not checked. */
    const char *crl;
    size_t crl_len;
    /* Server: demand and verify a client certificate. */
    int require_peer_cert;
    /* Client: verify the server's chain and name. 0 (etcd's auto-TLS) skips every check below too. */
    int verify_peer;
    /* Comma-separated lists, NULL or "" for none; at most one of the two. The verified leaf must have
     * exactly one of these subject CNs, or pass RFC 6125 host (or IP) verification for one of these
     * names (X509_check_host: wildcards in the certificate). Otherwise the handshake fails with
     * "client certificate authentication failed" (etcd's text, on both sides). */
    const char *allowed_cns;
    const char *allowed_hostnames;
    /* TLS 1.2 cipher list in OpenSSL's syntax ("ECDHE-ECDSA-AES128-GCM-SHA256:..."); NULL: OpenSSL's
     * default. TLS 1.3 suites are not affected (as in Go). */
    const char *cipher_list;
    /* Protocol bounds, as TLS1_2_VERSION (0x0303) or TLS1_3_VERSION (0x0304); 0: 1.2 and the highest. */
    int min_version;
    int max_version;
} rio_tls_options_t;

/* Builds a context. No ALPN is offered. Any thread. Returns NULL with OpenSSL's reason text in
 * `err` when a PEM does not parse, the key does not match the certificate, the CA bundle holds no
 * certificate, the cipher list matches nothing, or both allowed lists are given. */
rio_tls_ctx_t *rio_tls_ctx_new(const rio_tls_options_t *options, char *err, size_t errlen);

/* Any thread: builds a new OpenSSL context from `options` (same role) and makes it the one new
 * sessions start from. Sessions already running keep the one they started with, so rotating a
 * certificate or CA never disturbs a live connection. Returns 0, or a negative code with `err`
 * filled (as rio_tls_ctx_new) and the context unchanged: a half-written file never replaces a good
 * configuration. */
int rio_tls_ctx_update(rio_tls_ctx_t *ctx, const rio_tls_options_t *options, char *err, size_t errlen);

/* Writes a self-signed certificate (ECDSA P-521, valid one year from now, serial random 128 bits,
 * organization "etcd", server and client authentication) and its key to `cert_path` and
 * `key_path` (mode 0600), as etcd's --peer-auto-tls does. `hosts` is comma-separated; each entry
 * becomes an IP SAN when it is an IP literal, else a DNS SAN. Returns 0 or a negative code with
 * `err` filled. */
int rio_tls_write_self_signed(const char *cert_path, const char *key_path, const char *hosts,
                              char *err, size_t errlen);
void rio_tls_ctx_free(rio_tls_ctx_t *ctx);

/* ---------------------------------------------------------------------------------------------- */
/* Connections */

typedef struct {
    /* Once, before any on_read: status 0 when connected (and, with TLS, the handshake done);
     * otherwise the dial or handshake failed, `msg` says why, and on_close follows. */
    void (*on_open)(rio_conn_t *conn, void *data, int status, const char *msg);
    /* Plaintext bytes, valid only during the call. n == 0 never happens; end of stream is
     * reported by on_eof. The callee may call rio_conn_read_stop to pause. */
    void (*on_read)(rio_conn_t *conn, void *data, const char *bytes, size_t n);
    /* The peer half-closed its side (TCP FIN or TLS close_notify). Writing may continue. */
    void (*on_eof)(rio_conn_t *conn, void *data);
    /* After each completed socket write: `queued` bytes remain (accepted, not yet written). */
    void (*on_drain)(rio_conn_t *conn, void *data, size_t queued);
    /* Exactly once: the handle is closed. status 0 for a requested close, otherwise the error.
     * After this call C will not use `data` again. */
    void (*on_close)(rio_conn_t *conn, void *data, int status, const char *msg);
} rio_conn_callbacks_t;

/* Dials host:port (a numeric IPv4/IPv6 address or a name resolved with uv_getaddrinfo; every
 * resolved address is tried in turn). `timeout_ms` bounds resolution, connect and TLS handshake
 * together (0: none). With `tls` set, `server_name` (DNS name or IP literal) is checked against the
 * certificate's SANs and sent as SNI when it is a name. The returned connection carries one
 * reference for the caller (rio_conn_release). Callbacks run on the loop thread. */
rio_conn_t *rio_dial(rio_loop_t *loop, const char *host, int port, uint64_t timeout_ms,
                     rio_tls_ctx_t *tls, const char *server_name,
                     const rio_conn_callbacks_t *cbs, void *data);

/* Dials the Unix domain socket at `path` (absolute, or relative to the process's working
 * directory; at most 107 bytes), as rio_dial does a TCP address: same callbacks, timeout and
 * reference. With `tls`, `server_name` is required (a path names no host: without it the dial
 * fails with RIO_E_TLS_CONFIG) and is checked and sent as rio_dial's is. A missing file fails
 * with UV_ENOENT, a file nobody listens on with UV_ECONNREFUSED ("uv_pipe_connect(): ..."). */
rio_conn_t *rio_dial_unix(rio_loop_t *loop, const char *path, uint64_t timeout_ms,
                          rio_tls_ctx_t *tls, const char *server_name,
                          const rio_conn_callbacks_t *cbs, void *data);

/* Any thread: queues `len` bytes for writing (copied; `bytes` may be reused on return). Bytes
 * from many calls are coalesced and written with one socket write per loop turn; under TLS, into
 * records of up to 16 KiB. Returns the total bytes now queued (>= 0), UV_EPIPE once the
 * connection is closing or closed, or RIO_E_NO_MEMORY (the connection is then closed: part of the
 * bytes may have gone out). There is no limit here: callers bound memory with the count. */
ssize_t rio_conn_write(rio_conn_t *conn, const void *bytes, size_t len);

/* Any thread: encodes in place. Reserves `len` bytes at the end of the outbound buffer and returns
 * where they start, with the connection's write lock held: fill them, then call
 * rio_conn_write_commit from the same thread with no other rio_conn call in between (the lock is
 * not recursive). Returns NULL, lock not held, with *err set to UV_EPIPE once the connection is
 * closing or closed, or RIO_E_NO_MEMORY. The bytes go out as rio_conn_write's would, without
 * the copy from a caller's buffer. */
void *rio_conn_write_reserve(rio_conn_t *conn, size_t len, ssize_t *err);

/* rio_conn_write_reserve, also saying where the reservation stands: `*offset` is its offset in the
 * outbound buffer (the queued bytes before it), and `*epoch` a count that changes whenever bytes
 * leave that buffer (the loop takes it, or a writer writes to the socket itself). Under an epoch
 * seen at an earlier reservation, the bytes written since that reservation's offset are all still
 * in the buffer, just before this one: a writer may rewrite them in place until it commits (a
 * chunked body grows its last chunk instead of starting one per write). The buffer starts at the
 * returned pointer minus `*offset`. */
void *rio_conn_write_reserve_at(rio_conn_t *conn, size_t len, ssize_t *err, uint64_t *epoch, size_t *offset);

/* Queues the first `used` bytes (<= the reserved length; 0 queues nothing) of the reservation and
 * releases the lock. Returns the total bytes now queued, as rio_conn_write does. */
ssize_t rio_conn_write_commit(rio_conn_t *conn, size_t used);

/* One piece of a gathered write. */
typedef struct {
    const void *base;
    size_t len;
} rio_slice_t;

/* Any thread: as rio_conn_write for the concatenation of `count` slices, in one call (one lock, and
 * one socket write when the connection goes straight to the socket): an HTTP chunk's header, body
 * and CRLF, say. */
ssize_t rio_conn_writev(rio_conn_t *conn, const rio_slice_t *slices, size_t count);

/* Any thread: bytes accepted by rio_conn_write and not yet handed to the kernel. */
size_t rio_conn_queued(rio_conn_t *conn);

/* Any thread: after everything queued is written, sends TLS close_notify (with TLS) and a TCP FIN.
 * Reading goes on. */
void rio_conn_shutdown(rio_conn_t *conn);

/* Any thread: closes the connection. `graceful`: write what is queued, close_notify, FIN, then
 * close; otherwise drop what is queued and close at once. on_close follows on the loop thread. */
void rio_conn_close(rio_conn_t *conn, int graceful);

/* Loop thread: stop and resume delivering reads (the socket is paused: the kernel's window, not
 * our memory, absorbs a slow consumer). */
void rio_conn_read_stop(rio_conn_t *conn);
void rio_conn_read_start(rio_conn_t *conn);

/* Any thread: reference counting of the C struct; the struct outlives its handle while referenced. */
void rio_conn_retain(rio_conn_t *conn);
void rio_conn_release(rio_conn_t *conn);
/* Connection objects allocated and not yet freed in this process (for leak tests). */
size_t rio_conn_live_count(void);

/* TCP liveness: how the kernel finds out that a connection's peer vanished without a FIN or RST
 * (powered off, blackholed, partitioned). Keepalive probes a connection that carries nothing;
 * the user timeout (Linux's TCP_USER_TIMEOUT) bounds how long sent data, or an unanswered probe,
 * may stay unacknowledged before the kernel drops the connection with ETIMEDOUT. Without them a
 * dead peer is found when TCP gives up retransmitting, ~15 minutes on Linux, or never for an
 * idle connection. A field at 0 keeps its default: keepalive is always on, first probe after
 * 30 s idle (Go's dialer, so etcd's peers); interval, count and user timeout the kernel's.
 * TCP only: on a Unix socket setting them is a no-op and reading them gives all zeros (the kernel
 * ends such a connection at once when its peer's end goes). */
typedef struct {
    unsigned keepalive_idle_s;     /* idle time before the first probe */
    unsigned keepalive_interval_s; /* between unanswered probes */
    unsigned keepalive_count;      /* unanswered probes before the kernel drops the connection */
    unsigned user_timeout_ms;      /* longest time data or a probe may stay unacknowledged */
} rio_tcp_liveness_t;

/* Loop thread: sets `conn`'s liveness options (copied). On a connection still dialing they are
 * applied once connected; on an open one at once. Returns 0 or the negative errno of the first
 * option the socket refused. */
int rio_conn_set_liveness(rio_conn_t *conn, const rio_tcp_liveness_t *opts);

/* Loop thread, after on_open: the options in effect on the socket, read back from the kernel
 * (keepalive_idle_s is 0 when keepalive is off). Returns 0 or a negative errno. */
int rio_conn_get_liveness(rio_conn_t *conn, rio_tcp_liveness_t *out);

/* Statistics, any thread (approximate while the loop runs). */
typedef struct {
    uint64_t bytes_written;   /* to the socket (ciphertext under TLS) */
    uint64_t bytes_read;      /* from the socket */
    uint64_t write_calls;     /* uv_write calls */
    uint64_t app_writes;      /* rio_conn_write calls */
} rio_conn_stats_t;
void rio_conn_stats(rio_conn_t *conn, rio_conn_stats_t *out);

/* Loop thread, after on_open: the peer's address as "ip:port" (on a Unix socket: the path it is
 * bound to, "@" for an unnamed peer such as every dialing client, as Go and so etcd print it) and,
 * under TLS, the negotiated version and cipher. Buffers are filled with NUL-terminated text. */
int rio_conn_peer_address(rio_conn_t *conn, char *buf, size_t len);
int rio_conn_tls_info(rio_conn_t *conn, char *version, size_t vlen, char *cipher, size_t clen);

/* What the peer's leaf certificate says, NUL-terminated and truncated to fit. */
typedef struct {
    char common_name[256];  /* subject CN, "" when none */
    char serial[128];       /* serial number, lowercase hex without leading zeros (Go's %x) */
    char ip_sans[512];      /* IP SANs, comma-separated ("10.0.0.1,::1") */
    char dns_sans[1024];    /* DNS SANs, comma-separated */
} rio_peer_cert_t;

/* Loop thread, after on_open: fills `out` from the certificate the peer presented. Returns 0, or
 * UV_ENOENT when it presented none (or the connection is plain). */
int rio_conn_peer_cert(rio_conn_t *conn, rio_peer_cert_t *out);

/* ---------------------------------------------------------------------------------------------- */
/* Listeners */

typedef struct {
    /* A connection arrived. Return the callbacks and data for it through *cbs and *data (the
     * connection then carries one reference for the callee), or return nonzero to refuse it.
     * With TLS, on_open follows once the handshake is done. */
    int (*on_accept)(rio_listener_t *l, void *ldata, rio_conn_t *conn,
                     const rio_conn_callbacks_t **cbs, void **data);
    /* accept() failed (e.g. out of file descriptors); the listener keeps listening. */
    void (*on_error)(rio_listener_t *l, void *ldata, int status, const char *msg);
    /* Exactly once, after rio_listener_close or loop stop. */
    void (*on_close)(rio_listener_t *l, void *ldata);
} rio_listener_callbacks_t;

/* Loop thread: binds and listens on a numeric IPv4 or IPv6 address ("0.0.0.0", "::1"); port 0
 * picks a free port (see rio_listener_port). NULL with `err` filled on failure. */
rio_listener_t *rio_listen(rio_loop_t *loop, const char *host, int port, int backlog,
                           rio_tls_ctx_t *tls, const rio_listener_callbacks_t *cbs, void *data,
                           char *err, size_t errlen);

/* Loop thread: listens on a Unix domain socket at `path` (absolute, or relative to the process's
 * working directory; 1 to 107 bytes). As etcd does, whatever file is at `path` is removed first
 * (the socket of a process that died; any other file too, as Go's os.Remove would, but not a
 * directory), and the socket file is removed when the listener closes. Accepted connections are
 * as rio_listen's; liveness options do not apply to them. NULL with `err` filled on failure. */
rio_listener_t *rio_listen_unix(rio_loop_t *loop, const char *path, int backlog,
                                rio_tls_ctx_t *tls, const rio_listener_callbacks_t *cbs, void *data,
                                char *err, size_t errlen);
/* The TCP port bound; 0 for a Unix socket. */
int rio_listener_port(const rio_listener_t *l);
/* Loop thread: every connection accepted from now on gets these liveness options (copied; see
 * rio_conn_set_liveness), set before its on_accept. */
void rio_listener_set_liveness(rio_listener_t *l, const rio_tcp_liveness_t *opts);

/* Loop thread: stops accepting; on_close follows. Open connections are not affected. */
void rio_listener_close(rio_listener_t *l);

/* ---------------------------------------------------------------------------------------------- */
/* Timers (loop thread only) */

/* NULL once the loop is stopping (or out of memory): an armed timer would keep a stopping loop
 * alive. Dials and listens from a stopping loop fail likewise ("event loop stopped"). */
rio_timer_t *rio_timer_new(rio_loop_t *loop, void (*on_fire)(void *data),
                           void (*on_close)(void *data), void *data);
/* (Re)arms: first after `timeout_ms`, then every `repeat_ms` (0: once). */
void rio_timer_start(rio_timer_t *t, uint64_t timeout_ms, uint64_t repeat_ms);
void rio_timer_stop(rio_timer_t *t);
/* on_close follows; the timer must not be used afterwards. */
void rio_timer_close(rio_timer_t *t);
/* Milliseconds of the loop's clock (cached at the start of the loop turn). */
uint64_t rio_loop_now(const rio_loop_t *loop);

/* ---------------------------------------------------------------------------------------------- */
/* Errors */

/* The core's own error codes, beside libuv's (negative errno values, UV_EOF, UV_EAI_*), so that
 * callers classify an error by its code, never by its text. */
#define RIO_E_LOOP_STOPPED (-5001)  /* the loop stopped: its handles closed, no new work taken */
#define RIO_E_TLS_HANDSHAKE (-5002) /* the TLS handshake failed (certificate, protocol version...) */
#define RIO_E_TLS (-5003)           /* a TLS record could not be read or written after the handshake */
#define RIO_E_TLS_CONFIG (-5004)    /* TLS could not be set up on a connection (context, server name) */
#define RIO_E_NO_MEMORY (-5005)     /* a write could not be queued: out of memory */

/* The symbolic name of an error code ("ECONNREFUSED", "ETIMEDOUT", "RIO_E_LOOP_STOPPED", ...). */
const char *rio_err_name(int code);
/* The text of an error code ("connection refused"). */
const char *rio_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
