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
 * Contexts: a rio_tls_ctx_t holds the SSL_CTX new sessions start from; rio_tls_ctx_update builds a
 * fresh one (rotated certificate, CA bundle or CRL) and swaps it in under a mutex. Each session
 * holds a reference to the SSL_CTX it started from, and the checks that go with it (allowed names,
 * CRL) hang off that SSL_CTX, so a reload never changes the rules for a live connection.
 *
 * Failure modes: a bad or missing certificate -> the handshake fails with OpenSSL's reason (and the
 * alert we owe the peer is written before closing); a revoked serial or a leaf outside the allowed
 * CNs / host names -> verify_cb refuses with etcd's text ("transport: certificate serial 1f
 * revoked", "client certificate authentication failed") and the matching alert; with TLS 1.3 a
 * client learns that the server refused its certificate only on its first read, so that read fails
 * with the alert's text; garbage instead of a ClientHello -> "wrong version number" or "http
 * request" on that connection. A rebuild that fails (half-written file) leaves the old context.
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Go's x509.ParseCRL takes PEM or DER; so do we. */
static X509_CRL *load_crl(const char *bytes, size_t len) {
    BIO *bio = BIO_new_mem_buf(bytes, (int)len);
    if (bio == NULL) return NULL;
    X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    if (crl == NULL) {
        BIO_free(bio);
        bio = BIO_new_mem_buf(bytes, (int)len);
        if (bio == NULL) return NULL;
        crl = d2i_X509_CRL_bio(bio, NULL);
    }
    BIO_free(bio);
    return crl;
}

/* ---------------------------------------------------------------------------------------------- */
/* checks beyond the chain, run by OpenSSL's verify callback */

/* Kept with each SSL_CTX (ex_data) rather than with rio_tls_ctx_t: a session started before a
 * reload keeps checking against the configuration it started with, and the data lives exactly as
 * long as the last session that uses it. */
typedef struct {
    char *allowed;          /* comma-separated CNs or host names; NULL: no restriction */
    int allowed_are_hosts;
    X509_CRL *crl;
} checks_t;

static int checks_index = -1;
static uv_once_t checks_index_once = UV_ONCE_INIT;

static void free_checks(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    checks_t *k = ptr;
    if (k == NULL) return;
    free(k->allowed);
    X509_CRL_free(k->crl);
    free(k);
}

static void make_checks_index(void) {
    checks_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_checks);
}

static void serial_hex(const X509 *cert, char *out, size_t len) {
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    const unsigned char *p = ASN1_STRING_get0_data(serial);
    int n = ASN1_STRING_length(serial);
    size_t used = 0;
    int i = 0;
    while (i < n - 1 && p[i] == 0) i++; /* Go's big.Int.Bytes(): no leading zeros */
    out[0] = '\0';
    for (; i < n && used + 3 <= len; i++) used += (size_t)snprintf(out + used, len - used, "%02x", p[i]);
}

/* Takes the next entry of the comma-separated `*list` (NULL: none) and moves `*list` past it and
 * its comma; returns 0 once the list is used up. `*n` is the entry's length; it is copied into
 * `name` NUL-terminated when it fits (*n < len), otherwise `name` is left empty. */
static int next_entry(const char **list, char *name, size_t len, size_t *n) {
    if (*list == NULL || **list == '\0') return 0;
    const char *comma = strchr(*list, ',');
    *n = comma ? (size_t)(comma - *list) : strlen(*list);
    if (*n < len) {
        memcpy(name, *list, *n);
        name[*n] = '\0';
    } else {
        name[0] = '\0';
    }
    *list = comma ? comma + 1 : *list + *n;
    return 1;
}

/* Whether `name` is an IPv4 or IPv6 literal rather than a DNS name. */
static int is_ip_literal(const char *name) {
    unsigned char ip[16];
    return uv_inet_pton(AF_INET, name, ip) == 0 || uv_inet_pton(AF_INET6, name, ip) == 0;
}

/* Whether `cert` matches one entry of the comma-separated list. */
static int allowed(const checks_t *k, X509 *cert) {
    char cn[256];
    int cn_len = -1;
    if (!k->allowed_are_hosts)
        cn_len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
    const char *p = k->allowed;
    char name[256];
    size_t n;
    while (next_entry(&p, name, sizeof(name), &n)) {
        if (n >= sizeof(name)) continue; /* longer than any name or CN we compare: matches nothing */
        if (k->allowed_are_hosts) {
            if (n > 0 && (is_ip_literal(name) ? X509_check_ip_asc(cert, name, 0) == 1
                                              : X509_check_host(cert, name, n, 0, NULL) == 1))
                return 1;
        } else if (cn_len >= 0 && (size_t)cn_len == n && memcmp(cn, name, n) == 0) {
            return 1;
        }
    }
    ERR_clear_error();
    return 0;
}

static int refuse(X509_STORE_CTX *store, rio_conn_t *c, int code, const char *msg) {
    X509_STORE_CTX_set_error(store, code);
    if (c != NULL) {
        snprintf(c->close_msg, sizeof(c->close_msg), "TLS handshake: %s", msg);
        c->verify_msg_set = 1;
    }
    return 0;
}

static int verify_cb(int ok, X509_STORE_CTX *store) {
    if (!ok) return 0;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    if (ssl == NULL || SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE) return 1; /* auto TLS: check nothing */
    const checks_t *k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), checks_index);
    rio_conn_t *c = SSL_get_app_data(ssl);
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    if (k == NULL || cert == NULL) return 1;
    /* Called once per certificate of the chain, root first: every one is checked against the CRL. */
    if (k->crl != NULL) {
        X509_REVOKED *entry = NULL;
        if (X509_CRL_get0_by_serial(k->crl, &entry, X509_get0_serialNumber(cert)) == 1) {
            char hex[80], msg[128];
            serial_hex(cert, hex, sizeof(hex));
            snprintf(msg, sizeof(msg), "transport: certificate serial %s revoked", hex);
            return refuse(store, c, X509_V_ERR_CERT_REVOKED, msg);
        }
    }
    if (X509_STORE_CTX_get_error_depth(store) == 0 && k->allowed != NULL && !allowed(k, cert))
        return refuse(store, c, X509_V_ERR_CERT_REJECTED, "client certificate authentication failed");
    return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* contexts */

static SSL_CTX *build(const rio_tls_options_t *o, char *err, size_t errlen) {
    int server = o->role == RIO_TLS_SERVER;
    int has_cns = o->allowed_cns != NULL && o->allowed_cns[0] != '\0';
    int has_hosts = o->allowed_hostnames != NULL && o->allowed_hostnames[0] != '\0';
    if (has_cns && has_hosts) {
        snprintf(err, errlen, "AllowedCN and AllowedHostname are mutually exclusive (cn=\"%s\", hostname=\"%s\")",
                 o->allowed_cns, o->allowed_hostnames);
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    checks_t *k = calloc(1, sizeof(*k));
    if (ctx == NULL || k == NULL || checks_index < 0 || SSL_CTX_set_ex_data(ctx, checks_index, k) != 1) {
        rio__tls_error_text("SSL_CTX_new()", err, errlen);
        SSL_CTX_free(ctx);
        free(k);
        return NULL;
    }
    /* From here `k` belongs to ctx (freed with it by free_checks). */
    if (SSL_CTX_set_min_proto_version(ctx, o->min_version ? o->min_version : TLS1_2_VERSION) != 1 ||
        (o->max_version && SSL_CTX_set_max_proto_version(ctx, o->max_version) != 1)) {
        snprintf(err, errlen, "TLS: unsupported protocol version bounds (0x%04x, 0x%04x)", o->min_version, o->max_version);
        goto fail;
    }
    if (o->cipher_list != NULL && o->cipher_list[0] != '\0' && SSL_CTX_set_cipher_list(ctx, o->cipher_list) != 1) {
        rio__tls_error_text("TLS cipher suites", err, errlen);
        goto fail;
    }
    /* Peers reconnect rarely and hold connections for hours: tickets would only cost bytes. */
    if (server) SSL_CTX_set_num_tickets(ctx, 0);
    if (o->cert != NULL && !load_chain(ctx, o->cert, o->cert_len)) {
        rio__tls_error_text("TLS certificate", err, errlen);
        goto fail;
    }
    if (o->key != NULL && !load_key(ctx, o->key, o->key_len)) {
        rio__tls_error_text("TLS private key", err, errlen);
        goto fail;
    }
    if (o->cert != NULL && o->key != NULL && SSL_CTX_check_private_key(ctx) != 1) {
        rio__tls_error_text("TLS private key does not match the certificate", err, errlen);
        goto fail;
    }
    if (o->ca != NULL) {
        if (!load_trust(ctx, o->ca, o->ca_len, server)) {
            snprintf(err, errlen, "TLS trust roots: no PEM certificate found");
            goto fail;
        }
    } else if (!server && o->verify_peer) {
        SSL_CTX_set_default_verify_paths(ctx);
    }
    if (o->crl != NULL && (k->crl = load_crl(o->crl, o->crl_len)) == NULL) {
        rio__tls_error_text("TLS CRL", err, errlen);
        goto fail;
    }
    if (has_cns || has_hosts) {
        k->allowed = strdup(has_cns ? o->allowed_cns : o->allowed_hostnames);
        k->allowed_are_hosts = has_hosts;
        if (k->allowed == NULL) {
            snprintf(err, errlen, "TLS: out of memory");
            goto fail;
        }
    }
    int mode = SSL_VERIFY_NONE;
    if (server && o->require_peer_cert) mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    if (!server && o->verify_peer) mode = SSL_VERIFY_PEER;
    SSL_CTX_set_verify(ctx, mode, verify_cb);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

rio_tls_ctx_t *rio_tls_ctx_new(const rio_tls_options_t *o, char *err, size_t errlen) {
    uv_once(&out_method_once, make_out_method);
    uv_once(&checks_index_once, make_checks_index);
    if (out_method == NULL) {
        snprintf(err, errlen, "TLS: cannot create the output BIO method");
        return NULL;
    }
    SSL_CTX *ctx = build(o, err, errlen);
    if (ctx == NULL) return NULL;
    rio_tls_ctx_t *t = calloc(1, sizeof(*t));
    if (t == NULL || uv_mutex_init(&t->mu) != 0) {
        snprintf(err, errlen, "TLS: out of memory");
        free(t);
        SSL_CTX_free(ctx);
        return NULL;
    }
    t->ctx = ctx;
    t->role = o->role;
    return t;
}

int rio_tls_ctx_update(rio_tls_ctx_t *t, const rio_tls_options_t *o, char *err, size_t errlen) {
    if (o->role != t->role) {
        snprintf(err, errlen, "TLS: a context cannot change its role");
        return UV_EINVAL;
    }
    SSL_CTX *fresh = build(o, err, errlen);
    if (fresh == NULL) return RIO_E_TLS_CONFIG;
    uv_mutex_lock(&t->mu);
    SSL_CTX *old = t->ctx;
    t->ctx = fresh;
    uv_mutex_unlock(&t->mu);
    SSL_CTX_free(old); /* sessions started from it hold their own reference */
    return 0;
}

void rio_tls_ctx_free(rio_tls_ctx_t *t) {
    if (t == NULL) return;
    SSL_CTX_free(t->ctx); /* sessions still open keep their own reference */
    uv_mutex_destroy(&t->mu);
    free(t);
}

/* ---------------------------------------------------------------------------------------------- */
/* auto TLS */

static int add_ext(X509 *x, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    int ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* UNTESTED: the failure paths (unwritable directory, OpenSSL failing to make the key). */
int rio_tls_write_self_signed(const char *cert_path, const char *key_path, const char *hosts, char *err,
                              size_t errlen) {
    ERR_clear_error();
    /* "IP:a,DNS:b,..." from the host list */
    char san[2048] = "";
    size_t used = 0;
    const char *p = hosts;
    char name[256];
    size_t n;
    while (next_entry(&p, name, sizeof(name), &n)) {
        if (n == 0 || n >= sizeof(name)) continue;
        used += (size_t)snprintf(san + used, sizeof(san) - used, "%s%s:%s", used ? "," : "",
                                 is_ip_literal(name) ? "IP" : "DNS", name);
        if (used >= sizeof(san)) {
            snprintf(err, errlen, "auto TLS: too many hosts");
            return UV_EINVAL;
        }
    }
    int rc = RIO_E_TLS_CONFIG;
    EVP_PKEY *key = EVP_EC_gen("P-521");
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    FILE *cf = NULL, *kf = NULL;
    int fd = -1;
    if (key == NULL || x == NULL || serial == NULL || X509_set_version(x, 2) != 1 ||
        BN_rand(serial, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL ||
        X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) == NULL || X509_set_pubkey(x, key) != 1 ||
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC, (const unsigned char *)"etcd", -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
        !add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        !add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") ||
        (san[0] != '\0' && !add_ext(x, NID_subject_alt_name, san)) || X509_sign(x, key, EVP_sha512()) == 0) {
        rio__tls_error_text("auto TLS: making the certificate", err, errlen);
        goto done;
    }
    cf = fopen(cert_path, "w");
    fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    kf = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (cf == NULL || kf == NULL) {
        snprintf(err, errlen, "auto TLS: cannot write %s: %s", cf == NULL ? cert_path : key_path, strerror(errno));
        rc = -errno;
        goto done;
    }
    fd = -1; /* kf owns it */
    if (PEM_write_X509(cf, x) != 1 || PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) != 1) {
        rio__tls_error_text("auto TLS: writing PEM", err, errlen);
        goto done;
    }
    rc = 0;
done:
    if (cf != NULL && fclose(cf) != 0 && rc == 0) rc = UV_EIO;
    if (kf != NULL && fclose(kf) != 0 && rc == 0) rc = UV_EIO;
    if (fd >= 0) close(fd);
    if (rc == UV_EIO) snprintf(err, errlen, "auto TLS: cannot write the certificate or key");
    BN_free(serial);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* ---------------------------------------------------------------------------------------------- */
/* sessions */

int rio__tls_attach(rio_conn_t *c, rio_tls_ctx_t *t, int server, const char *name, char *err,
                    size_t errlen) {
    ERR_clear_error();
    uv_mutex_lock(&t->mu);
    c->ssl = SSL_new(t->ctx); /* takes its own reference: a later rio_tls_ctx_update leaves it be */
    uv_mutex_unlock(&t->mu);
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
    SSL_set_app_data(c->ssl, c); /* for verify_cb's messages */
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
        if (is_ip_literal(name)) {
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
    if (c->verify_msg_set) { /* verify_cb wrote etcd's text already */
        ERR_clear_error();
        return;
    }
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

static void append_list(char *out, size_t len, const char *item, size_t n) {
    size_t used = strlen(out);
    if (used + (used ? 1 : 0) + n + 1 > len) return; /* truncated: keep whole entries only */
    if (used) out[used++] = ',';
    memcpy(out + used, item, n);
    out[used + n] = '\0';
}

int rio_conn_peer_cert(rio_conn_t *c, rio_peer_cert_t *out) {
    memset(out, 0, sizeof(*out));
    X509 *x = c->ssl != NULL && c->handshake_done ? SSL_get0_peer_certificate(c->ssl) : NULL;
    if (x == NULL) return UV_ENOENT;
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out->common_name,
                                  sizeof(out->common_name)) < 0)
        out->common_name[0] = '\0';
    serial_hex(x, out->serial, sizeof(out->serial));
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            append_list(out->dns_sans, sizeof(out->dns_sans), (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                        (size_t)ASN1_STRING_length(g->d.dNSName));
        } else if (g->type == GEN_IPADD) {
            char ip[64];
            int n = ASN1_STRING_length(g->d.iPAddress);
            int af = n == 4 ? AF_INET : n == 16 ? AF_INET6 : 0;
            if (af && uv_inet_ntop(af, ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip)) == 0)
                append_list(out->ip_sans, sizeof(out->ip_sans), ip, strlen(ip));
        }
    }
    GENERAL_NAMES_free(names);
    ERR_clear_error();
    return 0;
}
