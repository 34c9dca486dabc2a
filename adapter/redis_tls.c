#include "redis_tls.h"

#include "redis_conn.h"
#include "sio/redis.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

struct sio_redis_tls {
  unsigned refs;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca;
  mbedtls_x509_crt own;
  mbedtls_pk_context key;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  char server_name[256];
};

static void fail(char *err, size_t n, const char *what, const char *file, int rc) {
  char m[160] = "";
  if (rc) mbedtls_strerror(rc, m, sizeof m);
  snprintf(err, n, "%s%s%s%s%s", what, file ? " " : "", file ? file : "", rc ? ": " : "", m);
}

sio_redis_tls *sio_redis_tls_new(const char *ca_file, const char *cert_file,
                                 const char *key_file, const char *key_password,
                                 const char *server_name, char *err, size_t errlen) {
  if (!cert_file != !key_file) {
    fail(err, errlen, "a client certificate needs both tls_cert_file and tls_key_file", NULL, 0);
    return NULL;
  }
  if (server_name && strlen(server_name) >= sizeof ((sio_redis_tls *)0)->server_name) {
    fail(err, errlen, "tls_server_name is too long", NULL, 0);
    return NULL;
  }
  sio_redis_tls *t = calloc(1, sizeof *t);
  if (!t) {
    fail(err, errlen, "out of memory", NULL, 0);
    return NULL;
  }
  t->refs = 1;
  if (server_name) snprintf(t->server_name, sizeof t->server_name, "%s", server_name);
  mbedtls_ssl_config_init(&t->conf);
  mbedtls_x509_crt_init(&t->ca);
  mbedtls_x509_crt_init(&t->own);
  mbedtls_pk_init(&t->key);
  mbedtls_entropy_init(&t->entropy);
  mbedtls_ctr_drbg_init(&t->drbg);
  int rc;
  const char *ca = ca_file ? ca_file : SYSTEM_CA_FILE;
  if ((rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                  (const unsigned char *)"libsio-redis", 12))) {
    fail(err, errlen, "cannot seed the random generator", NULL, rc);
    goto bad;
  }
  /* parse_file returns > 0 when some certificates of a bundle were
   * skipped; only "none at all" is an error */
  if ((rc = mbedtls_x509_crt_parse_file(&t->ca, ca)) < 0 || !t->ca.version) {
    fail(err, errlen, "cannot load the CA file", ca, rc < 0 ? rc : 0);
    goto bad;
  }
  if (cert_file) {
    if ((rc = mbedtls_x509_crt_parse_file(&t->own, cert_file))) {
      fail(err, errlen, "cannot load the client certificate", cert_file, rc);
      goto bad;
    }
    if ((rc = mbedtls_pk_parse_keyfile(&t->key, key_file, key_password))) {
      fail(err, errlen, "cannot load the client key", key_file, rc);
      goto bad;
    }
    if (mbedtls_pk_check_pair(&t->own.pk, &t->key)) {
      fail(err, errlen, "the client key does not match the certificate", cert_file, 0);
      goto bad;
    }
  }
  if ((rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT,
                                        MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT)) ||
      (cert_file && (rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->own, &t->key)))) {
    fail(err, errlen, "cannot configure TLS", NULL, rc);
    goto bad;
  }
  mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
  mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
  mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  return t;
bad:
  sio_redis_tls_unref(t);
  return NULL;
}

sio_redis_tls *sio_redis_tls_ref(sio_redis_tls *t) {
  t->refs++;
  return t;
}

void sio_redis_tls_unref(sio_redis_tls *t) {
  if (!t || --t->refs) return;
  mbedtls_ssl_config_free(&t->conf);
  mbedtls_x509_crt_free(&t->ca);
  mbedtls_x509_crt_free(&t->own);
  mbedtls_pk_free(&t->key);
  mbedtls_ctr_drbg_free(&t->drbg);
  mbedtls_entropy_free(&t->entropy);
  free(t);
}

int sio_redis_tls_setup(struct sio_redis_url *url, const struct sio_redis_options *o,
                        char *err, size_t errlen) {
  url->on_error = o->on_error;
  url->error_user_data = o->user_data;
  url->tls_ctx = NULL;
  if (!url->tls && !o->tls_ca_file && !o->tls_cert_file && !o->tls_key_file &&
      !o->tls_server_name)
    return 0;
  url->tls = 1;
  url->tls_ctx = sio_redis_tls_new(o->tls_ca_file, o->tls_cert_file, o->tls_key_file,
                                   o->tls_key_password, o->tls_server_name, err, errlen);
  return url->tls_ctx ? 0 : -1;
}

/* ---- the IP address check mbedtls 2.28 lacks ---- */

int sio_redis_tls_san_has_ip(const unsigned char *ext, size_t ext_len, const unsigned char *ip,
                             size_t iplen) {
  unsigned char *p = (unsigned char *)ext;
  if (!p) return 0;
  const unsigned char *end = p + ext_len;
  size_t len;
  if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
    return 0;
  end = p + len;
  while (p < end) {
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
      return 0;
    const unsigned char *ext_end = p + len;
    mbedtls_asn1_buf oid;
    if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID)) return 0;
    oid.p = p;
    p += oid.len;
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid)) {
      p = (unsigned char *)ext_end;
      continue;
    }
    int critical;
    if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, ext_end, &critical))
      return 0;
    if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING)) return 0;
    if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
      return 0;
    const unsigned char *names_end = p + len;
    while (p < names_end) {
      unsigned char tag = *p++;
      if (mbedtls_asn1_get_len(&p, names_end, &len)) return 0;
      if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && len == iplen && !memcmp(p, ip, len))
        return 1;
      p += len;
    }
    return 0;
  }
  return 0;
}

/* ---- one connection ---- */

typedef struct tls_conn {
  sio_redis_tls *ctx;
  mbedtls_ssl_context ssl;
  struct bufferevent *under;
  struct bufferevent *filter;
  struct evbuffer *in;        /* the socket's input, during a read */
  unsigned char ip[16];       /* the host, when it is an IP address */
  size_t iplen;
  char *err;
  size_t errlen;
  int handshaken;
  int failed;
} tls_conn;

static int verify_ip(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
  tls_conn *c = arg;
  if (depth == 0 && !sio_redis_tls_san_has_ip(crt->v3_ext.p, crt->v3_ext.len, c->ip, c->iplen))
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  return 0;
}

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
  sio_redis_tls_unref(c->ctx);
  free(c);
}

/* libevent 2.1 does not pass a filter's BEV_ERROR to the event callback:
 * report it, deferred, so the connection drops at once. */
static enum bufferevent_filter_result failed(tls_conn *c) {
  c->failed = 1;
  bufferevent_trigger_event(c->filter, BEV_EVENT_ERROR | BEV_EVENT_READING,
                            BEV_TRIG_DEFER_CALLBACKS);
  return BEV_ERROR;
}

/* 0 done, 1 in progress, -1 failed (reason in c->err). */
static int handshake(tls_conn *c) {
  if (c->handshaken) return 0;
  int rc = mbedtls_ssl_handshake(&c->ssl);
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 1;
  if (rc == 0) {
    c->handshaken = 1;
    /* AUTH/SELECT go out once the event below has run; anything queued
     * before goes now */
    if (evbuffer_get_length(bufferevent_get_output(c->filter)))
      bufferevent_flush(c->filter, EV_WRITE, BEV_NORMAL);
    bufferevent_trigger_event(c->filter, BEV_EVENT_CONNECTED, BEV_TRIG_DEFER_CALLBACKS);
    return 0;
  }
  uint32_t v = mbedtls_ssl_get_verify_result(&c->ssl);
  if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && v && v != (uint32_t)-1) {
    char info[256];
    mbedtls_x509_crt_verify_info(info, sizeof info, "", v);
    size_t n = strlen(info);
    while (n && (info[n - 1] == '\n' || info[n - 1] == ' ')) info[--n] = 0;
    for (char *q = info; *q; q++)
      if (*q == '\n') *q = ';';
    snprintf(c->err, c->errlen, "TLS: certificate verification failed: %s", info);
  } else {
    fail(c->err, c->errlen, "TLS handshake failed", NULL, rc);
  }
  return -1;
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
    if (!c->err[0]) fail(c->err, c->errlen, "TLS connection closed by the server", NULL, n);
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
  if (!c->handshaken) return BEV_NEED_MORE;
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

struct bufferevent *sio_redis_tls_wrap(sio_redis_tls *t, struct bufferevent *under,
                                       const char *host, char *err, size_t errlen) {
  tls_conn *c = calloc(1, sizeof *c);
  if (!c) {
    bufferevent_free(under);
    return NULL;
  }
  c->err = err;
  c->errlen = errlen;
  err[0] = 0;
  mbedtls_ssl_init(&c->ssl);
  const char *name = t->server_name[0] ? t->server_name : host;
  if (!t->server_name[0] && inet_pton(AF_INET, host, c->ip) == 1) c->iplen = 4;
  else if (!t->server_name[0] && inet_pton(AF_INET6, host, c->ip) == 1) c->iplen = 16;
  /* a DNS name: SNI and mbedtls's own name check; an address: no SNI
   * (RFC 6066) and the check of verify_ip */
  if (mbedtls_ssl_setup(&c->ssl, &t->conf) != 0 ||
      (!c->iplen && mbedtls_ssl_set_hostname(&c->ssl, name) != 0)) {
    mbedtls_ssl_free(&c->ssl);
    free(c);
    bufferevent_free(under);
    return NULL;
  }
  if (c->iplen) mbedtls_ssl_set_verify(&c->ssl, verify_ip, c);
  c->ctx = sio_redis_tls_ref(t);
  c->under = under;
  mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
  c->filter = bufferevent_filter_new(under, input_filter, output_filter,
                                     BEV_OPT_CLOSE_ON_FREE, free_conn, c);
  if (!c->filter) {
    free_conn(c);
    bufferevent_free(under);
    return NULL;
  }
  /* the client speaks first: the ClientHello goes out now */
  if (handshake(c) < 0) failed(c);
  return c->filter;
}
