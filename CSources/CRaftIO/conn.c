/*
 * Connections: dial, read, coalesced writes, half-close and close.
 *
 * Happy path (dial): resolve (uv_getaddrinfo, skipped for numeric addresses) -> uv_tcp_connect
 * to each address in turn -> TLS handshake when configured -> on_open(0) -> reads delivered by
 * on_read -> rio_conn_close -> on_close. One dial timer bounds everything before on_open.
 *
 * Writes: any thread appends to `out` under the connection's mutex; the first append of a burst
 * puts the connection on its loop's inbox. On the loop, a flush takes all of `out` at once and
 * hands it to one uv_write (under TLS: encrypts it in records of up to 16 KiB first). Only one
 * uv_write is in flight per connection; bytes that arrive meanwhile wait in `out` and go out
 * together when it completes. So N small writes cost one copy each, one wake-up and one syscall
 * per burst, never one per write.
 *
 * Lock order: a connection's mutex, then its loop's (rio__loop_schedule runs under the first).
 * Nothing here calls back into Swift with either held. The Swift layers above take theirs first:
 * StreamWriter's state lock -> HTTPResponseWriter's state lock -> this connection's mutex -> the
 * loop's mutex; never the other way round.
 *
 * Failure modes: refused or unreachable address -> next address, then on_open(error); dial
 * timeout -> on_open(UV_ETIMEDOUT); handshake failure -> on_open(error) with OpenSSL's reason;
 * read or write error -> on_close(error); loop stop -> on_close(RIO_E_LOOP_STOPPED, "event loop
 * stopped"). Every path ends in exactly one on_close.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Plaintext encrypted per socket write under TLS. */
#define TLS_SLICE (256 * 1024)
#ifndef TCP_KEEPIDLE
#define TCP_KEEPIDLE TCP_KEEPALIVE /* macOS names the idle time so */
#endif
/* TCP keep-alive probe delay when none is configured, as Go's net.Dialer (so etcd's peers) uses. */
#define KEEPALIVE_SECS 30

/* ---------------------------------------------------------------------------------------------- */
/* buffers */

int rio__buf_reserve(rio__buf_t *b, size_t n) {
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 16 * 1024;
        while (cap - b->len < n) cap *= 2;
        char *p = realloc(b->base, cap);
        if (p == NULL) return UV_ENOMEM;
        b->base = p;
        b->cap = cap;
    }
    return 0;
}

int rio__buf_append(rio__buf_t *b, const void *bytes, size_t n) {
    if (rio__buf_reserve(b, n) != 0) return UV_ENOMEM;
    memcpy(b->base + b->len, bytes, n);
    b->len += n;
    return 0;
}

void rio__buf_free(rio__buf_t *b) {
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

void rio__buf_trim(rio__buf_t *b) {
    if (b->len == 0 && b->cap > 4 * 1024 * 1024) rio__buf_free(b);
}

static void buf_swap(rio__buf_t *a, rio__buf_t *b) {
    rio__buf_t t = *a;
    *a = *b;
    *b = t;
}

/* ---------------------------------------------------------------------------------------------- */
/* life cycle */

/* Connection objects allocated and not yet freed, process-wide: lets tests prove that every
 * reference taken is given back. */
static atomic_size_t live_conns;

size_t rio_conn_live_count(void) { return atomic_load(&live_conns); }

rio_conn_t *rio__conn_new(rio_loop_t *loop, int unix_socket, const rio_conn_callbacks_t *cbs, void *data) {
    /* Aligned as its cache-line-aligned members require (sizeof is a multiple of the alignment). */
    rio_conn_t *c = aligned_alloc(_Alignof(rio_conn_t), sizeof(*c));
    if (c == NULL) return NULL;
    memset(c, 0, sizeof(*c));
    atomic_fetch_add(&live_conns, 1);
    c->loop = loop;
    c->cbs = cbs;
    c->data = data;
    atomic_store(&c->refs, 1); /* the handle's own reference, dropped after on_close */
    c->direct_fd = -1;
    uv_mutex_init(&c->mu);
    if (unix_socket) uv_pipe_init(&loop->uv, &c->sock.pipe, 0);
    else uv_tcp_init(&loop->uv, &c->sock.tcp);
    c->sock.handle.data = c;
    c->handles_open = 1;
    rio__list_push(&loop->conns, &c->link);
    return c;
}

void rio_conn_retain(rio_conn_t *c) { atomic_fetch_add(&c->refs, 1); }

void rio_conn_release(rio_conn_t *c) {
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    rio__tls_free(c);
    if (c->ai_list) uv_freeaddrinfo(c->ai_list);
    rio__buf_free(&c->out);
    rio__buf_free(&c->inflight);
    rio__buf_free(&c->cipher);
    rio__buf_free(&c->scratch);
    free(c->server_name);
    uv_mutex_destroy(&c->mu);
    free(c);
    atomic_fetch_sub(&live_conns, 1);
}

static void on_handle_closed(uv_handle_t *h) {
    rio_conn_t *c = h->data;
    if (--c->handles_open > 0) return;
    c->state = RIO_CLOSED;
    if (c->cbs && c->cbs->on_close)
        c->cbs->on_close(c, c->data, c->close_status, c->close_status ? c->close_msg : "");
    c->data = NULL;
    rio_conn_release(c);
}

/* Closes the handle now. Queued bytes are dropped; pending requests get UV_ECANCELED first. */
static void close_now(rio_conn_t *c, int status, const char *msg) {
    if (c->state == RIO_CLOSING || c->state == RIO_CLOSED) return;
    int was_open = c->state == RIO_OPEN;
    c->state = RIO_CLOSING;
    if (status != 0) {
        c->close_status = status;
        if (msg != c->close_msg) snprintf(c->close_msg, sizeof(c->close_msg), "%s", msg);
    }
    uv_mutex_lock(&c->mu);
    c->write_closed = 1;
    c->direct_fd = -1; /* before the socket is closed: no writer may touch it from now on */
    uv_mutex_unlock(&c->mu);
    rio__list_remove(&c->link);
    if (!was_open && c->cbs && c->cbs->on_open)
        c->cbs->on_open(c, c->data, status ? status : UV_ECANCELED, status ? c->close_msg : "connection closed before it opened");
    if (c->gai.loop != NULL) uv_cancel((uv_req_t *)&c->gai);
    if (c->timer_inited) {
        c->handles_open++;
        uv_close((uv_handle_t *)&c->dial_timer, on_handle_closed);
    }
    /* A tcp handle being closed for a retry finishes through on_retry_closed. */
    if (!c->retrying) uv_close(&c->sock.handle, on_handle_closed);
}

void rio__conn_fail(rio_conn_t *c, int status, const char *msg) {
    /* A TLS alert explaining the failure may be waiting: hand it to the kernel, best effort. */
    if (c->cipher.len > 0 && !c->writing) {
        uv_buf_t b = uv_buf_init(c->cipher.base, (unsigned)c->cipher.len);
        uv_try_write(&c->sock.stream, &b, 1);
        c->cipher.len = 0;
    }
    close_now(c, status, msg);
}

void rio__conn_close_all(rio__link_t *list, const char *why) {
    while (list->next != list) {
        rio_conn_t *c = (rio_conn_t *)((char *)list->next - offsetof(rio_conn_t, link));
        close_now(c, RIO_E_LOOP_STOPPED, why); /* unlinks c */
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    rio_conn_t *c = h->data;
    *buf = uv_buf_init(c->loop->rbuf, RIO_READ_BUF_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    rio_conn_t *c = s->data;
    if (n == 0) return;
    if (n == UV_EOF) {
        uv_read_stop(s);
        c->reading = 0;
        c->eof_seen = 1;
        if (c->state == RIO_OPEN) rio__conn_deliver_eof(c);
        else close_now(c, UV_ECONNRESET, "connection closed by peer during the TLS handshake");
        return;
    }
    if (n < 0) {
        char msg[RIO_ERRLEN];
        snprintf(msg, sizeof(msg), "read(): %s", uv_strerror((int)n));
        close_now(c, (int)n, msg);
        return;
    }
    uv_mutex_lock(&c->mu);
    c->stats.bytes_read += (uint64_t)n;
    c->loop->activity++;
    uv_mutex_unlock(&c->mu);
    if (c->ssl) {
        int r = rio__tls_feed(c, buf->base, (size_t)n);
        if (r != 0) rio__conn_fail(c, r, c->close_msg);
        return;
    }
    if (c->state == RIO_OPEN) c->cbs->on_read(c, c->data, buf->base, (size_t)n);
}

void rio__conn_deliver_eof(rio_conn_t *c) {
    if (c->eof_delivered) return;
    c->eof_delivered = 1;
    if (c->cbs->on_eof) c->cbs->on_eof(c, c->data);
}

static void start_reading(rio_conn_t *c) {
    if (c->reading || c->eof_seen || c->state >= RIO_CLOSING) return;
    if (uv_read_start(&c->sock.stream, on_alloc, on_read) == 0) c->reading = 1;
}

void rio_conn_read_stop(rio_conn_t *c) {
    c->paused = 1;
    if (c->reading) {
        uv_read_stop(&c->sock.stream);
        c->reading = 0;
    }
}

void rio_conn_read_start(rio_conn_t *c) {
    if (!c->paused) return;
    c->paused = 0;
    if (c->state != RIO_OPEN) return;
    start_reading(c);
    if (c->ssl) {
        /* Plaintext decrypted before the pause waits inside OpenSSL: deliver it from the inbox,
         * not from inside this call, so a read handler that resumes is never re-entered. */
        uv_mutex_lock(&c->mu);
        c->need_drain = 1;
        if (!c->on_pending_list) {
            c->on_pending_list = 1;
            rio__loop_schedule(c->loop, c);
        }
        uv_mutex_unlock(&c->mu);
    }
}

void rio__conn_opened(rio_conn_t *c) {
    c->state = RIO_OPEN;
    uv_os_fd_t fd;
    if (c->ssl == NULL && uv_fileno(&c->sock.handle, &fd) == 0) {
        uv_mutex_lock(&c->mu);
        c->direct_fd = fd;
        uv_mutex_unlock(&c->mu);
    }
    if (c->timer_inited) uv_timer_stop(&c->dial_timer);
    if (c->cbs->on_open) c->cbs->on_open(c, c->data, 0, "");
    if (c->state != RIO_OPEN) return;
    if (!c->paused) start_reading(c);
    /* Writes accepted while dialing wait for the session: go now. */
    rio__conn_flush(c);
}

/* ---------------------------------------------------------------------------------------------- */
/* writing */

/* A plain connection with nothing queued, whose writers have been quiet for this long, takes a
 * write straight to the socket from the writer's thread when its loop is asleep: a lone message
 * then costs one syscall instead of waking the loop thread. A busier connection, or one whose
 * loop is spinning (it picks the write up within a microsecond), queues for the loop, which
 * writes many writes at once. */
#define DIRECT_IDLE_NS 5000
/* Slices a gathered write may have to go straight to the socket (more are queued). */
#define RIO_MAX_SLICES 8

/* c->queued is changed under c->mu only, so a relaxed load and store make an add. */
static inline size_t queued_load(rio_conn_t *c) {
    return atomic_load_explicit(&c->queued, memory_order_relaxed);
}

static inline size_t queued_add(rio_conn_t *c, size_t n) {
    size_t q = queued_load(c) + n;
    atomic_store_explicit(&c->queued, q, memory_order_relaxed);
    return q;
}

/* Under c->mu. Writes what the socket takes now of the slices; returns how many bytes that was. */
static size_t write_direct(rio_conn_t *c, const rio_slice_t *slices, size_t count) {
    if (c->direct_fd < 0 || queued_load(c) != 0) return 0;
    if (atomic_load_explicit(&c->loop->spinning, memory_order_relaxed)) return 0;
    uint64_t now = uv_hrtime();
    uint64_t quiet = now - c->last_write_ns;
    c->last_write_ns = now;
    if (quiet < DIRECT_IDLE_NS || count > RIO_MAX_SLICES) return 0;
    struct iovec iov[RIO_MAX_SLICES];
    for (size_t i = 0; i < count; i++) {
        iov[i].iov_base = (void *)slices[i].base;
        iov[i].iov_len = slices[i].len;
    }
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n;
    do {
        n = sendmsg(c->direct_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    /* Quiet is measured from the end of this write: a syscall that outlasts the idle time must
     * not make every following write a syscall of its own too. */
    c->last_write_ns = uv_hrtime();
    /* EAGAIN or a failure: queue it all; the loop's write reports a failure and closes. */
    if (n <= 0) return 0;
    c->stats.write_calls++;
    c->stats.bytes_written += (uint64_t)n;
    return (size_t)n;
}

ssize_t rio_conn_writev(rio_conn_t *c, const rio_slice_t *slices, size_t count) {
    uv_mutex_lock(&c->mu);
    if (c->write_closed || c->want_shutdown || c->want_close) {
        uv_mutex_unlock(&c->mu);
        return UV_EPIPE;
    }
    size_t direct = write_direct(c, slices, count), skip = direct;
    if (direct > 0) c->out_epoch++;
    c->stats.app_writes++;
    size_t appended = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = slices[i].len;
        if (skip >= len) { /* written whole by the direct write */
            skip -= len;
            continue;
        }
        if (rio__buf_append(&c->out, (const char *)slices[i].base + skip, len - skip) != 0) {
            /* UNTESTED: out of memory. When part of this write already went out or was queued,
             * the byte stream is broken: close the connection rather than leave it half-written. */
            queued_add(c, appended);
            if (direct > 0 || appended > 0) {
                c->want_close = 1;
                c->close_graceful = 0;
                if (!c->on_pending_list) {
                    c->on_pending_list = 1;
                    rio__loop_schedule(c->loop, c);
                }
            }
            uv_mutex_unlock(&c->mu);
            return RIO_E_NO_MEMORY;
        }
        appended += len - skip;
        skip = 0;
    }
    if (appended == 0) {
        uv_mutex_unlock(&c->mu);
        return (ssize_t)queued_load(c);
    }
    size_t queued = queued_add(c, appended);
    if (!c->on_pending_list) {
        c->on_pending_list = 1;
        rio__loop_schedule(c->loop, c);
    }
    uv_mutex_unlock(&c->mu);
    return (ssize_t)queued;
}

void *rio_conn_write_reserve_at(rio_conn_t *c, size_t len, ssize_t *err, uint64_t *epoch, size_t *offset) {
    char *p = rio_conn_write_reserve(c, len, err);
    if (p != NULL) {
        *epoch = c->out_epoch;
        *offset = c->out.len;
    }
    return p;
}

void *rio_conn_write_reserve(rio_conn_t *c, size_t len, ssize_t *err) {
    uv_mutex_lock(&c->mu);
    if (c->write_closed || c->want_shutdown || c->want_close) {
        uv_mutex_unlock(&c->mu);
        *err = UV_EPIPE;
        return NULL;
    }
    if (rio__buf_reserve(&c->out, len) != 0) {
        uv_mutex_unlock(&c->mu);
        *err = RIO_E_NO_MEMORY;
        return NULL;
    }
    return c->out.base + c->out.len;
}

ssize_t rio_conn_write_commit(rio_conn_t *c, size_t used) {
    c->stats.app_writes++;
    char *start = c->out.base + c->out.len;
    /* Nothing queued means `out` is empty: the reservation is all there is to write. */
    size_t direct = 0;
    if (used > 0) {
        rio_slice_t slice = {start, used};
        direct = write_direct(c, &slice, 1);
        if (direct > 0) c->out_epoch++;
    }
    if (direct < used) {
        if (direct > 0) memmove(start, start + direct, used - direct);
        c->out.len += used - direct;
        queued_add(c, used - direct);
        if (!c->on_pending_list) {
            c->on_pending_list = 1;
            rio__loop_schedule(c->loop, c);
        }
    }
    size_t queued = queued_load(c);
    uv_mutex_unlock(&c->mu);
    return (ssize_t)queued;
}

ssize_t rio_conn_write(rio_conn_t *c, const void *bytes, size_t len) {
    rio_slice_t slice = {bytes, len};
    return rio_conn_writev(c, &slice, 1);
}

size_t rio_conn_queued(rio_conn_t *c) {
    return queued_load(c);
}

static void maybe_finish(rio_conn_t *c);

static void on_write(uv_write_t *req, int status) {
    rio_conn_t *c = req->data;
    c->writing = 0;
    size_t written = c->inflight.len;
    c->inflight.len = 0;
    if (status != 0) {
        if (status == UV_ECANCELED) return; /* closing */
        char msg[RIO_ERRLEN];
        snprintf(msg, sizeof(msg), "write(): %s", uv_strerror(status));
        close_now(c, status, msg);
        return;
    }
    uv_mutex_lock(&c->mu);
    size_t queued = queued_load(c) - c->inflight_plain;
    atomic_store_explicit(&c->queued, queued, memory_order_relaxed);
    c->stats.bytes_written += written;
    uv_mutex_unlock(&c->mu);
    c->inflight_plain = 0;
    if (c->state == RIO_OPEN && c->cbs->on_drain) c->cbs->on_drain(c, c->data, queued);
    rio__conn_flush(c);
}

/* `counted`: the caller already counted this write under the lock it held anyway. */
static void write_inflight(rio_conn_t *c, int counted) {
    uv_buf_t b = uv_buf_init(c->inflight.base, (unsigned)c->inflight.len);
    c->wreq.data = c;
    c->writing = 1;
    if (!counted) {
        uv_mutex_lock(&c->mu);
        c->stats.write_calls++;
        uv_mutex_unlock(&c->mu);
    }
    int rc = uv_write(&c->wreq, &c->sock.stream, &b, 1, on_write);
    if (rc != 0) {
        /* UNTESTED: uv_write failing synchronously (the handle is already broken). */
        c->writing = 0;
        char msg[RIO_ERRLEN];
        snprintf(msg, sizeof(msg), "uv_write(): %s", uv_strerror(rc));
        close_now(c, rc, msg);
    }
}

/* Loop thread: moves queued plaintext toward the socket; one uv_write at a time. */
void rio__conn_flush(rio_conn_t *c) {
    if (c->state == RIO_CLOSING || c->state == RIO_CLOSED) return;
    if (c->ssl) {
        if (c->state == RIO_OPEN && !c->shutdown_started) {
            if (c->scratch_off == c->scratch.len) {
                c->scratch.len = c->scratch_off = 0;
                uv_mutex_lock(&c->mu);
                buf_swap(&c->out, &c->scratch);
                c->out_epoch++;
                uv_mutex_unlock(&c->mu);
            }
            /* Encrypt one slice ahead of the socket: records stay in cache between encryption and
             * the kernel's copy, and a large burst never doubles its memory as ciphertext. */
            size_t left = c->scratch.len - c->scratch_off;
            if (left > 0 && c->cipher.len < TLS_SLICE) {
                size_t n = left < TLS_SLICE ? left : TLS_SLICE;
                int r = rio__tls_encrypt(c, c->scratch.base + c->scratch_off, n);
                if (r != 0) {
                    rio__conn_fail(c, r, c->close_msg);
                    return;
                }
                c->scratch_off += n;
                c->cipher_plain += n;
            }
        }
        if (!c->writing && c->cipher.len > 0) {
            buf_swap(&c->cipher, &c->inflight);
            c->inflight_plain = c->cipher_plain;
            c->cipher_plain = 0;
            write_inflight(c, 0);
            /* Prepare the next slice while the kernel takes this one. */
            if (c->scratch_off < c->scratch.len) rio__conn_flush(c);
            return;
        }
    } else if (!c->writing && c->state == RIO_OPEN) {
        /* One lock per socket write on the loop's side: writers contend for it on every batch. */
        uv_mutex_lock(&c->mu);
        buf_swap(&c->out, &c->inflight);
        c->out_epoch++;
        if (c->inflight.len > 0) c->stats.write_calls++;
        uv_mutex_unlock(&c->mu);
        c->inflight_plain = c->inflight.len;
        if (c->inflight.len > 0) write_inflight(c, 1);
    }
    if (!c->writing) {
        /* Idle: give back what a burst made large. Buffers are kept while traffic flows, so a
         * busy connection reuses them instead of faulting in fresh pages on every write. */
        rio__buf_trim(&c->inflight);
        rio__buf_trim(&c->cipher);
        rio__buf_trim(&c->scratch);
    }
    if (c->state == RIO_OPEN) maybe_finish(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    rio_conn_t *c = req->data;
    if (status == UV_ECANCELED) return;
    c->shutdown_done = 1;
    uv_mutex_lock(&c->mu);
    int close = c->want_close;
    uv_mutex_unlock(&c->mu);
    if (close || status != 0) close_now(c, 0, "");
}

/* Loop thread: carries out a requested shutdown or graceful close once nothing is left to write. */
static void maybe_finish(rio_conn_t *c) {
    uv_mutex_lock(&c->mu);
    int want = c->want_shutdown || c->want_close;
    int empty = c->out.len == 0 && c->scratch_off == c->scratch.len;
    uv_mutex_unlock(&c->mu);
    if (!want || !empty || c->writing || c->cipher.len > 0) return;
    if (c->ssl && !c->shutdown_started) {
        c->shutdown_started = 1;
        rio__tls_close_notify(c);
        rio__conn_flush(c); /* writes the alert; we come back here when it is written */
        return;
    }
    if (c->shutdown_started == 2) {
        /* Our FIN is out already: a close asked for afterwards has nothing left to send. */
        if (c->shutdown_done && c->want_close) close_now(c, 0, "");
        return;
    }
    c->shutdown_started = 2;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, &c->sock.stream, on_shutdown) != 0) close_now(c, 0, "");
}

void rio_conn_shutdown(rio_conn_t *c) {
    uv_mutex_lock(&c->mu);
    if (!c->write_closed && !c->want_shutdown) {
        c->want_shutdown = 1;
        if (!c->on_pending_list) {
            c->on_pending_list = 1;
            rio__loop_schedule(c->loop, c);
        }
    }
    uv_mutex_unlock(&c->mu);
}

void rio_conn_close(rio_conn_t *c, int graceful) {
    uv_mutex_lock(&c->mu);
    if (!c->write_closed && (!c->want_close || (c->close_graceful && !graceful))) {
        c->want_close = 1;
        c->close_graceful = graceful;
        if (!c->on_pending_list) {
            c->on_pending_list = 1;
            rio__loop_schedule(c->loop, c);
        }
    }
    uv_mutex_unlock(&c->mu);
}

/* Loop thread: the inbox picked this connection; do what was asked of it. */
void rio__conn_process(rio_conn_t *c) {
    uv_mutex_lock(&c->mu);
    c->on_pending_list = 0;
    int close = c->want_close, graceful = c->close_graceful, drain = c->need_drain;
    c->need_drain = 0;
    uv_mutex_unlock(&c->mu);
    if (close && (!graceful || c->state != RIO_OPEN)) {
        close_now(c, 0, "");
    } else {
        int r = drain && c->ssl && c->state == RIO_OPEN ? rio__tls_pump(c) : 0;
        if (r != 0) rio__conn_fail(c, r, c->close_msg);
        rio__conn_flush(c);
    }
    rio_conn_release(c);
}

/* ---------------------------------------------------------------------------------------------- */
/* dialing */

static void try_next_address(rio_conn_t *c);

static void on_dial_timeout(uv_timer_t *t) {
    rio_conn_t *c = t->data;
    if (c->state == RIO_DIALING || c->state == RIO_HANDSHAKING)
        close_now(c, UV_ETIMEDOUT, c->state == RIO_DIALING ? "dial: timed out connecting"
                                                           : "dial: timed out in the TLS handshake");
}

static int set_int_option(uv_os_fd_t fd, int level, int name, unsigned value) {
    int v = (int)value;
    return setsockopt(fd, level, name, &v, sizeof(v)) == 0 ? 0 : -errno;
}

static int is_unix(const rio_conn_t *c) { return c->sock.handle.type == UV_NAMED_PIPE; }

static int set_tcp_options(rio_conn_t *c) {
    /* A Unix socket has no Nagle, keepalive or retransmission: its peer is on this host, and the
     * kernel ends the connection at once when the peer's end closes or its process dies. */
    if (is_unix(c)) return 0;
    /* Frames are coalesced by us; Nagle would only add latency on top. */
    uv_tcp_nodelay(&c->sock.tcp, 1);
    const rio_tcp_liveness_t *o = &c->liveness;
    int rc = uv_tcp_keepalive(&c->sock.tcp, 1, o->keepalive_idle_s ? o->keepalive_idle_s : KEEPALIVE_SECS);
    uv_os_fd_t fd;
    if (rc != 0 || uv_fileno(&c->sock.handle, &fd) != 0) return rc;
    /* libuv sets the idle time only (1.44); the rest goes straight to the socket. */
    if (o->keepalive_interval_s) rc = set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, o->keepalive_interval_s);
    if (rc == 0 && o->keepalive_count) rc = set_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, o->keepalive_count);
#ifdef TCP_USER_TIMEOUT
    if (rc == 0 && o->user_timeout_ms) rc = set_int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, o->user_timeout_ms);
#endif
    return rc;
}

int rio_conn_set_liveness(rio_conn_t *c, const rio_tcp_liveness_t *opts) {
    c->liveness = *opts;
    /* Dialing: applied once connected (begin_session). Closed: nothing to set. */
    if (c->state != RIO_OPEN && c->state != RIO_HANDSHAKING) return 0;
    return set_tcp_options(c);
}

int rio_conn_get_liveness(rio_conn_t *c, rio_tcp_liveness_t *out) {
    memset(out, 0, sizeof(*out));
    uv_os_fd_t fd;
    int rc = uv_fileno(&c->sock.handle, &fd);
    if (rc != 0 || is_unix(c)) return rc; /* a Unix socket: no keepalive, all zero */
    int on = 0, v = 0;
    socklen_t n = sizeof(on);
    if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &n) != 0) return -errno;
    if (on) {
        n = sizeof(v);
        if (getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &n) != 0) return -errno;
        out->keepalive_idle_s = (unsigned)v;
    }
    n = sizeof(v);
    if (getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, &n) != 0) return -errno;
    out->keepalive_interval_s = (unsigned)v;
    n = sizeof(v);
    if (getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, &n) != 0) return -errno;
    out->keepalive_count = (unsigned)v;
#ifdef TCP_USER_TIMEOUT
    n = sizeof(v);
    if (getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, &n) != 0) return -errno;
    out->user_timeout_ms = (unsigned)v;
#endif
    return 0;
}

static void begin_session(rio_conn_t *c) {
    /* A refused option leaves the kernel's default (a slower, never a wrong, detection). */
    (void)set_tcp_options(c);
    if (c->ssl) {
        c->state = RIO_HANDSHAKING;
        start_reading(c);
        int r = rio__tls_pump(c);
        if (r != 0) rio__conn_fail(c, r, c->close_msg);
    } else {
        rio__conn_opened(c);
    }
}

static void on_retry_closed(uv_handle_t *h) {
    rio_conn_t *c = h->data;
    c->retrying = 0;
    if (c->state != RIO_DIALING) { /* closed for good meanwhile: this was the tcp handle's close */
        on_handle_closed(h);
        return;
    }
    uv_tcp_init(&c->loop->uv, &c->sock.tcp);
    c->sock.handle.data = c;
    try_next_address(c);
}

static void on_connect(uv_connect_t *req, int status) {
    rio_conn_t *c = req->data;
    if (status == UV_ECANCELED || c->state != RIO_DIALING) return;
    if (status == 0) {
        begin_session(c);
        return;
    }
    snprintf(c->close_msg, sizeof(c->close_msg), "%s(): %s", is_unix(c) ? "uv_pipe_connect" : "uv_tcp_connect",
             uv_strerror(status));
    c->close_status = status;
    if (c->ai_next != NULL) {
        /* A socket whose connect failed cannot connect again: close it, then try the next. */
        c->retrying = 1;
        uv_close(&c->sock.handle, on_retry_closed);
        return;
    }
    close_now(c, status, c->close_msg);
}

static void try_next_address(rio_conn_t *c) {
    while (c->ai_next != NULL) {
        struct addrinfo *ai = c->ai_next;
        c->ai_next = ai->ai_next;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        c->creq.data = c;
        int rc = uv_tcp_connect(&c->creq, &c->sock.tcp, ai->ai_addr, on_connect);
        if (rc == 0) return;
        snprintf(c->close_msg, sizeof(c->close_msg), "uv_tcp_connect(): %s", uv_strerror(rc));
        c->close_status = rc;
    }
    close_now(c, c->close_status ? c->close_status : UV_EADDRNOTAVAIL,
              c->close_status ? c->close_msg : "dial: no usable address");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    rio_conn_t *c = req->data;
    req->loop = NULL;
    if (status == UV_ECANCELED || c->state != RIO_DIALING) {
        if (res) uv_freeaddrinfo(res);
        rio_conn_release(c);
        return;
    }
    if (status != 0) {
        char msg[RIO_ERRLEN];
        snprintf(msg, sizeof(msg), "uv_getaddrinfo(): %s", uv_strerror(status));
        close_now(c, status, msg);
    } else {
        c->ai_list = c->ai_next = res;
        try_next_address(c);
    }
    rio_conn_release(c);
}

/* A numeric address needs no resolver: skip libuv's thread pool entirely. */
static struct addrinfo *numeric_address(const char *host, int port) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int family;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0) family = AF_INET;
    else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) family = AF_INET6;
    else return NULL;
    struct addrinfo *ai = calloc(1, sizeof(*ai) + sizeof(ss));
    if (ai == NULL) return NULL;
    ai->ai_family = family;
    ai->ai_socktype = SOCK_STREAM;
    ai->ai_addr = (struct sockaddr *)(ai + 1);
    ai->ai_addrlen = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    memcpy(ai->ai_addr, &ss, ai->ai_addrlen);
    return ai;
}

/* What every dial does before it connects: the connection with the caller's reference, its dial
 * timer and its TLS session. NULL when out of memory; a connection already closing when it failed. */
static rio_conn_t *dial_start(rio_loop_t *loop, int unix_socket, uint64_t timeout_ms, rio_tls_ctx_t *tls,
                              const char *server_name, const rio_conn_callbacks_t *cbs, void *data) {
    rio_conn_t *c = rio__conn_new(loop, unix_socket, cbs, data);
    if (c == NULL) return NULL;
    rio_conn_retain(c); /* the caller's reference */
    c->state = RIO_DIALING;
    if (atomic_load(&loop->stopping)) {
        /* Dialed from a callback while the loop stops: fail it now rather than keep the loop alive. */
        close_now(c, RIO_E_LOOP_STOPPED, "event loop stopped");
        return c;
    }
    if (timeout_ms > 0) {
        uv_timer_init(&loop->uv, &c->dial_timer);
        c->dial_timer.data = c;
        c->timer_inited = 1;
        uv_timer_start(&c->dial_timer, on_dial_timeout, timeout_ms, 0);
    }
    if (tls != NULL) {
        char err[RIO_ERRLEN];
        if (rio__tls_attach(c, tls, 0, server_name, err, sizeof(err)) != 0) close_now(c, RIO_E_TLS_CONFIG, err);
    }
    return c;
}

rio_conn_t *rio_dial(rio_loop_t *loop, const char *host, int port, uint64_t timeout_ms,
                     rio_tls_ctx_t *tls, const char *server_name,
                     const rio_conn_callbacks_t *cbs, void *data) {
    rio_conn_t *c = dial_start(loop, 0, timeout_ms, tls, server_name ? server_name : host, cbs, data);
    if (c == NULL || c->state != RIO_DIALING) return c;
    c->port = port;
    struct addrinfo *numeric = numeric_address(host, port);
    if (numeric != NULL) {
        /* connect() runs inside uv_tcp_connect, so the address is not needed afterwards. */
        c->creq.data = c;
        int rc = uv_tcp_connect(&c->creq, &c->sock.tcp, numeric->ai_addr, on_connect);
        free(numeric);
        if (rc != 0) {
            char msg[RIO_ERRLEN];
            snprintf(msg, sizeof(msg), "uv_tcp_connect(): %s", uv_strerror(rc));
            close_now(c, rc, msg);
        }
        return c;
    }
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->gai.data = c;
    rio_conn_retain(c); /* until on_resolved */
    /* The first lookup starts libuv's worker pool from this thread, and new threads inherit the
     * creator's name: give them their own, so "rio-loop" names event loops only. */
    static atomic_int pool_named;
    int first = atomic_exchange(&pool_named, 1) == 0;
    if (first) pthread_setname_np(pthread_self(), "rio-resolver");
    int rc = uv_getaddrinfo(&loop->uv, &c->gai, on_resolved, host, service, &hints);
    if (first) pthread_setname_np(pthread_self(), "rio-loop");
    if (rc != 0) {
        c->gai.loop = NULL;
        rio_conn_release(c);
        char msg[RIO_ERRLEN];
        snprintf(msg, sizeof(msg), "uv_getaddrinfo(): %s", uv_strerror(rc));
        close_now(c, rc, msg);
    }
    return c;
}

rio_conn_t *rio_dial_unix(rio_loop_t *loop, const char *path, uint64_t timeout_ms,
                          rio_tls_ctx_t *tls, const char *server_name,
                          const rio_conn_callbacks_t *cbs, void *data) {
    rio_conn_t *c = dial_start(loop, 1, timeout_ms, tls, server_name, cbs, data);
    if (c == NULL || c->state != RIO_DIALING) return c;
    if (tls != NULL && (server_name == NULL || server_name[0] == '\0')) {
        /* A path names no host: without a name the certificate would be checked against nothing. */
        close_now(c, RIO_E_TLS_CONFIG, "dial: TLS over a Unix socket needs a server name");
        return c;
    }
    if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
        char msg[RIO_ERRLEN];
        snprintf(msg, sizeof(msg), "dial: socket path longer than %zu bytes: %s",
                 sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1, path);
        close_now(c, UV_ENAMETOOLONG, msg);
        return c;
    }
    c->creq.data = c;
    /* Failures, synchronous ones included, arrive through on_connect. */
    uv_pipe_connect(&c->creq, &c->sock.pipe, path, on_connect);
    return c;
}

/* ---------------------------------------------------------------------------------------------- */
/* accepted connections */

void rio__conn_start_accepted(rio_conn_t *c, rio_tls_ctx_t *tls) {
    if (tls != NULL) {
        char err[RIO_ERRLEN];
        if (rio__tls_attach(c, tls, 1, NULL, err, sizeof(err)) != 0) {
            close_now(c, RIO_E_TLS_CONFIG, err);
            return;
        }
    }
    begin_session(c);
}

/* ---------------------------------------------------------------------------------------------- */
/* information */

void rio_conn_stats(rio_conn_t *c, rio_conn_stats_t *out) {
    uv_mutex_lock(&c->mu);
    *out = c->stats;
    uv_mutex_unlock(&c->mu);
}

int rio_conn_peer_address(rio_conn_t *c, char *buf, size_t len) {
    if (is_unix(c)) {
        if (len < 2) return UV_ENOBUFS;
        size_t n = len - 1;
        int rc = uv_pipe_getpeername(&c->sock.pipe, buf, &n);
        if (rc != 0) return rc;
        /* Go writes an abstract name with '@' for its leading NUL, and an unnamed peer (a dialing
         * client) as "@" alone: so etcd logs it, and so do we.
         * UNTESTED: a peer bound to an abstract name (no listener of ours binds one). */
        if (n == 0 || buf[0] == '\0') {
            buf[0] = '@';
            n = n == 0 ? 1 : n;
        }
        buf[n] = '\0';
        return 0;
    }
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    int rc = uv_tcp_getpeername(&c->sock.tcp, (struct sockaddr *)&ss, &n);
    if (rc != 0) return rc;
    char ip[64];
    int port;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(buf, len, "[%s]:%d", ip, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(buf, len, "%s:%d", ip, port);
    }
    return 0;
}
