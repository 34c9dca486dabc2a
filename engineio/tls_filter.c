#include "tls_filter.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <mbedtls/error.h>
#include <stdio.h>
#include <stdlib.h>

void eio_tls_filter_reason(char *err, size_t n, const char *what, const char *file, int rc) {
  char m[160] = "";
  if (rc) mbedtls_strerror(rc, m, sizeof m);
  snprintf(err, n, "%s%s%s%s%s", what, file ? " " : "", file ? file : "", rc ? ": " : "", m);
}

typedef struct tls_conn {
  const eio_tls_filter_role *role;
  void *arg; /* the role's state, freed with the connection */
  mbedtls_ssl_context *ssl; /* NULL once handed to another loop */
  struct bufferevent *under;
  struct bufferevent *filter;
  struct evbuffer *in; /* the socket's input, during a read */
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
  if (c->ssl) {
    mbedtls_ssl_free(c->ssl);
    free(c->ssl);
    if (c->role->free) c->role->free(c->arg);
  }
  free(c);
}

/* 0 done, 1 in progress, -1 failed (the role has been told why). */
static int handshake(tls_conn *c) {
  if (c->handshaken) return 0;
  int rc = mbedtls_ssl_handshake(c->ssl);
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 1;
  if (rc == 0) {
    c->handshaken = 1;
    /* Plaintext queued before the handshake ended (a server rarely has
     * any: it speaks after the request) goes through the filter now. */
    if (evbuffer_get_length(bufferevent_get_output(c->filter)))
      bufferevent_flush(c->filter, EV_WRITE, BEV_NORMAL);
    if (c->role->handshake_done) c->role->handshake_done(c->arg, c->filter);
    return 0;
  }
  c->failed = 1;
  if (c->role->handshake_failed) c->role->handshake_failed(c->arg, c->ssl, rc);
  return -1;
}

/* libevent 2.1 does not report a BEV_ERROR from a filter to the
 * bufferevent's event callback: do it, deferred, so the connection closes
 * at once (not at some timeout) when the peer does not speak TLS or
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
    int n = mbedtls_ssl_read(c->ssl, v.iov_base, v.iov_len);
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
    /* close_notify or a fatal alert: the peer is done; what was decrypted
     * before it still goes up */
    if (c->role->closed) c->role->closed(c->arg, n);
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
        int n = mbedtls_ssl_write(c->ssl, (const unsigned char *)v[i].iov_base + off,
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

struct bufferevent *eio_tls_filter_new(struct bufferevent *under, const mbedtls_ssl_config *conf,
                                       const eio_tls_filter_role *role, void *arg) {
  return eio_tls_filter_new_st(under, conf, role, arg, NULL);
}

/* Puts c's session over under (for a new connection and for one handed
 * over alike): the mbedtls BIO and the filter bufferevent, c->filter, which
 * owns under and c from then on. 0, or -1 with c and under freed. */
static int filter_on(tls_conn *c, struct bufferevent *under) {
  mbedtls_ssl_set_bio(c->ssl, c, bio_send, bio_recv, NULL);
  c->filter = bufferevent_filter_new(under, input_filter, output_filter, BEV_OPT_CLOSE_ON_FREE,
                                     free_conn, c);
  if (!c->filter) {
    free_conn(c);
    bufferevent_free(under);
    return -1;
  }
  return 0;
}

struct bufferevent *eio_tls_filter_new_st(struct bufferevent *under,
                                          const mbedtls_ssl_config *conf,
                                          const eio_tls_filter_role *role, void *arg,
                                          eio_tls_state **st) {
  tls_conn *c = calloc(1, sizeof *c);
  if (c) c->ssl = malloc(sizeof *c->ssl);
  if (!c || !c->ssl) {
    if (c) free(c);
    if (role->free) role->free(arg);
    bufferevent_free(under);
    return NULL;
  }
  c->role = role;
  c->arg = arg;
  c->under = under;
  mbedtls_ssl_init(c->ssl);
  if (mbedtls_ssl_setup(c->ssl, conf) != 0 || (role->setup && role->setup(arg, c->ssl) != 0)) {
    free_conn(c);
    bufferevent_free(under);
    return NULL;
  }
  if (filter_on(c, under) != 0) return NULL;
  if (role->starts_handshake && handshake(c) < 0) failed(c);
  if (st) *st = (eio_tls_state *)c;
  return c->filter;
}

/* ---- hand-over to another loop ---- */

static int take_all(struct evbuffer *b, uint8_t **out, size_t *len) {
  size_t n = evbuffer_get_length(b);
  *out = NULL;
  *len = 0;
  if (!n) return 0;
  if (!(*out = malloc(n))) return -1;
  evbuffer_remove(b, *out, n);
  *len = n;
  return 0;
}

int eio_tls_state_detach(eio_tls_state *st, eio_tls_moved *m) {
  tls_conn *c = (tls_conn *)st;
  memset(m, 0, sizeof *m);
  if (!c->ssl || c->failed || !c->handshaken ||
      evbuffer_get_length(bufferevent_get_output(c->filter)))
    return -1;
  tls_conn *n = calloc(1, sizeof *n);
  if (!n) return -1;
  if (take_all(bufferevent_get_input(c->under), &m->raw_in, &m->raw_in_len) != 0 ||
      take_all(bufferevent_get_output(c->under), &m->raw_out, &m->raw_out_len) != 0) {
    free(m->raw_in); /* what was taken is lost: the connection must die */
    free(n);
    m->raw_in = NULL;
    return -2;
  }
  n->role = c->role;
  n->arg = c->arg;
  n->ssl = c->ssl;
  n->handshaken = 1;
  c->ssl = NULL; /* freeing the old filter frees neither */
  c->arg = NULL;
  m->fd = bufferevent_getfd(c->under);
  bufferevent_setfd(c->under, -1); /* nor closes the socket */
  m->st = (eio_tls_state *)n;
  return 0;
}

struct bufferevent *eio_tls_state_attach(eio_tls_moved *m, struct bufferevent *under,
                                         const mbedtls_ssl_config *conf, void *arg) {
  tls_conn *c = (tls_conn *)m->st;
  m->st = NULL;
  /* The session continues under this loop's configuration (same
   * certificate and options; its own random generator). */
  void *old = c->arg;
  c->arg = arg;
  c->ssl->conf = conf;
  if (c->role->free) c->role->free(old);
  c->under = under;
  struct evbuffer *in = bufferevent_get_input(under);
  evbuffer_unfreeze(in, 0);
  int r = m->raw_in_len ? evbuffer_add(in, m->raw_in, m->raw_in_len) : 0;
  evbuffer_freeze(in, 0);
  if (r != 0 || (m->raw_out_len && bufferevent_write(under, m->raw_out, m->raw_out_len) != 0)) {
    free_conn(c);
    bufferevent_free(under);
    return NULL;
  }
  if (filter_on(c, under) != 0) return NULL;
  return c->filter;
}

void eio_tls_moved_free(eio_tls_moved *m) {
  if (m->st) free_conn(m->st);
  m->st = NULL;
  free(m->raw_in);
  free(m->raw_out);
  m->raw_in = m->raw_out = NULL;
}
