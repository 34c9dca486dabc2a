#include "redis_tls.h"

#include "redis_conn.h"
#include "tls_filter.h"
#include "sio/redis.h"

#include <arpa/inet.h>
#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
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
  eio_tls_filter_reason(err, n, what, file, rc);
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

/* ---- one connection: the filter, BIO and handshake plumbing is the one
 * engineio/tls_filter.c gives the server side (adapter/ may use engineio's
 * helpers, as it uses map.h); what is the client's own stays here ---- */

typedef struct client_conn {
  sio_redis_tls *ctx;
  const char *name;           /* SNI and the name checked; used only during the wrap */
  unsigned char ip[16];       /* the host, when it is an IP address */
  size_t iplen;
  char *err;
  size_t errlen;
} client_conn;

static int verify_ip(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
  client_conn *c = arg;
  if (depth == 0 && !sio_redis_tls_san_has_ip(crt->v3_ext.p, crt->v3_ext.len, c->ip, c->iplen))
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  return 0;
}

/* a DNS name: SNI and mbedtls's own name check; an address: no SNI
 * (RFC 6066) and the check of verify_ip */
static int client_setup(void *arg, mbedtls_ssl_context *ssl) {
  client_conn *c = arg;
  if (c->iplen) {
    mbedtls_ssl_set_verify(ssl, verify_ip, c);
    return 0;
  }
  return mbedtls_ssl_set_hostname(ssl, c->name);
}

/* AUTH/SELECT go out once this event has run (anything queued before has
 * gone already) */
static void client_handshake_done(void *arg, struct bufferevent *filter) {
  (void)arg;
  bufferevent_trigger_event(filter, BEV_EVENT_CONNECTED, BEV_TRIG_DEFER_CALLBACKS);
}

static void client_handshake_failed(void *arg, mbedtls_ssl_context *ssl, int rc) {
  client_conn *c = arg;
  uint32_t v = mbedtls_ssl_get_verify_result(ssl);
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
}

static void client_closed(void *arg, int rc) {
  client_conn *c = arg;
  if (!c->err[0]) fail(c->err, c->errlen, "TLS connection closed by the server", NULL, rc);
}

static void client_free(void *arg) {
  client_conn *c = arg;
  sio_redis_tls_unref(c->ctx);
  free(c);
}

/* the client speaks first: the ClientHello goes out at once */
static const eio_tls_filter_role client_role = {
    .starts_handshake = 1,
    .setup = client_setup,
    .handshake_done = client_handshake_done,
    .handshake_failed = client_handshake_failed,
    .closed = client_closed,
    .free = client_free,
};

struct bufferevent *sio_redis_tls_wrap(sio_redis_tls *t, struct bufferevent *under,
                                       const char *host, char *err, size_t errlen) {
  client_conn *c = calloc(1, sizeof *c);
  if (!c) {
    bufferevent_free(under);
    return NULL;
  }
  c->err = err;
  c->errlen = errlen;
  err[0] = 0;
  c->name = t->server_name[0] ? t->server_name : host;
  if (!t->server_name[0] && inet_pton(AF_INET, host, c->ip) == 1) c->iplen = 4;
  else if (!t->server_name[0] && inet_pton(AF_INET6, host, c->ip) == 1) c->iplen = 16;
  c->ctx = sio_redis_tls_ref(t);
  return eio_tls_filter_new(under, &t->conf, &client_role, c);
}
