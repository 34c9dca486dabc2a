#include "tls.h"

#include "tls_filter.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
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
  eio_tls_filter_reason(err, n, what, file, rc);
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

/* Atomic: a connection handed to another loop drops its reference there. */
eio_tls_ctx *eio_tls_ctx_ref(eio_tls_ctx *t) {
  __atomic_fetch_add(&t->refs, 1, __ATOMIC_RELAXED);
  return t;
}

void eio_tls_ctx_unref(eio_tls_ctx *t) {
  if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL)) return;
  mbedtls_ssl_config_free(&t->conf);
  mbedtls_x509_crt_free(&t->chain);
  mbedtls_pk_free(&t->key);
  mbedtls_ctr_drbg_free(&t->drbg);
  mbedtls_entropy_free(&t->entropy);
  free(t);
}

/* ---- one connection: the shared filter, with the config's reference as
 * the role's state ---- */

static void drop_ctx(void *arg) { eio_tls_ctx_unref(arg); }

static const eio_tls_filter_role server_role = {.free = drop_ctx};

struct bufferevent *eio_tls_wrap(eio_tls_ctx *t, struct bufferevent *under,
                                 eio_tls_state **st) {
  return eio_tls_filter_new_st(under, &t->conf, &server_role, eio_tls_ctx_ref(t), st);
}

struct bufferevent *eio_tls_adopt(eio_tls_ctx *t, eio_tls_moved *m,
                                  struct bufferevent *under) {
  return eio_tls_state_attach(m, under, &t->conf, eio_tls_ctx_ref(t));
}
