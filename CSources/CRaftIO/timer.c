/* Timers: thin wrappers over uv_timer_t whose close is reported to the owner exactly once. */
#include "internal.h"

#include <stdlib.h>

static void on_timer(uv_timer_t *h) {
    rio_timer_t *t = h->data;
    if (!t->closing) t->on_fire(t->data);
}

rio_timer_t *rio_timer_new(rio_loop_t *loop, void (*on_fire)(void *), void (*on_close)(void *),
                           void *data) {
    /* A stopping loop runs until its last handle closed: a timer armed by a callback during the
     * stop (a redial after a connection closed, say) would keep it running for good. */
    if (atomic_load(&loop->stopping)) return NULL;
    rio_timer_t *t = calloc(1, sizeof(*t));
    if (t == NULL) return NULL;
    uv_timer_init(&loop->uv, &t->uv);
    t->uv.data = t;
    t->loop = loop;
    t->on_fire = on_fire;
    t->on_close = on_close;
    t->data = data;
    rio__list_push(&loop->timers, &t->link);
    return t;
}

void rio_timer_start(rio_timer_t *t, uint64_t timeout_ms, uint64_t repeat_ms) {
    if (!t->closing) uv_timer_start(&t->uv, on_timer, timeout_ms, repeat_ms);
}

void rio_timer_stop(rio_timer_t *t) { uv_timer_stop(&t->uv); }

static void on_timer_closed(uv_handle_t *h) {
    rio_timer_t *t = h->data;
    if (t->on_close) t->on_close(t->data);
    free(t);
}

void rio_timer_close(rio_timer_t *t) {
    if (t->closing) return;
    t->closing = 1;
    rio__list_remove(&t->link);
    uv_close((uv_handle_t *)&t->uv, on_timer_closed);
}

const char *rio_err_name(int code) {
    switch (code) {
    case RIO_E_LOOP_STOPPED: return "RIO_E_LOOP_STOPPED";
    case RIO_E_TLS_HANDSHAKE: return "RIO_E_TLS_HANDSHAKE";
    case RIO_E_TLS: return "RIO_E_TLS";
    case RIO_E_TLS_CONFIG: return "RIO_E_TLS_CONFIG";
    case RIO_E_NO_MEMORY: return "RIO_E_NO_MEMORY";
    default: return uv_err_name(code);
    }
}

const char *rio_strerror(int code) {
    switch (code) {
    case RIO_E_LOOP_STOPPED: return "event loop stopped";
    case RIO_E_TLS_HANDSHAKE: return "TLS handshake failed";
    case RIO_E_TLS: return "TLS record failed";
    case RIO_E_TLS_CONFIG: return "TLS set-up failed";
    case RIO_E_NO_MEMORY: return "out of memory";
    default: return uv_strerror(code);
    }
}
