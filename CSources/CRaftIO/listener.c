/*
 * Listeners: bind, listen, accept.
 *
 * Happy path: uv_listen -> on_connection -> uv_accept into a new connection -> the owner's
 * on_accept picks its callbacks -> (TLS handshake) -> on_open.
 * Failure modes: accept() failing (EMFILE, ENFILE, ENOBUFS) is reported through on_error and the
 * listener keeps listening; an owner that refuses a connection gets it closed at once.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_connection(uv_stream_t *server, int status) {
    rio_listener_t *l = server->data;
    if (l->closing) return;
    if (status != 0) {
        char msg[RIO_ERRLEN];
        snprintf(msg, sizeof(msg), "uv_listen(): %s", uv_strerror(status));
        if (l->cbs->on_error) l->cbs->on_error(l, l->data, status, msg);
        return;
    }
    rio_conn_t *c = rio__conn_new(l->loop, NULL, NULL);
    if (c == NULL) {
        if (l->cbs->on_error) l->cbs->on_error(l, l->data, UV_ENOMEM, "accept: out of memory");
        return;
    }
    c->state = RIO_HANDSHAKING;
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    const rio_conn_callbacks_t *cbs = NULL;
    void *data = NULL;
    if (rc != 0) {
        char msg[RIO_ERRLEN];
        snprintf(msg, sizeof(msg), "uv_accept(): %s", uv_strerror(rc));
        if (l->cbs->on_error) l->cbs->on_error(l, l->data, rc, msg);
        rio_conn_close(c, 0);
        return;
    }
    if (l->cbs->on_accept(l, l->data, c, &cbs, &data) != 0 || cbs == NULL) {
        rio_conn_close(c, 0);
        return;
    }
    rio_conn_retain(c); /* the owner's reference */
    c->liveness = l->liveness;
    c->cbs = cbs;
    c->data = data;
    rio__conn_start_accepted(c, l->tls);
}

rio_listener_t *rio_listen(rio_loop_t *loop, const char *host, int port, int backlog,
                           rio_tls_ctx_t *tls, const rio_listener_callbacks_t *cbs, void *data,
                           char *err, size_t errlen) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "listen: \"%s\" is not a numeric IPv4 or IPv6 address", host);
        return NULL;
    }
    if (atomic_load(&loop->stopping)) {
        snprintf(err, errlen, "listen: event loop stopped");
        return NULL;
    }
    rio_listener_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "listen: out of memory");
        return NULL;
    }
    uv_tcp_init(&loop->uv, &l->tcp);
    l->tcp.data = l;
    l->loop = loop;
    l->tls = tls;
    l->cbs = cbs;
    l->data = data;
    rio__list_init(&l->link);
    /* IPv6 listeners take IPv6 only, so "::" and "0.0.0.0" can be bound side by side. */
    unsigned flags = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, flags);
    const char *what = "uv_tcp_bind()";
    if (rc == 0) {
        what = "uv_listen()";
        rc = uv_listen((uv_stream_t *)&l->tcp, backlog, on_connection);
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s (%s port %d)", what, uv_strerror(rc), host, port);
        l->cbs = NULL;
        l->closing = 1;
        uv_close((uv_handle_t *)&l->tcp, (uv_close_cb)free);
        return NULL;
    }
    rio__list_push(&loop->listeners, &l->link);
    return l;
}

int rio_listener_port(const rio_listener_t *l) {
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &n) != 0) return -1;
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void rio_listener_set_liveness(rio_listener_t *l, const rio_tcp_liveness_t *opts) {
    l->liveness = *opts;
}

static void on_listener_closed(uv_handle_t *h) {
    rio_listener_t *l = h->data;
    if (l->cbs && l->cbs->on_close) l->cbs->on_close(l, l->data);
    free(l);
}

void rio_listener_close(rio_listener_t *l) {
    if (l->closing) return;
    l->closing = 1;
    rio__list_remove(&l->link);
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}
