/*
 * Listeners: bind, listen, accept, on TCP or on a Unix domain socket.
 *
 * Happy path: uv_listen -> on_connection -> uv_accept into a new connection -> the owner's
 * on_accept picks its callbacks -> (TLS handshake) -> on_open.
 * Failure modes: accept() failing (EMFILE, ENFILE, ENOBUFS) is reported through on_error and the
 * listener keeps listening; an owner that refuses a connection gets it closed at once.
 * Unix sockets: as etcd's (pkg/transport unix_listener.go), the file at the path is removed before
 * binding (a process that died, or etcd stopped by a signal, leaves its socket file behind and
 * bind() would fail with EADDRINUSE), and again when the listener closes (libuv unlinks a bound
 * pipe's path on close).
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

static void on_connection(uv_stream_t *server, int status) {
    rio_listener_t *l = server->data;
    if (l->closing) return;
    if (status != 0) {
        char msg[RIO_ERRLEN];
        snprintf(msg, sizeof(msg), "uv_listen(): %s", uv_strerror(status));
        if (l->cbs->on_error) l->cbs->on_error(l, l->data, status, msg);
        return;
    }
    rio_conn_t *c = rio__conn_new(l->loop, l->sock.handle.type == UV_NAMED_PIPE, NULL, NULL);
    if (c == NULL) {
        if (l->cbs->on_error) l->cbs->on_error(l, l->data, UV_ENOMEM, "accept: out of memory");
        return;
    }
    c->state = RIO_HANDSHAKING;
    int rc = uv_accept(server, &c->sock.stream);
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

/* A listener not yet bound, its handle initialised; NULL with `err` filled. */
static rio_listener_t *listener_new(rio_loop_t *loop, int unix_socket, rio_tls_ctx_t *tls,
                                    const rio_listener_callbacks_t *cbs, void *data, char *err, size_t errlen) {
    if (atomic_load(&loop->stopping)) {
        snprintf(err, errlen, "listen: event loop stopped");
        return NULL;
    }
    rio_listener_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "listen: out of memory");
        return NULL;
    }
    if (unix_socket) uv_pipe_init(&loop->uv, &l->sock.pipe, 0);
    else uv_tcp_init(&loop->uv, &l->sock.tcp);
    l->sock.handle.data = l;
    l->loop = loop;
    l->tls = tls;
    l->cbs = cbs;
    l->data = data;
    rio__list_init(&l->link);
    return l;
}

/* Listens on a bound handle (`rc`: how binding went, `what` failed when nonzero). Returns `l`, or
 * NULL with `err` filled and the handle closing. */
static rio_listener_t *listener_start(rio_listener_t *l, int rc, const char *what, int backlog,
                                      const char *where, char *err, size_t errlen) {
    if (rc == 0) {
        what = "uv_listen()";
        rc = uv_listen(&l->sock.stream, backlog, on_connection);
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s (%s)", what, uv_strerror(rc), where);
        l->cbs = NULL;
        l->closing = 1;
        uv_close(&l->sock.handle, (uv_close_cb)free);
        return NULL;
    }
    rio__list_push(&l->loop->listeners, &l->link);
    return l;
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
    rio_listener_t *l = listener_new(loop, 0, tls, cbs, data, err, errlen);
    if (l == NULL) return NULL;
    /* IPv6 listeners take IPv6 only, so "::" and "0.0.0.0" can be bound side by side. */
    unsigned flags = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    int rc = uv_tcp_bind(&l->sock.tcp, (struct sockaddr *)&ss, flags);
    char where[RIO_ERRLEN];
    snprintf(where, sizeof(where), "%s port %d", host, port);
    return listener_start(l, rc, "uv_tcp_bind()", backlog, where, err, errlen);
}

rio_listener_t *rio_listen_unix(rio_loop_t *loop, const char *path, int backlog,
                                rio_tls_ctx_t *tls, const rio_listener_callbacks_t *cbs, void *data,
                                char *err, size_t errlen) {
    size_t max = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;
    if (path[0] == '\0' || strlen(path) > max) {
        /* libuv would truncate the path silently and bind another file. */
        snprintf(err, errlen, "listen: a Unix socket path must have 1 to %zu bytes: \"%s\"", max, path);
        return NULL;
    }
    rio_listener_t *l = listener_new(loop, 1, tls, cbs, data, err, errlen);
    if (l == NULL) return NULL;
    char where[RIO_ERRLEN];
    snprintf(where, sizeof(where), "unix socket %s", path);
    int rc = 0;
    const char *what = "uv_pipe_bind()";
    if (unlink(path) != 0 && errno != ENOENT) {
        rc = -errno;
        what = "unlink()";
    }
    if (rc == 0) rc = uv_pipe_bind(&l->sock.pipe, path);
    return listener_start(l, rc, what, backlog, where, err, errlen);
}

int rio_listener_port(const rio_listener_t *l) {
    if (l->sock.handle.type != UV_TCP) return 0;
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    if (uv_tcp_getsockname(&l->sock.tcp, (struct sockaddr *)&ss, &n) != 0) return -1;
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
    uv_close(&l->sock.handle, on_listener_closed);
}
