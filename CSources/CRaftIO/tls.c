/*
 * TLS: OpenSSL sessions driven through BIOs on the loop thread.
 *
 * Ciphertext in: the read callback writes what the socket delivered into a memory BIO, then runs
 * the handshake or SSL_read until OpenSSL wants more. A memory BIO (rather than reading straight
 * from libuv's buffer) lets a paused connection keep undelivered records without losing them.
 *
 * Ciphertext out: a small custom BIO appends every record OpenSSL writes straight onto the
 * connection's `cipher` buffer, which the connection hands to uv_write. No second copy through a
 * memory BIO, and many records go out in one socket write.
 *
 * Failure modes: a bad or missing certificate -> the handshake fails with OpenSSL's reason (and the
 * alert we owe the peer is written before closing); with TLS 1.3 a client learns that the server
 * refused its certificate only on its first read, so that read fails with the alert's text;
 * garbage instead of a ClientHello -> "wrong version number" or "http request" on that connection.
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest TLS record payload: one SSL_write per 16 KiB of coalesced plaintext. */
#define RECORD_PLAINTEXT (16 * 1024)
#define PLAIN_BUF_SIZE (64 * 1024)

void rio__tls_error_text(const char *what, char *buf, size_t len) {
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason != NULL) snprintf(buf, len, "%s: %s", what, reason);
    else if (e != 0) snprintf(buf, len, "%s: OpenSSL error %lu", what, e);
    else snprintf(buf, len, "%s: connection closed unexpectedly", what);
    ERR_clear_error();
}

/* ---------------------------------------------------------------------------------------------- */
/* the output BIO */

static int out_write(BIO *b, const char *in, size_t n, size_t *written) {
    rio_conn_t *c = BIO_get_data(b);
    if (rio__buf_append(&c->cipher, in, n) != 0) return 0;
    *written = n;
    return 1;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int out_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *out_method;
static uv_once_t out_method_once = UV_ONCE_INIT;

static void make_out_method(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "craftio-out");
    if (m == NULL) return;
    BIO_meth_set_write_ex(m, out_write);
    BIO_meth_set_ctrl(m, out_ctrl);
    BIO_meth_set_create(m, out_create);
    out_method = m;
}

/* ---------------------------------------------------------------------------------------------- */
/* contexts */

static int load_chain(SSL_CTX *ctx, const char *pem, size_t len) {
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) return 0;
    X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
    int ok = leaf != NULL && SSL_CTX_use_certificate(ctx, leaf) == 1;
    X509_free(leaf);
    X509 *extra;
    while (ok && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            ok = 0;
        }
    }
    ERR_clear_error(); /* the end of the PEM data reads as an error */
    BIO_free(bio);
    return ok;
}

static int load_key(SSL_CTX *ctx, const char *pem, size_t len) {
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) return 0;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    int ok = key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1;
    EVP_PKEY_free(key);
    BIO_free(bio);
    return ok;
}

static int load_trust(SSL_CTX *ctx, const char *pem, size_t len, int server) {
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) return 0;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    X509 *cert;
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_STORE_add_cert(store, cert);
        /* Tell clients which CAs we accept, as Go's servers do. */
        if (server) SSL_CTX_add_client_CA(ctx, cert);
        X509_free(cert);
        count++;
    }
    ERR_clear_error();
    BIO_free(bio);
    return count > 0;
}

rio_tls_ctx_t *rio_tls_ctx_new(rio_tls_role_t role, const char *cert, size_t cert_len,
                               const char *key, size_t key_len, const char *ca, size_t ca_len,
                               int require_peer_cert, int verify_server, char *err, size_t errlen) {
    uv_once(&out_method_once, make_out_method);
    if (out_method == NULL) {
        snprintf(err, errlen, "TLS: cannot create the output BIO method");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(role == RIO_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        rio__tls_error_text("SSL_CTX_new()", err, errlen);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Peers reconnect rarely and hold connections for hours: tickets would only cost bytes. */
    if (role == RIO_TLS_SERVER) SSL_CTX_set_num_tickets(ctx, 0);
    if (cert != NULL && !load_chain(ctx, cert, cert_len)) {
        rio__tls_error_text("TLS certificate", err, errlen);
        goto fail;
    }
    if (key != NULL && !load_key(ctx, key, key_len)) {
        rio__tls_error_text("TLS private key", err, errlen);
        goto fail;
    }
    if (cert != NULL && key != NULL && SSL_CTX_check_private_key(ctx) != 1) {
        rio__tls_error_text("TLS private key does not match the certificate", err, errlen);
        goto fail;
    }
    if (ca != NULL) {
        if (!load_trust(ctx, ca, ca_len, role == RIO_TLS_SERVER)) {
            snprintf(err, errlen, "TLS trust roots: no PEM certificate found");
            goto fail;
        }
    } else if (role == RIO_TLS_CLIENT && verify_server) {
        SSL_CTX_set_default_verify_paths(ctx);
    }
    if (role == RIO_TLS_SERVER) {
        SSL_CTX_set_verify(ctx, require_peer_cert ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                  : SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, verify_server ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    }
    rio_tls_ctx_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "TLS: out of memory");
        goto fail;
    }
    t->ctx = ctx;
    t->role = role;
    return t;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void rio_tls_ctx_free(rio_tls_ctx_t *t) {
    if (t == NULL) return;
    SSL_CTX_free(t->ctx); /* sessions still open keep their own reference */
    free(t);
}

/* ---------------------------------------------------------------------------------------------- */
/* sessions */

int rio__tls_attach(rio_conn_t *c, rio_tls_ctx_t *t, int server, const char *name, char *err,
                    size_t errlen) {
    ERR_clear_error();
    c->ssl = SSL_new(t->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(out_method);
    c->pbuf = malloc(PLAIN_BUF_SIZE);
    if (c->ssl == NULL || c->rbio == NULL || wbio == NULL || c->pbuf == NULL) {
        rio__tls_error_text("SSL_new()", err, errlen);
        BIO_free(c->rbio);
        BIO_free(wbio);
        c->rbio = NULL;
        return UV_ENOMEM;
    }
    BIO_set_data(wbio, c);
    SSL_set_bio(c->ssl, c->rbio, wbio); /* the session owns both BIOs from here */
    c->tls_server = server;
    if (server) {
        SSL_set_accept_state(c->ssl);
        return 0;
    }
    SSL_set_connect_state(c->ssl);
    if (name != NULL && name[0] != '\0') {
        c->server_name = strdup(name);
        X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
        unsigned char tmp[16];
        int is_ip = uv_inet_pton(AF_INET, name, tmp) == 0 || uv_inet_pton(AF_INET6, name, tmp) == 0;
        if (is_ip) {
            X509_VERIFY_PARAM_set1_ip_asc(param, name);
        } else {
            SSL_set_tlsext_host_name(c->ssl, name);
            X509_VERIFY_PARAM_set1_host(param, name, 0);
        }
    }
    return 0;
}

void rio__tls_free(rio_conn_t *c) {
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
    c->rbio = NULL;
    free(c->pbuf);
    c->pbuf = NULL;
}

static void handshake_error(rio_conn_t *c) {
    long v = SSL_get_verify_result(c->ssl);
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK && e != 0 && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        snprintf(c->close_msg, sizeof(c->close_msg), "TLS handshake: certificate verify failed (%s)",
                 X509_verify_cert_error_string(v));
        ERR_clear_error();
    } else {
        rio__tls_error_text("TLS handshake", c->close_msg, sizeof(c->close_msg));
    }
}

int rio__tls_pump(rio_conn_t *c) {
    if (!c->handshake_done) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                rio__conn_flush(c);
                return 0;
            }
            handshake_error(c);
            return RIO_E_TLS_HANDSHAKE;
        }
        c->handshake_done = 1;
        rio__conn_flush(c);
        rio__conn_opened(c);
    }
    while (!c->paused && c->state == RIO_OPEN) {
        size_t got = 0;
        ERR_clear_error();
        if (SSL_read_ex(c->ssl, c->pbuf, PLAIN_BUF_SIZE, &got) == 1) {
            c->cbs->on_read(c, c->data, c->pbuf, got);
            continue;
        }
        int e = SSL_get_error(c->ssl, 0);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            rio__conn_deliver_eof(c);
            break;
        }
        if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) break; /* no more input yet */
        rio__tls_error_text("TLS", c->close_msg, sizeof(c->close_msg));
        return RIO_E_TLS;
    }
    if (c->cipher.len > 0) rio__conn_flush(c); /* e.g. a key update owed to the peer */
    return 0;
}

int rio__tls_feed(rio_conn_t *c, const char *bytes, size_t n) {
    if (BIO_write(c->rbio, bytes, (int)n) != (int)n) {
        snprintf(c->close_msg, sizeof(c->close_msg), "TLS: out of memory buffering input");
        return UV_ENOMEM;
    }
    return rio__tls_pump(c);
}

int rio__tls_encrypt(rio_conn_t *c, const char *bytes, size_t n) {
    while (n > 0) {
        size_t chunk = n < RECORD_PLAINTEXT ? n : RECORD_PLAINTEXT;
        size_t written = 0;
        ERR_clear_error();
        if (SSL_write_ex(c->ssl, bytes, chunk, &written) != 1) {
            rio__tls_error_text("TLS write", c->close_msg, sizeof(c->close_msg));
            return RIO_E_TLS;
        }
        bytes += written;
        n -= written;
    }
    return 0;
}

void rio__tls_close_notify(rio_conn_t *c) {
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    ERR_clear_error();
}

int rio_conn_tls_info(rio_conn_t *c, char *version, size_t vlen, char *cipher, size_t clen) {
    if (c->ssl == NULL || !c->handshake_done) return UV_EINVAL;
    snprintf(version, vlen, "%s", SSL_get_version(c->ssl));
    snprintf(cipher, clen, "%s", SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
    return 0;
}
