#include "tls.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct eio_tls_ctx {
  unsigned refs;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt chain;
  mbedtls_pk_context key;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
};

static const char *alpn[] = {"http/1.1", NULL};

static void fail(char *err, size_t n, const char *what, const char *file, int rc) {
  char m[160] = "";
  if (rc) mbedtls_strerror(rc, m, sizeof m);
  snprintf(err, n, "%s%s%s%s%s", what, file ? " " : "", file ? file : "",
           rc ? ": " : "", m);
}

eio_tls_ctx *eio_tls_ctx_new(const eio_tls_options *o, char *err, size_t errlen) {
  if (!o || !o->cert_file || !o->key_file) {
    fail(err, errlen, "TLS needs a certificate file and a key file", NULL, 0);
    return NULL;
  }
  if (o->min_version && o->min_version != 12) {
    fail(err, errlen,
         o->min_version == 13 ? "TLS 1.3 is not available with mbedtls 2.28"
                              : "minimum TLS version must be 12 (TLS 1.2)",
         NULL, 0);
    return NULL;
  }
  eio_tls_ctx *t = calloc(1, sizeof *t);
  if (!t) {
    fail(err, errlen, "out of memory", NULL, 0);
    return NULL;
  }
  t->refs = 1;
  mbedtls_ssl_config_init(&t->conf);
  mbedtls_x509_crt_init(&t->chain);
  mbedtls_pk_init(&t->key);
  mbedtls_entropy_init(&t->entropy);
  mbedtls_ctr_drbg_init(&t->drbg);
  int rc;
  if ((rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                  (const unsigned char *)"libsio", 6))) {
    fail(err, errlen, "cannot seed the random generator", NULL, rc);
    goto bad;
  }
  if ((rc = mbedtls_x509_crt_parse_file(&t->chain, o->cert_file))) {
    fail(err, errlen, "cannot load the certificate", o->cert_file, rc);
    goto bad;
  }
  if ((rc = mbedtls_pk_parse_keyfile(&t->key, o->key_file, o->key_password))) {
    fail(err, errlen, "cannot load the private key", o->key_file, rc);
    goto bad;
  }
  if ((rc = mbedtls_pk_check_pair(&t->chain.pk, &t->key))) {
    fail(err, errlen, "the private key does not match the certificate", o->cert_file, 0);
    goto bad;
  }
  if (mbedtls_x509_time_is_past(&t->chain.valid_to)) {
    fail(err, errlen, "the certificate has expired:", o->cert_file, 0);
    goto bad;
  }
  if (mbedtls_x509_time_is_future(&t->chain.valid_from)) {
    fail(err, errlen, "the certificate is not valid yet:", o->cert_file, 0);
    goto bad;
  }
  if ((rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
                                        MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT)) ||
      (rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->chain, &t->key)) ||
      (rc = mbedtls_ssl_conf_alpn_protocols(&t->conf, alpn))) {
    fail(err, errlen, "cannot configure TLS", NULL, rc);
    goto bad;
  }
  mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
  mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  return t;
bad:
  eio_tls_ctx_unref(t);
  return NULL;
}

eio_tls_ctx *eio_tls_ctx_ref(eio_tls_ctx *t) {
  t->refs++;
  return t;
}

void eio_tls_ctx_unref(eio_tls_ctx *t) {
  if (!t || --t->refs) return;
  mbedtls_ssl_config_free(&t->conf);
  mbedtls_x509_crt_free(&t->chain);
  mbedtls_pk_free(&t->key);
  mbedtls_ctr_drbg_free(&t->drbg);
  mbedtls_entropy_free(&t->entropy);
  free(t);
}

/* ---- one connection ---- */

typedef struct tls_conn {
  eio_tls_ctx *ctx;      /* the config this connection started with */
  mbedtls_ssl_context ssl;
  struct bufferevent *under;
  struct bufferevent *filter;
  struct evbuffer *in;   /* the socket's input, during a read */
  int handshaken;
  int failed;
} tls_conn;

static int bio_send(void *arg, const unsigned char *buf, size_t len) {
  tls_conn *c = arg;
  if (evbuffer_add(bufferevent_get_output(c->under), buf, len) != 0)
    return MBEDTLS_ERR_SSL_ALLOC_FAILED;
  return (int)len;
}

static int bio_recv(void *arg, unsigned char *buf, size_t len) {
  tls_conn *c = arg;
  struct evbuffer *in = c->in ? c->in : bufferevent_get_input(c->under);
  int n = evbuffer_remove(in, buf, len);
  if (n <= 0) return MBEDTLS_ERR_SSL_WANT_READ;
  return n;
}

static void free_conn(void *arg) {
  tls_conn *c = arg;
  mbedtls_ssl_free(&c->ssl);
  eio_tls_ctx_unref(c->ctx);
  free(c);
}

static int handshake(tls_conn *c) {
  if (c->handshaken) return 0;
  int rc = mbedtls_ssl_handshake(&c->ssl);
  if (rc == 0) {
    c->handshaken = 1;
    /* Plaintext queued before the handshake ended (a server rarely has
     * any: it speaks after the request) goes through the filter now. */
    if (evbuffer_get_length(bufferevent_get_output(c->filter)))
      bufferevent_flush(c->filter, EV_WRITE, BEV_NORMAL);
    return 0;
  }
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 1;
  c->failed = 1; /* not TLS, bad ClientHello, no shared cipher, ... */
  return -1;
}

/* libevent 2.1 does not report a BEV_ERROR from a filter to the
 * bufferevent's event callback: do it, deferred, so the connection closes
 * at once (not at its request timeout) when the peer does not speak TLS or
 * sends close_notify. */
static enum bufferevent_filter_result failed(tls_conn *c) {
  c->failed = 1;
  bufferevent_trigger_event(c->filter, BEV_EVENT_ERROR | BEV_EVENT_READING,
                            BEV_TRIG_DEFER_CALLBACKS);
  return BEV_ERROR;
}

static enum bufferevent_filter_result
input_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
             enum bufferevent_flush_mode mode, void *arg) {
  (void)limit;
  (void)mode;
  tls_conn *c = arg;
  if (c->failed) return BEV_ERROR;
  c->in = src;
  int h = handshake(c);
  if (h != 0) {
    c->in = NULL;
    return h < 0 ? failed(c) : BEV_NEED_MORE;
  }
  int produced = 0;
  for (;;) {
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(dst, 16384, &v, 1) < 1) {
      c->in = NULL;
      return BEV_ERROR;
    }
    int n = mbedtls_ssl_read(&c->ssl, v.iov_base, v.iov_len);
    if (n > 0) {
      v.iov_len = (size_t)n;
      evbuffer_commit_space(dst, &v, 1);
      produced = 1;
      continue;
    }
    v.iov_len = 0;
    evbuffer_commit_space(dst, &v, 0);
    c->in = NULL;
    if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
      return produced ? BEV_OK : BEV_NEED_MORE;
    /* close_notify or a fatal alert: the peer is done */
    if (produced) {
      failed(c);
      return BEV_OK;
    }
    return failed(c);
  }
}

static enum bufferevent_filter_result
output_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
              enum bufferevent_flush_mode mode, void *arg) {
  (void)dst; /* records go to the socket's output through bio_send */
  (void)limit;
  (void)mode;
  tls_conn *c = arg;
  if (c->failed) return BEV_ERROR;
  if (!c->handshaken) return BEV_NEED_MORE; /* kept until it is done */
  while (evbuffer_get_length(src)) {
    struct evbuffer_iovec v[8];
    int nv = evbuffer_peek(src, -1, NULL, v, 8);
    size_t done = 0;
    for (int i = 0; i < nv && i < 8; i++) {
      size_t off = 0;
      while (off < v[i].iov_len) {
        int n = mbedtls_ssl_write(&c->ssl, (const unsigned char *)v[i].iov_base + off,
                                  v[i].iov_len - off);
        if (n < 0) {
          evbuffer_drain(src, done);
          if (n == MBEDTLS_ERR_SSL_WANT_WRITE || n == MBEDTLS_ERR_SSL_WANT_READ)
            return BEV_NEED_MORE;
          c->failed = 1;
          return BEV_ERROR;
        }
        off += (size_t)n;
        done += (size_t)n;
      }
    }
    evbuffer_drain(src, done);
  }
  return BEV_OK;
}

struct bufferevent *eio_tls_wrap(eio_tls_ctx *t, struct bufferevent *under) {
  tls_conn *c = calloc(1, sizeof *c);
  if (!c) {
    bufferevent_free(under);
    return NULL;
  }
  mbedtls_ssl_init(&c->ssl);
  if (mbedtls_ssl_setup(&c->ssl, &t->conf) != 0) {
    mbedtls_ssl_free(&c->ssl);
    free(c);
    bufferevent_free(under);
    return NULL;
  }
  c->ctx = eio_tls_ctx_ref(t);
  c->under = under;
  mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
  c->filter = bufferevent_filter_new(under, input_filter, output_filter,
                                     BEV_OPT_CLOSE_ON_FREE, free_conn, c);
  if (!c->filter) {
    free_conn(c);
    bufferevent_free(under);
    return NULL;
  }
  return c->filter;
}
