#ifndef CRAFTIO_INTERNAL_H
#define CRAFTIO_INTERNAL_H
/* Shared inside the target; nothing here is API. */

#include "craftio.h"

#include <stdatomic.h>
#include <uv.h>
#include <openssl/ssl.h>

/* An intrusive doubly linked list node: each loop keeps its live handles on lists so that
 * rio_loop_stop can close all of them without walking libuv's untyped handle queue. */
typedef struct rio__link_s {
    struct rio__link_s *prev, *next;
} rio__link_t;

void rio__list_init(rio__link_t *head);
void rio__list_push(rio__link_t *head, rio__link_t *node);
void rio__list_remove(rio__link_t *node);

/* A growable byte buffer. */
typedef struct {
    char *base;
    size_t len, cap;
} rio__buf_t;

/* Makes room for `n` more bytes after `len`. */
int rio__buf_reserve(rio__buf_t *b, size_t n);
int rio__buf_append(rio__buf_t *b, const void *bytes, size_t n);
void rio__buf_free(rio__buf_t *b);
/* Drops a buffer that grew large after a burst, so an idle connection does not pin it. */
void rio__buf_trim(rio__buf_t *b);

typedef struct rio__job_s {
    void (*fn)(void *);
    void *arg;
    struct rio__job_s *next;
} rio__job_t;

struct rio_loop_s {
    uv_loop_t uv;
    uv_async_t wake;
    uv_prepare_t prepare;
    uv_thread_t thread;
    atomic_int started, stopping, joined;
    atomic_ulong thread_id;

    /* any thread, under mu */
    uv_mutex_t mu;
    rio__job_t *jobs_head, *jobs_tail;
    rio_conn_t *pending;          /* connections with queued work (linked by pending_next) */

    /* loop thread only */
    rio__link_t conns, listeners, timers;
    /* Adaptive spin: after activity the loop polls without blocking for `spin_ns`, so a message
     * that follows closely is picked up without a sleep and wake-up (tens of µs on a VM). */
    uv_idle_t spin;
    uint64_t spin_ns, last_activity;
    atomic_int spinning;          /* read by writers on other threads (conn.c, write_direct) */
    unsigned activity;            /* bumped by every read and inbox drain */
    unsigned activity_seen;       /* its value at the last prepare */
    /* One read buffer for every connection of the loop: a read callback consumes its bytes
     * before the loop reads again, so idle connections cost no buffer at all. */
    char *rbuf;
};

/* Connection life: DIALING -> (HANDSHAKING) -> OPEN -> CLOSING -> CLOSED. */
enum { RIO_DIALING, RIO_HANDSHAKING, RIO_OPEN, RIO_CLOSING, RIO_CLOSED };

/* The socket under a connection or listener: TCP, or a Unix domain socket (libuv's pipe). Both
 * are streams, so everything but binding, connecting and TCP's options goes through `stream`;
 * `handle.type` tells them apart. */
typedef union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
} rio__socket_t;

/* Alignment that keeps fields written by different threads on different cache lines. */
#define RIO_CACHE_LINE 64

struct rio_conn_s {
    rio__socket_t sock;
    uv_timer_t dial_timer;
    rio_loop_t *loop;
    atomic_int refs;
    const rio_conn_callbacks_t *cbs;
    void *data;
    rio__link_t link;

    /* any thread, under mu. On cache lines of their own (RIO_CACHE_LINE): a writer takes the
     * lock and bumps its counters for every batch, and the loop's own fields below, written on
     * every read and write callback, shared a line with them. */
    _Alignas(RIO_CACHE_LINE) uv_mutex_t mu;
    rio__buf_t out;               /* plaintext accepted from writers, not yet taken by the loop */
    uint64_t out_epoch;           /* changes whenever bytes leave `out` (rio_conn_write_reserve_at) */
    /* Plaintext accepted and not yet written to the socket. Changed under mu only; atomic so
     * that rio_conn_queued reads it without the lock (a writer checks it before every batch). */
    atomic_size_t queued;
    int on_pending_list;
    int want_shutdown, want_close, close_graceful, write_closed;
    rio_conn_t *pending_next;
    rio_conn_stats_t stats;
    int direct_fd;                /* plain and open: the socket writers may write to directly; else -1 */
    uint64_t last_write_ns;       /* when a writer last found nothing queued (uv_hrtime) */

    /* loop thread only */
    _Alignas(RIO_CACHE_LINE) int state;
    int reading, paused, writing, shutdown_started, eof_seen, eof_delivered, need_drain, retrying, shutdown_done;
    int handles_open;             /* tcp and dial timer, each closed once */
    int timer_inited;
    rio__buf_t inflight;          /* bytes handed to uv_write, until its callback */
    size_t inflight_plain;        /* plaintext those bytes carry */
    rio__buf_t cipher;            /* TLS: records waiting for the socket */
    size_t cipher_plain;
    rio__buf_t scratch;           /* TLS: plaintext taken from `out`, being encrypted */
    size_t scratch_off;           /* TLS: how much of `scratch` is encrypted already */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    struct addrinfo *ai_list, *ai_next;
    int port;
    rio_tcp_liveness_t liveness;  /* applied when the socket is connected (rio_conn_set_liveness) */
    int close_status;
    char close_msg[RIO_ERRLEN];

    /* TLS */
    SSL *ssl;
    BIO *rbio;
    char *pbuf;                   /* decrypted plaintext handed to on_read */
    int tls_server, handshake_done;
    int verify_msg_set;           /* close_msg holds the verify callback's own reason */
    char *server_name;
};

struct rio_listener_s {
    rio__socket_t sock;
    rio_loop_t *loop;
    rio_tls_ctx_t *tls;
    const rio_listener_callbacks_t *cbs;
    void *data;
    rio__link_t link;
    int closing;
    rio_tcp_liveness_t liveness;  /* given to every accepted connection */
};

struct rio_timer_s {
    uv_timer_t uv;
    rio_loop_t *loop;
    void (*on_fire)(void *);
    void (*on_close)(void *);
    void *data;
    rio__link_t link;
    int closing;
};

struct rio_tls_ctx_s {
    uv_mutex_t mu;
    SSL_CTX *ctx;                 /* under mu: where new sessions start (rio_tls_ctx_update swaps it) */
    rio_tls_role_t role;
};

/* Bytes read per read callback. */
#define RIO_READ_BUF_SIZE (256 * 1024)

/* loop.c */
void rio__loop_schedule(rio_loop_t *loop, rio_conn_t *conn);
void rio__loop_close_all(rio_loop_t *loop);

/* conn.c */
/* A connection on a TCP socket, or on a Unix domain socket when `unix_socket` is set. */
rio_conn_t *rio__conn_new(rio_loop_t *loop, int unix_socket, const rio_conn_callbacks_t *cbs, void *data);
void rio__conn_process(rio_conn_t *conn);
void rio__conn_start_accepted(rio_conn_t *conn, rio_tls_ctx_t *tls);
void rio__conn_fail(rio_conn_t *conn, int status, const char *msg);
void rio__conn_close_all(rio__link_t *list, const char *why);

/* tls.c */
int rio__tls_attach(rio_conn_t *conn, rio_tls_ctx_t *tls, int server, const char *name,
                    char *err, size_t errlen);
void rio__tls_free(rio_conn_t *conn);
/* Feeds ciphertext; runs the handshake and delivers plaintext while not paused. Returns 0, or a
 * negative code with conn->close_msg set when the session failed. */
int rio__tls_feed(rio_conn_t *conn, const char *bytes, size_t n);
/* Delivers plaintext already decrypted or buffered (after a resume). */
int rio__tls_pump(rio_conn_t *conn);
/* Encrypts `n` plaintext bytes into conn->cipher. */
int rio__tls_encrypt(rio_conn_t *conn, const char *bytes, size_t n);
/* Queues close_notify into conn->cipher. */
void rio__tls_close_notify(rio_conn_t *conn);
/* OpenSSL's reason for the last error, as "what: reason". */
void rio__tls_error_text(const char *what, char *buf, size_t len);

/* conn.c: after the TLS engine produced records or opened the session. */
void rio__conn_flush(rio_conn_t *conn);
void rio__conn_opened(rio_conn_t *conn);
void rio__conn_deliver_eof(rio_conn_t *conn);

#endif
