/*
 * The Engine.IO v4 server: request routing and verification with Node's
 * answers, CORS, the session table, the polling and WebSocket transports
 * of a session, the upgrade between them, and the heartbeat.
 *
 * Reference behaviour: Node engine.io 6.6 (../shared/spec/engineio-v4.md).
 */
#include "internal.h"

#include "base64.h"
#include "buf.h"
#include "packet.h"
#include "packet_v3.h"
#include "polling_v3.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#define DEFAULT_MAX_OUTPUT (64u * 1024 * 1024)
#define POLL_CLOSE_TIMEOUT_MS 30000
#define UPGRADE_CHECK_MS 100
#define ALONE_PING 'a' /* payload of the ping sent after an ALONE frame */

enum {
  ERR_UNKNOWN_TRANSPORT = 0,
  ERR_UNKNOWN_SID = 1,
  ERR_BAD_HANDSHAKE_METHOD = 2,
  ERR_BAD_REQUEST = 3,
  ERR_FORBIDDEN = 4,
  ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
};

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version",
};

static void sock_on_close(eio_socket *s, const char *reason, const char *desc);
static void sock_flush(eio_socket *s);
static void close_transport(eio_socket *s);
static void fire_drain(eio_socket *s);

/* ---------------------------------------------------------------- options */

void eio_options_init(eio_options *o) {
  memset(o, 0, sizeof *o);
  o->path = "/engine.io/";
  o->ping_interval_ms = 25000;
  o->ping_timeout_ms = 20000;
  o->upgrade_timeout_ms = 10000;
  o->max_http_buffer_size = 1000000;
  o->transports = EIO_TRANSPORT_POLLING | EIO_TRANSPORT_WEBSOCKET;
  o->allow_upgrades = 1;
  o->max_header_bytes = 16384;
  o->max_headers = 100;
  o->http_headers_timeout_ms = 60000;
  o->http_request_timeout_ms = 300000;
  o->http_keepalive_timeout_ms = 5000;
  o->max_output_bytes = DEFAULT_MAX_OUTPUT;
  o->http_compression = 1;
  o->http_compression_threshold = 1024;
}

static char *xstrdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

/* Keeps an owned copy of s in srv->cors_strings; returns it. */
static const char *keep_string(eio_server *srv, const char *s) {
  if (!s) return NULL;
  char **v = realloc(srv->cors_strings,
                     (srv->n_cors_strings + 1) * sizeof *srv->cors_strings);
  if (!v) return NULL;
  srv->cors_strings = v;
  char *d = xstrdup(s);
  if (!d) return NULL;
  v[srv->n_cors_strings++] = d;
  return d;
}

static __thread char last_error[256];
const char *eio_last_error(void) { return last_error; }

eio_server *eio_rep_new(struct event_base *base, const eio_options *opts) {
  eio_server *srv = calloc(1, sizeof *srv);
  if (!srv) return NULL;
  srv->base = base;
  if (opts) srv->o = *opts;
  else eio_options_init(&srv->o);
  eio_options *o = &srv->o;
  if (!o->transports)
    o->transports = EIO_TRANSPORT_POLLING | EIO_TRANSPORT_WEBSOCKET;
  if (!o->max_output_bytes) o->max_output_bytes = DEFAULT_MAX_OUTPUT;
  if (!o->max_headers) o->max_headers = 100;
  if (o->max_header_bytes < 64) o->max_header_bytes = 64;
  const char *path = o->path ? o->path : "/engine.io/";
  size_t pl = strlen(path);
  srv->path = malloc(pl + 2);
  if (!srv->path) goto fail;
  memcpy(srv->path, path, pl + 1);
  if (pl == 0 || path[pl - 1] != '/') {
    srv->path[pl] = '/';
    srv->path[pl + 1] = '\0';
  }
  o->path = srv->path;
  if (o->cors) {
    srv->cors = *o->cors;
    srv->cors_on = 1;
    if (srv->cors.num_origins) {
      const char **v = calloc(srv->cors.num_origins, sizeof *v);
      if (!v) goto fail;
      for (size_t i = 0; i < srv->cors.num_origins; i++)
        v[i] = keep_string(srv, o->cors->origins[i]);
      srv->cors.origins = v;
    }
    srv->cors.methods = keep_string(srv, o->cors->methods);
    srv->cors.allowed_headers = keep_string(srv, o->cors->allowed_headers);
    srv->cors.exposed_headers = keep_string(srv, o->cors->exposed_headers);
    o->cors = &srv->cors;
  }
  if (o->cookie) {
    srv->cookie = *o->cookie;
    srv->cookie_on = 1;
    srv->cookie.name = keep_string(srv, o->cookie->name ? o->cookie->name : "io");
    srv->cookie.path = keep_string(srv, o->cookie->path ? o->cookie->path : "/");
    srv->cookie.same_site =
        keep_string(srv, o->cookie->same_site ? o->cookie->same_site : "Lax");
    o->cookie = &srv->cookie;
  }
  if (o->per_message_deflate) {
    srv->pmd_opts = *o->per_message_deflate;
    o->per_message_deflate = &srv->pmd_opts;
  }
  last_error[0] = '\0';
  if (o->tls) {
    srv->tls_opts.cert_file = keep_string(srv, o->tls->cert_file);
    srv->tls_opts.key_file = keep_string(srv, o->tls->key_file);
    srv->tls_opts.key_password = keep_string(srv, o->tls->key_password);
    srv->tls_opts.min_version = o->tls->min_version;
    o->tls = &srv->tls_opts;
    srv->tls = eio_tls_ctx_new(&srv->tls_opts, last_error, sizeof last_error);
    if (!srv->tls) goto fail;
  }
  sio_map_init(&srv->sessions);
  if (eio_timers_init(&srv->timers, base) != 0 || eio_budget_init(srv) != 0 || eio_guard_init(srv) != 0) goto fail;
  if (!o->http_headers_timeout_ms ||
      o->http_headers_timeout_ms > o->http_request_timeout_ms)
    o->http_headers_timeout_ms = o->http_request_timeout_ms;
  return srv;
fail:
  eio_rep_teardown(srv);
  eio_rep_release(srv);
  return NULL;
}

/* ---------------------------------------------------------- session table */

static eio_socket *table_get(eio_server *srv, const char *id) {
  return sio_map_get(&srv->sessions, id);
}

static int table_put(eio_server *srv, eio_socket *s) {
  if (sio_map_put(&srv->sessions, s->id, s) < 0) return -1;
  s->in_map = 1;
  if (srv->grp) atomic_fetch_add(&srv->grp->clients, 1);
  return 0;
}

static void table_del(eio_server *srv, eio_socket *s) {
  if (sio_map_del(&srv->sessions, s->id) && srv->grp)
    atomic_fetch_sub(&srv->grp->clients, 1);
  s->in_map = 0;
}

/* ------------------------------------------------------------- sessions */

static void sock_ref(eio_socket *s) { s->refs++; }

/* The session's deadlines live on the server's timer heap (timers.c). */
static void arm(eio_socket *s, eio_timer *t, uint64_t ms) {
  eio_timer_arm(&s->srv->timers, t, ms);
}
static void disarm(eio_socket *s, eio_timer *t) {
  eio_timer_cancel(&s->srv->timers, t);
}
static uint64_t alone_ms(const eio_server *srv) {
  return srv->o.alone_wait_ms ? (uint64_t)srv->o.alone_wait_ms : 1000;
}
static uint64_t v3_timeout_ms(const eio_server *srv) {
  return (uint64_t)srv->o.ping_interval_ms + srv->o.ping_timeout_ms;
}

static void queue_clear(eio_socket *s) {
  eio_qpkt *p = s->q_head;
  while (p) {
    eio_qpkt *n = p->next;
    sio_buf_unref(p->data);
    free(p);
    p = n;
  }
  s->q_head = s->q_tail = NULL;
  s->q_bytes = 0;
}

/* Out of line: inlined into callers holding their own reference, GCC 12's
 * -Wuse-after-free cannot see that the count stays above zero. */
__attribute__((noinline)) static void sock_unref(eio_socket *s) {
  if (--s->refs) return;
  queue_clear(s);
  eio_timers *w = &s->srv->timers;
  eio_timer_cancel(w, &s->ping_timer);
  eio_timer_cancel(w, &s->timeout_timer);
  eio_timer_cancel(w, &s->upgrade_timer);
  eio_timer_cancel(w, &s->check_timer);
  eio_timer_cancel(w, &s->close_timer);
  eio_timer_cancel(w, &s->hold_timer);
  free(s->req_storage);
  free(s);
}

/* Binds conn c to session s (one reference held by the connection). */
static void attach(eio_conn *c, eio_socket *s) {
  c->sock = s;
  sock_ref(s);
}

/* Unbinds c from its session, wherever the session refers to it. */
static void detach(eio_conn *c) {
  eio_socket *s = c->sock;
  if (!s) return;
  if (s->poll_get == c) s->poll_get = NULL;
  if (s->poll_post == c) s->poll_post = NULL;
  if (s->ws == c) s->ws = NULL;
  if (s->probe == c) s->probe = NULL;
  c->sock = NULL;
  sock_unref(s);
}

static int queue_push(eio_socket *s, int type, int binary, sio_buf *data,
                      unsigned flags) {
  eio_qpkt *p = malloc(sizeof *p);
  if (!p) return EIO_ERR_NOMEM;
  p->next = NULL;
  p->type = (uint8_t)type;
  p->binary = (uint8_t)binary;
  p->no_compress = (flags & EIO_SEND_NO_COMPRESS) ? 1 : 0;
  p->alone = (flags & EIO_SEND_ALONE) ? 1 : 0;
  p->data = data ? sio_buf_ref(data) : NULL;
  if (s->q_tail) s->q_tail->next = p;
  else s->q_head = p;
  s->q_tail = p;
  s->q_bytes += 1 + (data ? sio_buf_len(data) : 0);
  return EIO_OK;
}

static int send_packet_flags(eio_socket *s, int type, int binary, sio_buf *data,
                             unsigned flags) {
  if (s->ready == SOCK_CLOSED) return EIO_ERR_CLOSED;
  if (s->transport == EIO_TRANSPORT_WEBSOCKET && s->ws && !s->q_head &&
      !s->held && !(flags & EIO_SEND_ALONE)) {
    /* What sock_flush does with a one-packet queue, without the queue. */
    if (binary)
      eio_conn_ws_send(s->ws, EIO_WS_BINARY, s->protocol == 3 ? type : 0, data);
    else
      eio_conn_ws_send(s->ws, EIO_WS_TEXT, (uint8_t)('0' + type), data);
    sock_ref(s);
    fire_drain(s);
    if (s->close_on_drain && s->ready == SOCK_CLOSING) close_transport(s);
    sock_unref(s);
    return EIO_OK;
  }
  int r = queue_push(s, type, binary, data, flags);
  if (r == EIO_OK) sock_flush(s);
  return r;
}

static int send_packet(eio_socket *s, int type, int binary, sio_buf *data) {
  return send_packet_flags(s, type, binary, data, 0);
}

static int send_text_flags(eio_socket *s, int type, const char *text,
                           unsigned flags) {
  sio_buf *b = NULL;
  if (text && *text) {
    b = sio_buf_new(text, strlen(text));
    if (!b) return EIO_ERR_NOMEM;
  }
  int r = send_packet_flags(s, type, 0, b, flags);
  sio_buf_unref(b);
  return r;
}

static void unref_cleanup(const void *data, size_t len, void *arg) {
  (void)data;
  (void)len;
  sio_buf_unref(arg);
}

/* ---------------------------------------------------- HTTP compression */

static eio_deflater *http_deflater(eio_server *srv) {
  if (!srv->deflater_http) srv->deflater_http = eio_deflater_new(-1);
  return srv->deflater_http;
}

eio_deflater *eio_srv_ws_deflater(eio_server *srv) {
  if (!srv->deflater_ws)
    srv->deflater_ws = eio_deflater_new(srv->pmd_opts.level);
  return srv->deflater_ws;
}

/* How a polling response of n bytes to request c goes (Node's
 * httpCompression: threshold, then Accept-Encoding; several header lines
 * count as one joined with commas). */
static int poll_encoding(eio_conn *c, size_t n) {
  eio_server *srv = c->srv;
  if (!srv->o.http_compression || n < srv->o.http_compression_threshold)
    return EIO_ENC_IDENTITY;
  const eio_http_header *one = NULL;
  size_t count = 0, total = 0;
  for (size_t i = 0; i < c->req.num_headers; i++) {
    const eio_http_header *h = &c->req.headers[i];
    if (eio_http_ieq(h->name, h->name_len, "accept-encoding")) {
      one = h;
      count++;
      total += h->value_len + 2;
    }
  }
  if (count <= 1)
    return eio_accept_encoding(one ? one->value : NULL, one ? one->value_len : 0);
  char *v = malloc(total);
  if (!v) return EIO_ENC_IDENTITY;
  size_t k = 0;
  for (size_t i = 0; i < c->req.num_headers; i++) {
    const eio_http_header *h = &c->req.headers[i];
    if (!eio_http_ieq(h->name, h->name_len, "accept-encoding")) continue;
    if (k) v[k++] = ',', v[k++] = ' ';
    memcpy(v + k, h->value, h->value_len);
    k += h->value_len;
  }
  int enc = eio_accept_encoding(v, k);
  free(v);
  return enc;
}

static sio_buf *compress_evbuffer(eio_server *srv, int enc,
                                  struct evbuffer *body) {
  eio_deflater *d = http_deflater(srv);
  if (!d) return NULL;
  int n = evbuffer_peek(body, -1, NULL, NULL, 0);
  if (n < 0) return NULL;
  struct evbuffer_iovec *v = malloc(((size_t)n + 1) * sizeof *v);
  eio_chunk *ch = malloc(((size_t)n + 1) * sizeof *ch);
  sio_buf *z = NULL;
  if (v && ch) {
    n = evbuffer_peek(body, -1, NULL, v, n);
    for (int i = 0; i < n; i++) ch[i] = (eio_chunk){v[i].iov_base, v[i].iov_len};
    z = eio_deflate_http(d, enc, ch, (size_t)n);
  }
  free(v);
  free(ch);
  return z;
}

/* Payload bytes up to this are copied into a polling response; larger
 * ones are shared by reference. */
#define POLL_INLINE_PAYLOAD 256

/* A stack buffer in front of an evbuffer: small pieces gathered, then one
 * evbuffer_add (a reference chain in between makes every later small add
 * start a new chain). */
typedef struct gather {
  struct evbuffer *out;
  size_t n;
  int err;
  char buf[2048];
} gather;

static void gather_flush(gather *g) {
  if (g->n && evbuffer_add(g->out, g->buf, g->n) != 0) g->err = 1;
  g->n = 0;
}

static void gather_put(gather *g, const void *p, size_t len) {
  if (g->n + len > sizeof g->buf) gather_flush(g);
  if (len > sizeof g->buf) {
    if (evbuffer_add(g->out, p, len) != 0) g->err = 1;
    return;
  }
  memcpy(g->buf + g->n, p, len);
  g->n += len;
}

/* Payload bytes owned by buf: copied when small, else referenced. */
static void gather_payload(gather *g, const char *p, size_t len, sio_buf *buf) {
  if (len <= POLL_INLINE_PAYLOAD) {
    gather_put(g, p, len);
    return;
  }
  gather_flush(g);
  sio_buf_ref(buf);
  if (evbuffer_add_reference(g->out, p, len, unref_cleanup, buf) != 0) {
    sio_buf_unref(buf);
    g->err = 1;
  }
}

/* Appends the polling encoding of the queued packets to out; payloads
 * (and the cached base64 of binary ones) larger than POLL_INLINE_PAYLOAD
 * are shared by reference. */
static int encode_payload(eio_socket *s, struct evbuffer *out, int add_close) {
  gather g;
  g.out = out;
  g.n = 0;
  g.err = 0;
  int first = 1;
  for (eio_qpkt *p = s->q_head; p; p = p->next) {
    if (!first) gather_put(&g, "\x1e", 1);
    first = 0;
    if (p->binary) {
      size_t n;
      const char *b64 = sio_buf_base64(p->data, &n);
      if (!b64) return -1;
      gather_put(&g, "b", 1);
      if (n) gather_payload(&g, b64, n, p->data);
    } else {
      char t = (char)('0' + p->type);
      gather_put(&g, &t, 1);
      size_t n = p->data ? sio_buf_len(p->data) : 0;
      if (n)
        gather_payload(&g, (const char *)sio_buf_data(p->data), n, p->data);
    }
  }
  if (add_close) {
    if (!first) gather_put(&g, "\x1e", 1);
    gather_put(&g, "1", 1);
  }
  gather_flush(&g);
  return g.err ? -1 : 0;
}

/* Answers a long poll with body; enc (EIO_ENC_*) says how body is already
 * encoded, or is -1 to compress it here when Node would (deflate.c); binary
 * (Engine.IO v3 binary payloads) sets the octet-stream content type. */
static void poll_respond_enc(eio_conn *c, struct evbuffer *body, int enc,
                             int binary) {
  const char *base = binary
      ? "Content-Type: application/octet-stream\r\ncache-control: no-store\r\n"
      : "Content-Type: text/plain; charset=UTF-8\r\ncache-control: no-store\r\n";
  struct evbuffer *zbody = NULL;
  if (enc < 0) {
    enc = poll_encoding(c, evbuffer_get_length(body));
    sio_buf *z = enc ? compress_evbuffer(c->srv, enc, body) : NULL;
    if (z) {
      zbody = evbuffer_new();
      if (zbody && evbuffer_add_reference(zbody, sio_buf_data(z), sio_buf_len(z),
                                          unref_cleanup, z) == 0) {
        body = zbody;
      } else {
        sio_buf_unref(z);
        enc = EIO_ENC_IDENTITY;
      }
    } else {
      enc = EIO_ENC_IDENTITY;
    }
  }
  const char *ce = enc == EIO_ENC_GZIP      ? "Content-Encoding: gzip\r\n"
                   : enc == EIO_ENC_DEFLATE ? "Content-Encoding: deflate\r\n"
                                            : "";
  const char *extra = c->resp_headers ? c->resp_headers : "";
  size_t lb = strlen(base), lc = strlen(ce), le = strlen(extra);
  size_t n = lb + lc + le + 1;
  char hs[512], *h = n <= sizeof hs ? hs : malloc(n);
  if (!h) {
    if (zbody) evbuffer_free(zbody);
    eio_conn_abort(c);
    return;
  }
  memcpy(h, base, lb);
  memcpy(h + lb, ce, lc);
  memcpy(h + lb + lc, extra, le);
  h[n - 1] = '\0';
  eio_conn_respond_evbuf(c, 200, h, body);
  if (h != hs) free(h);
  if (zbody) evbuffer_free(zbody);
}

static void poll_respond(eio_conn *c, struct evbuffer *body) {
  poll_respond_enc(c, body, -1, 0);
}

/* Answers the pending GET with a single packet ("6" noop or "1" close). */
static void poll_answer_single(eio_socket *s, char type) {
  eio_conn *c = s->poll_get;
  if (!c) return;
  struct evbuffer *b = evbuffer_new();
  if (b) {
    if (s->protocol == 3) evbuffer_add(b, "1:", 2); /* v3 length header */
    evbuffer_add(b, &type, 1);
    detach(c);
    poll_respond(c, b);
    evbuffer_free(b);
  } else {
    detach(c);
    eio_conn_abort(c);
  }
}

static void fire_drain(eio_socket *s) {
  if (s->h.on_drain && s->ready != SOCK_CLOSED) s->h.on_drain(s, s->ud);
}

static void sock_flush(eio_socket *s) {
  if (s->ready == SOCK_CLOSED) return;
  if (s->transport == EIO_TRANSPORT_POLLING) {
    eio_conn *c = s->poll_get;
    if (!c || (!s->q_head && !s->should_close)) return;
    int closing = s->should_close;
    struct evbuffer *body = evbuffer_new();
    int enc = -1, ready = 0; /* ready: body holds the cached form */
    int bin = 0;             /* a v3 binary payload */
    eio_qpkt *q = s->q_head;
    /* Node compresses when some packet allows it (the close packet does
     * not count). */
    int compress = 0;
    for (eio_qpkt *p = q; p; p = p->next) compress |= !p->no_compress;
    if (!compress) enc = EIO_ENC_IDENTITY;
    else if (body && s->protocol != 3 && !closing && q && !q->next &&
             q->type == EIO_MESSAGE && q->data) {
      /* One message (a broadcast, typically): its compressed response is
       * cached on the message, made once for every polling recipient. */
      size_t n = sio_buf_len(q->data);
      int e = poll_encoding(c, 1 + (q->binary ? eio_base64_encoded_len(n) : n));
      eio_deflater *d = e ? http_deflater(s->srv) : NULL;
      sio_buf *z = d ? eio_deflate_http_one(d, e, q->data,
                                            q->binary ? 'b' : '0' + EIO_MESSAGE,
                                            q->binary)
                     : NULL;
      if (z && evbuffer_add_reference(body, sio_buf_data(z), sio_buf_len(z),
                                      unref_cleanup, z) == 0)
        enc = e, ready = 1;
      else
        sio_buf_unref(z);
    }
    if (body && !ready && s->protocol == 3)
      bin = eio_polling_v3_encode(s->q_head, body, closing, !s->b64);
    else if (body && !ready)
      bin = encode_payload(s, body, closing);
    if (!body || bin < 0) {
      if (body) evbuffer_free(body);
      sock_on_close(s, "transport error", "out of memory");
      return;
    }
    queue_clear(s);
    sock_ref(s);
    detach(c);
    poll_respond_enc(c, body, enc, bin);
    evbuffer_free(body);
    if (closing) {
      s->should_close = 0;
      sock_on_close(s, "forced close", NULL);
    } else {
      fire_drain(s);
      if (s->close_on_drain && s->ready == SOCK_CLOSING) close_transport(s);
    }
    sock_unref(s);
    return;
  }
  eio_conn *c = s->ws;
  if (!c || !s->q_head || s->held) return;
  eio_qpkt *p;
  while ((p = s->q_head)) {
    /* v3 binary frames start with the packet type as a byte */
    int r = p->binary ? eio_conn_ws_send(c, EIO_WS_BINARY,
                                         s->protocol == 3 ? p->type : 0, p->data)
                      : eio_conn_ws_send(c, EIO_WS_TEXT, (uint8_t)('0' + p->type),
                                         p->data);
    int alone = p->alone;
    s->q_head = p->next;
    if (!s->q_head) s->q_tail = NULL;
    s->q_bytes -= 1 + (p->data ? sio_buf_len(p->data) : 0);
    sio_buf_unref(p->data);
    free(p);
    if (r != 0) {
      queue_clear(s);
      break;
    }
    if (alone && s->srv->o.alone_wait_ms >= 0 &&
        eio_conn_ws_send(c, EIO_WS_PING, ALONE_PING, NULL) == 0) {
      /* What follows waits for the pong: the client answers the ping while
       * it handles the read that holds this frame, so the next frames come
       * in a later read (see EIO_SEND_ALONE). The timer bounds the wait. */
      s->held = 1;
      arm(s, &s->hold_timer, alone_ms(s->srv));
      break;
    }
  }
  if (s->q_head) return;
  sock_ref(s);
  fire_drain(s);
  if (s->close_on_drain && s->ready == SOCK_CLOSING) close_transport(s);
  sock_unref(s);
}

void eio_srv_ws_pong(eio_conn *c, const uint8_t *data, size_t len) {
  eio_socket *s = c->sock;
  if (s->ws != c || !s->held || len != 1 || data[0] != ALONE_PING) return;
  sock_ref(s);
  disarm(s, &s->hold_timer);
  s->held = 0;
  sock_flush(s);
  sock_unref(s);
}

static void hold_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_socket, hold_timer);
  sock_ref(s);
  s->held = 0;
  sock_flush(s);
  sock_unref(s);
}

static void ping_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_socket, ping_timer);
  sock_ref(s);
  send_packet(s, EIO_PING, 0, NULL);
  if (s->ready != SOCK_CLOSED)
    arm(s, &s->timeout_timer, s->srv->o.ping_timeout_ms);
  sock_unref(s);
}

static void timeout_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_socket, timeout_timer);
  sock_ref(s);
  sock_on_close(s, "ping timeout", NULL);
  sock_unref(s);
}

static void abort_upgrade(eio_socket *s) {
  eio_conn *p = s->probe;
  s->upgrading = 0;
  disarm(s, &s->upgrade_timer);
  disarm(s, &s->check_timer);
  if (p) {
    detach(p);
    eio_conn_ws_close(p, 0);
  }
}

static void upgrade_timeout_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_socket, upgrade_timer);
  sock_ref(s);
  abort_upgrade(s);
  sock_unref(s);
}

/* While an upgrade probe is on, release the pending GET with a noop so
 * the client can pause polling (Node retries this every 100 ms). The table
 * still holds the session here, so no extra reference is needed. */
static void upgrade_check(eio_socket *s) {
  if (s->ready != SOCK_CLOSED && s->transport == EIO_TRANSPORT_POLLING &&
      s->poll_get && !s->q_head)
    poll_answer_single(s, '0' + EIO_NOOP);
}

static void check_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_socket, check_timer);
  arm(s, t, UPGRADE_CHECK_MS); /* periodic while the probe is on */
  upgrade_check(s);
}

static void close_timer_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_socket, close_timer);
  sock_ref(s);
  sock_on_close(s, "forced close", NULL);
  sock_unref(s);
}

/*
 * The session ends (Node's Socket#onClose): timers stop, the transports are
 * released (a pending GET gets "1", or "6" when the client itself closed),
 * the session leaves the table, then the user hears of it.
 */
static void sock_on_close(eio_socket *s, const char *reason, const char *desc) {
  if (s->ready == SOCK_CLOSED) return;
  sock_ref(s);
  s->ready = SOCK_CLOSED;
  eio_budget_forget(s);
  disarm(s, &s->ping_timer);
  disarm(s, &s->timeout_timer);
  disarm(s, &s->close_timer);
  disarm(s, &s->hold_timer);
  s->held = 0;
  abort_upgrade(s);
  queue_clear(s);
  if (s->poll_get)
    poll_answer_single(s, strcmp(reason, "transport close") == 0
                              ? '0' + EIO_NOOP
                              : '0' + EIO_CLOSE);
  if (s->poll_post) detach(s->poll_post); /* it still gets its answer */
  if (s->ws) {
    eio_conn *c = s->ws;
    detach(c);
    eio_conn_ws_close(c, 0);
  }
  eio_server *srv = s->srv;
  if (s->in_map) {
    table_del(srv, s);
    sock_unref(s); /* the table's reference */
  }
  if (s->h.on_close) s->h.on_close(s, reason, desc, s->ud);
  sock_unref(s);
}

/*
 * A socket over its output budget closes for real ("transport error"):
 * its queue is released and its connections are reset now, with nothing
 * left waiting for a peer that does not read (a graceful WebSocket close
 * would hold the whole backlog until the close-wait timer). A pending
 * long-poll GET with nothing unsent still gets its close packet.
 */
void eio_srv_sock_drop(eio_socket *s, const char *desc) {
  if (s->ready == SOCK_CLOSED) return;
  queue_clear(s);
  eio_conn *c;
  if ((c = s->ws)) {
    detach(c);
    eio_conn_kill(c);
  }
  if ((c = s->poll_get) && eio_conn_output_len(c)) {
    detach(c);
    eio_conn_kill(c);
  }
  sock_on_close(s, "transport error", desc);
}

static void close_transport(eio_socket *s) {
  s->close_on_drain = 0;
  if (s->transport == EIO_TRANSPORT_WEBSOCKET) {
    sock_on_close(s, "forced close", NULL);
  } else if (s->poll_get) {
    s->should_close = 1;
    sock_flush(s);
  } else {
    s->should_close = 1;
    arm(s, &s->close_timer, POLL_CLOSE_TIMEOUT_MS);
  }
}

void eio_socket_close(eio_socket *s) {
  if (s->ready != SOCK_OPEN) return;
  sock_ref(s);
  s->ready = SOCK_CLOSING;
  if (s->held) { /* closing: what is queued goes now, as in Node */
    disarm(s, &s->hold_timer);
    s->held = 0;
  }
  if (s->q_head) {
    s->close_on_drain = 1;
    sock_flush(s);
  } else {
    close_transport(s);
  }
  sock_unref(s);
}

/* One packet from the client, on the session's current transport. */
static void sock_on_packet(eio_socket *s, const eio_packet *p) {
  if (s->ready != SOCK_OPEN) return;
  switch (p->type) {
  case EIO_PING:
    if (s->protocol == 3) { /* v3: the client pings, the server answers */
      arm(s, &s->timeout_timer, v3_timeout_ms(s->srv));
      send_packet(s, EIO_PONG, 0, NULL);
      break;
    }
    sock_on_close(s, "transport error", "invalid heartbeat direction");
    break;
  case EIO_PONG:
    if (s->protocol == 3) {
      sock_on_close(s, "transport error", "invalid heartbeat direction");
      break;
    }
    disarm(s, &s->timeout_timer);
    arm(s, &s->ping_timer, s->srv->o.ping_interval_ms);
    break;
  case EIO_MESSAGE:
    if (eio_budget_inbound(s) != 0) {
      sock_on_close(s, "transport error", "inbound packet rate exceeded");
      break;
    }
    if (s->h.on_message) s->h.on_message(s, p->data, p->len, p->binary, s->ud);
    break;
  case EIO_CLOSE:
    sock_on_close(s, "transport close", NULL);
    break;
  default: /* open, upgrade, noop from a client: ignored, as Node does */
    break;
  }
}

/* ------------------------------------------------------------ public API */

void eio_socket_set_handlers(eio_socket *s, const eio_socket_handlers *h,
                             void *ud) {
  if (h) s->h = *h;
  else memset(&s->h, 0, sizeof s->h);
  s->ud = ud;
}
const char *eio_socket_id(const eio_socket *s) { return s->id; }
int eio_socket_transport(const eio_socket *s) { return s->transport; }
const eio_request *eio_socket_request(const eio_socket *s) { return &s->req; }
eio_server *eio_socket_server(const eio_socket *s) { return s->srv; }

size_t eio_socket_buffered(const eio_socket *s) {
  size_t n = s->q_bytes;
  if (s->ws) n += eio_conn_output_len(s->ws);
  if (s->poll_get) n += eio_conn_output_len(s->poll_get);
  return n;
}

int eio_socket_writable(const eio_socket *s) {
  if (s->ready != SOCK_OPEN) return 0;
  if (!eio_budget_volatile_ok(s)) return 0;
  if (s->transport == EIO_TRANSPORT_WEBSOCKET) return s->ws != NULL;
  return s->poll_get != NULL;
}

int eio_socket_send_buf(eio_socket *s, sio_buf *buf, int binary) {
  return eio_socket_send_buf_flags(s, buf, binary, 0);
}

int eio_socket_send_buf_flags(eio_socket *s, sio_buf *buf, int binary,
                              unsigned flags) {
  if (!buf) return EIO_ERR_INVALID;
  if (s->ready != SOCK_OPEN) return EIO_ERR_CLOSED;
  if (eio_socket_buffered(s) + sio_buf_len(buf) > s->srv->o.max_output_bytes) {
    sock_ref(s);
    eio_srv_sock_drop(s, "output buffer limit exceeded");
    sock_unref(s);
    return EIO_ERR_LIMIT;
  }
  int r = send_packet_flags(s, EIO_MESSAGE, binary ? 1 : 0, buf, flags);
  if (r == EIO_OK) {
    sock_ref(s);
    eio_budget_account(s);
    if (s->ready == SOCK_CLOSED) r = EIO_ERR_LIMIT;
    sock_unref(s);
  }
  return r;
}

int eio_socket_protocol(const eio_socket *s) { return s->protocol; }

int eio_socket_send(eio_socket *s, const void *data, size_t len, int binary) {
  if (s->ready != SOCK_OPEN) return EIO_ERR_CLOSED;
  sio_buf *b = sio_buf_new(data, len);
  if (!b) return EIO_ERR_NOMEM;
  int r = eio_socket_send_buf(s, b, binary);
  sio_buf_unref(b);
  return r;
}

const char *eio_request_header(const eio_request *req, const char *name) {
  for (size_t i = 0; i < req->num_headers; i++)
    if (eio_http_ieq(req->header_names[i], strlen(req->header_names[i]), name))
      return req->header_values[i];
  return NULL;
}

long eio_request_query(const eio_request *req, const char *name, char *out,
                       size_t out_size) {
  return eio_http_query_get(req->query, strlen(req->query), name, out,
                            out_size);
}

/* --------------------------------------------------------- HTTP helpers */

/* An evbuffer-backed string builder for header lines. */
static void hdr_add(struct evbuffer *b, const char *name, const char *v,
                    size_t vlen) {
  evbuffer_add_printf(b, "%s: ", name);
  evbuffer_add(b, v, vlen);
  evbuffer_add(b, "\r\n", 2);
}

static char *evbuf_to_string(struct evbuffer *b) {
  size_t n = evbuffer_get_length(b);
  char *s = malloc(n + 1);
  if (!s) return NULL;
  evbuffer_remove(b, s, n);
  s[n] = '\0';
  return s;
}

/* The CORS headers for a request (npm `cors` semantics); preflight adds
 * the method/header/max-age ones. */
static void cors_headers(eio_server *srv, eio_conn *c, struct evbuffer *b,
                         int preflight) {
  const eio_cors *k = &srv->cors;
  const eio_http_header *oh = eio_http_find(&c->req, "origin");
  char vary[64] = "";
  if (k->origin_fn) {
    char *origin = NULL;
    if (oh) {
      origin = malloc(oh->value_len + 1);
      if (origin) {
        memcpy(origin, oh->value, oh->value_len);
        origin[oh->value_len] = '\0';
      }
    }
    if (k->origin_fn(origin, k->origin_user_data) && oh)
      hdr_add(b, "Access-Control-Allow-Origin", oh->value, oh->value_len);
    free(origin);
    strcpy(vary, "Origin");
  } else if (k->num_origins == 1 && strcmp(k->origins[0], "*") == 0) {
    hdr_add(b, "Access-Control-Allow-Origin", "*", 1);
  } else if (k->num_origins == 1) {
    hdr_add(b, "Access-Control-Allow-Origin", k->origins[0],
            strlen(k->origins[0]));
    strcpy(vary, "Origin");
  } else if (k->num_origins > 1) {
    if (oh) {
      for (size_t i = 0; i < k->num_origins; i++) {
        if (strcmp(k->origins[i], "*") == 0 ||
            (strlen(k->origins[i]) == oh->value_len &&
             memcmp(k->origins[i], oh->value, oh->value_len) == 0)) {
          hdr_add(b, "Access-Control-Allow-Origin", oh->value, oh->value_len);
          break;
        }
      }
    }
    strcpy(vary, "Origin");
  }
  if (k->credentials)
    hdr_add(b, "Access-Control-Allow-Credentials", "true", 4);
  if (preflight) {
    const char *m = k->methods ? k->methods : "GET,HEAD,PUT,PATCH,POST,DELETE";
    hdr_add(b, "Access-Control-Allow-Methods", m, strlen(m));
    if (k->allowed_headers) {
      hdr_add(b, "Access-Control-Allow-Headers", k->allowed_headers,
              strlen(k->allowed_headers));
    } else {
      const eio_http_header *rh =
          eio_http_find(&c->req, "access-control-request-headers");
      if (rh)
        hdr_add(b, "Access-Control-Allow-Headers", rh->value, rh->value_len);
      strcat(vary, vary[0] ? ", Access-Control-Request-Headers"
                           : "Access-Control-Request-Headers");
    }
    if (k->max_age >= 0 && k->max_age) evbuffer_add_printf(b, "Access-Control-Max-Age: %d\r\n", k->max_age);
  }
  if (k->exposed_headers)
    hdr_add(b, "Access-Control-Expose-Headers", k->exposed_headers,
            strlen(k->exposed_headers));
  if (vary[0]) hdr_add(b, "Vary", vary, strlen(vary));
}

/* Node's abortRequest: status + {"code":N,"message":"..."}. */
static void abort_request(eio_conn *c, int code, const char *message) {
  char body[512];
  int n;
  if (!message) message = error_messages[code];
  /* Messages are ours or the allowRequest hook's; escape for JSON. */
  char esc[300];
  size_t k = 0;
  for (const char *p = message; *p && k < sizeof esc - 8; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '"' || ch == '\\') {
      esc[k++] = '\\';
      esc[k++] = (char)ch;
    } else if (ch < 0x20) {
      k += (size_t)snprintf(esc + k, sizeof esc - k, "\\u%04x", ch);
    } else {
      esc[k++] = (char)ch;
    }
  }
  esc[k] = '\0';
  n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, esc);
  const char *cors = c->resp_headers ? c->resp_headers : "";
  char hdr[2048];
  struct evbuffer *hb = evbuffer_new();
  if (!hb) {
    eio_conn_abort(c);
    return;
  }
  evbuffer_add_printf(hb, "Content-Type: application/json\r\n%s", cors);
  size_t hl = evbuffer_get_length(hb);
  char *h = hl < sizeof hdr ? hdr : malloc(hl + 1);
  if (!h) {
    evbuffer_free(hb);
    eio_conn_abort(c);
    return;
  }
  evbuffer_remove(hb, h, hl);
  h[hl] = '\0';
  evbuffer_free(hb);
  eio_conn_respond(c, code == ERR_FORBIDDEN ? 403 : 400, h, body, (size_t)n);
  if (h != hdr) free(h);
}

/* Node's abortUpgrade: a raw 400 before any protocol switch, then close. */
static void abort_upgrade_req(eio_conn *c, int code, const char *message) {
  if (!message) message = error_messages[code];
  char raw[512];
  int n = snprintf(raw, sizeof raw,
                   "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                   "Content-type: text/html\r\nContent-Length: %zu\r\n\r\n%s",
                   strlen(message), message);
  if (n < 0 || (size_t)n >= sizeof raw) n = (int)sizeof raw - 1;
  eio_conn_write_raw_close(c, raw, (size_t)n);
}

static void fail(eio_conn *c, int code, const char *message) {
  if (c->is_upgrade) abort_upgrade_req(c, code, message);
  else abort_request(c, code, message);
}

/* The ws package's handshake refusal. */
static void ws_abort(eio_conn *c, int status, const char *message,
                     const char *extra) {
  char raw[512];
  int n = snprintf(raw, sizeof raw,
                   "HTTP/1.1 %d %s\r\nConnection: close\r\n"
                   "Content-Type: text/html\r\nContent-Length: %zu\r\n%s\r\n%s",
                   status, status == 405 ? "Method Not Allowed" : "Bad Request",
                   strlen(message), extra ? extra : "", message);
  if (n < 0 || (size_t)n >= sizeof raw) n = (int)sizeof raw - 1;
  eio_conn_write_raw_close(c, raw, (size_t)n);
}

/* permessage-deflate from Sec-WebSocket-Extensions (all its lines, joined
 * as Node joins them); on success the 101 will carry the answer. Returns
 * -1 when the header is invalid or no offer is acceptable. */
static int ws_negotiate_deflate(eio_conn *c) {
  size_t total = 0, count = 0;
  for (size_t i = 0; i < c->req.num_headers; i++) {
    const eio_http_header *h = &c->req.headers[i];
    if (eio_http_ieq(h->name, h->name_len, "sec-websocket-extensions")) {
      total += h->value_len + 2;
      count++;
    }
  }
  if (!count) return 0;
  char *v = malloc(total);
  if (!v) return -1;
  size_t k = 0;
  for (size_t i = 0; i < c->req.num_headers; i++) {
    const eio_http_header *h = &c->req.headers[i];
    if (!eio_http_ieq(h->name, h->name_len, "sec-websocket-extensions")) continue;
    if (k) v[k++] = ',', v[k++] = ' ';
    memcpy(v + k, h->value, h->value_len);
    k += h->value_len;
  }
  eio_pmd_params p;
  int r = eio_pmd_negotiate(v, k, &c->srv->pmd_opts, &p);
  free(v);
  if (r == EIO_PMD_INVALID) return -1;
  if (r == EIO_PMD_NONE) return 0;
  char line[160];
  size_t n = eio_pmd_format(&p, line, sizeof line);
  size_t old = c->resp_headers ? strlen(c->resp_headers) : 0;
  char *h = realloc(c->resp_headers, old + n + 1);
  if (!h) return -1;
  memcpy(h + old, line, n + 1);
  c->resp_headers = h;
  c->pmd = p;
  c->pmd_on = 1;
  return 0;
}

/* Validates the WebSocket handshake headers in the ws package's order and
 * computes the accept key. Returns 0 on success; on failure it has
 * answered. */
static int ws_check(eio_conn *c, char accept[29]) {
  if (!eio_http_ieq(c->req.method, c->req.method_len, "GET")) {
    ws_abort(c, 405, "Invalid HTTP method", NULL);
    return -1;
  }
  const eio_http_header *up = eio_http_find(&c->req, "upgrade");
  if (!up || !eio_http_ieq(up->value, up->value_len, "websocket")) {
    ws_abort(c, 400, "Invalid Upgrade header", NULL);
    return -1;
  }
  const eio_http_header *key = eio_http_find(&c->req, "sec-websocket-key");
  if (!key || !eio_ws_key_valid(key->value, key->value_len)) {
    ws_abort(c, 400, "Missing or invalid Sec-WebSocket-Key header", NULL);
    return -1;
  }
  const eio_http_header *ver = eio_http_find(&c->req, "sec-websocket-version");
  if (!ver || !(eio_http_ieq(ver->value, ver->value_len, "13") ||
                eio_http_ieq(ver->value, ver->value_len, "8"))) {
    ws_abort(c, 400, "Missing or invalid Sec-WebSocket-Version header",
             "Sec-WebSocket-Version: 13, 8\r\n");
    return -1;
  }
  if (c->srv->o.per_message_deflate && ws_negotiate_deflate(c) != 0) {
    ws_abort(c, 400, "Invalid or unacceptable Sec-WebSocket-Extensions header",
             NULL);
    return -1;
  }
  if (eio_ws_accept_key(key->value, key->value_len, accept) != 0) {
    eio_conn_abort(c);
    return -1;
  }
  return 0;
}

/* Writes the 101; the request head is gone afterwards. */
static int ws_switch(eio_conn *c, const char accept[29]) {
  if (eio_conn_upgrade_ws(c, accept, c->resp_headers) != 0) {
    eio_conn_abort(c);
    return -1;
  }
  return 0;
}

static int ws_accept(eio_conn *c) {
  char accept[29];
  return ws_check(c, accept) == 0 ? ws_switch(c, accept) : -1;
}

/* ----------------------------------------------------------- handshake */

int eio_generate_id(char out[21]) {
  uint8_t r[15];
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = getrandom(r + got, sizeof r - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)n;
  }
  eio_base64_encode(r, sizeof r, out);
  out[20] = '\0';
  for (int i = 0; i < 20; i++) {
    if (out[i] == '/') out[i] = '_';
    else if (out[i] == '+') out[i] = '-';
  }
  return 0;
}

/* Copies the handshake request into one allocation owned by the session. */
static int copy_request(eio_socket *s, eio_conn *c) {
  const eio_http_request *r = &c->req;
  const char *path, *query;
  size_t pl, ql;
  eio_http_split_target(r->target, r->target_len, &path, &pl, &query, &ql);
  size_t nh = r->num_headers;
  size_t sz = 2 * nh * sizeof(char *) + r->method_len + 1 + r->target_len + 1 +
              pl + 1 + ql + 1 + strlen(c->remote_addr) + 1;
  for (size_t i = 0; i < nh; i++)
    sz += r->headers[i].name_len + 1 + r->headers[i].value_len + 1;
  char *m = malloc(sz);
  if (!m) return -1;
  s->req_storage = m;
  const char **names = (const char **)(void *)m;
  const char **values = names + nh;
  char *p = (char *)(values + nh);
#define PUT(dst, src, len)                                                    \
  do {                                                                        \
    memcpy(p, (src), (len));                                                  \
    p[(len)] = '\0';                                                          \
    (dst) = p;                                                                \
    p += (len) + 1;                                                           \
  } while (0)
  PUT(s->req.method, r->method, r->method_len);
  PUT(s->req.url, r->target, r->target_len);
  PUT(s->req.path, path, pl);
  PUT(s->req.query, query, ql);
  PUT(s->req.remote_address, c->remote_addr, strlen(c->remote_addr));
  for (size_t i = 0; i < nh; i++) {
    PUT(names[i], r->headers[i].name, r->headers[i].name_len);
    PUT(values[i], r->headers[i].value, r->headers[i].value_len);
  }
#undef PUT
  s->req.header_names = names;
  s->req.header_values = values;
  s->req.num_headers = nh;
  s->req.remote_port = c->remote_port;
  s->req.secure = c->secure;
  return 0;
}

static eio_socket *sock_new(eio_server *srv, eio_conn *c, int transport) {
  eio_socket *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->srv = srv;
  s->refs = 1; /* the table's */
  s->transport = transport;
  s->ready = SOCK_OPEN;
  eio_timer_init(&s->ping_timer, ping_cb);
  eio_timer_init(&s->timeout_timer, timeout_cb);
  eio_timer_init(&s->upgrade_timer, upgrade_timeout_cb);
  eio_timer_init(&s->check_timer, check_cb);
  eio_timer_init(&s->close_timer, close_timer_cb);
  eio_timer_init(&s->hold_timer, hold_cb);
  s->protocol = 4;
  if (eio_sid_new(srv, s->id) != 0 ||
      copy_request(s, c) != 0 || table_put(srv, s) != 0) {
    s->refs = 1;
    sock_unref(s);
    return NULL;
  }
  return s;
}

static void handshake(eio_server *srv, eio_conn *c, int transport, int proto) {
  if (srv->closing) {
    eio_conn_respond(c, 503, NULL, NULL, 0);
    return;
  }
  char accept[29];
  if (transport == EIO_TRANSPORT_WEBSOCKET && ws_check(c, accept) != 0) return;
  /* The session copies the handshake request before a 101 drops it. */
  eio_socket *s = sock_new(srv, c, transport);
  if (!s) {
    if (transport == EIO_TRANSPORT_WEBSOCKET) eio_conn_abort(c);
    else eio_conn_respond(c, 500, NULL, NULL, 0);
    return;
  }
  sock_ref(s);
  if (proto == 3) {
    char b64[8];
    s->protocol = 3;
    /* Node: supportsBinary = !req._query.b64 (an empty value is false) */
    s->b64 = eio_request_query(&s->req, "b64", b64, sizeof b64) != -1 &&
             b64[0] != '\0';
  }
  if (srv->cookie_on) {
    struct evbuffer *b = evbuffer_new();
    if (b) {
      if (c->resp_headers) evbuffer_add(b, c->resp_headers, strlen(c->resp_headers));
      evbuffer_add_printf(b, "Set-Cookie: %s=%s; Path=%s%s; SameSite=%s\r\n",
                          srv->cookie.name, s->id, srv->cookie.path,
                          srv->cookie.http_only ? "; HttpOnly" : "",
                          srv->cookie.same_site);
      free(c->resp_headers);
      c->resp_headers = evbuf_to_string(b);
      evbuffer_free(b);
    }
  }
  if (transport == EIO_TRANSPORT_WEBSOCKET && ws_switch(c, accept) != 0) {
    table_del(srv, s);
    s->ready = SOCK_CLOSED;
    sock_unref(s); /* the table's */
    sock_unref(s);
    return;
  }
  char open[256];
  int upgrades = transport == EIO_TRANSPORT_POLLING && srv->o.allow_upgrades &&
                 (srv->o.transports & EIO_TRANSPORT_WEBSOCKET);
  /* {"sid":"..","upgrades":[..],"pingInterval":N,"pingTimeout":N,
   * "maxPayload":N}, copied together (at most ~170 bytes: the id is < 24) */
  size_t on = 0;
#define OPUT(str, len) (memcpy(open + on, (str), (len)), on += (len))
#define OLIT(lit) OPUT(lit, sizeof(lit) - 1)
#define ONUM(v)                                                               \
  do {                                                                        \
    char t_[24], *e_ = t_ + sizeof t_, *d_ = e_;                              \
    unsigned long long v_ = (v);                                              \
    do *--d_ = (char)('0' + v_ % 10); while (v_ /= 10);                       \
    OPUT(d_, (size_t)(e_ - d_));                                              \
  } while (0)
  OLIT("{\"sid\":\"");
  OPUT(s->id, strlen(s->id));
  OLIT("\",\"upgrades\":[");
  if (upgrades) OLIT("\"websocket\"");
  OLIT("],\"pingInterval\":");
  ONUM(srv->o.ping_interval_ms);
  OLIT(",\"pingTimeout\":");
  ONUM(srv->o.ping_timeout_ms);
  OLIT(",\"maxPayload\":");
  ONUM(srv->o.max_http_buffer_size);
  OLIT("}");
  open[on] = '\0';
#undef ONUM
#undef OLIT
#undef OPUT
  /* The open packet is queued first; the handshake GET then serves as the
   * first long poll, so its body is exactly what is queued. */
  /* v3: the implicit CONNECT follows at once, so the open packet is a
   * reply the client must read alone; a v4 client speaks first. */
  send_text_flags(s, EIO_OPEN, open, proto == 3 ? EIO_SEND_ALONE : 0);
  attach(c, s);
  if (transport == EIO_TRANSPORT_POLLING) s->poll_get = c;
  else s->ws = c;
  sock_flush(s);
  if (s->protocol == 3) arm(s, &s->timeout_timer, v3_timeout_ms(srv));
  else arm(s, &s->ping_timer, srv->o.ping_interval_ms);
  if (srv->on_connection && s->ready == SOCK_OPEN)
    srv->on_connection(srv, s, srv->on_connection_ud);
  sock_unref(s);
}

/* ------------------------------------------------------------- polling */

typedef struct post_ctx {
  eio_socket *s;
} post_ctx;

static int post_packet(void *arg, const eio_packet *p) {
  post_ctx *x = arg;
  if (x->s->ready == SOCK_CLOSED) return 1;
  if (p->type == EIO_CLOSE) {
    sock_on_close(x->s, "transport close", NULL);
    return 1;
  }
  sock_on_packet(x->s, p);
  return x->s->ready == SOCK_CLOSED ? 1 : 0;
}

static void post_body(eio_conn *c, int status) {
  eio_socket *s = c->sock;
  static const char ok_hdr[] = "Content-Type: text/html\r\ncache-control: no-store\r\n";
  char hdrs[4096];
  snprintf(hdrs, sizeof hdrs, "%s%s", ok_hdr,
           c->resp_headers ? c->resp_headers : "");
  if (!s) { /* the session went away while the body was arriving */
    eio_conn_respond(c, 400, c->resp_headers, NULL, 0);
    return;
  }
  sock_ref(s);
  detach(c);
  if (status == BODY_TOO_LARGE) {
    eio_conn_respond(c, 413, c->resp_headers, NULL, 0);
    sock_unref(s);
    return;
  }
  size_t len = evbuffer_get_length(c->body);
  const uint8_t *data = evbuffer_pullup(c->body, (ev_ssize_t)len);
  uint8_t *scratch = memchr(data, 'b', len)
                         ? malloc(eio_base64_decoded_max(len) + 1)
                         : NULL;
  post_ctx x = {s};
  int r;
  if (s->protocol == 3 && c->body_binary)
    r = eio_v3_payload_decode_binary(data ? data : (const uint8_t *)"", len,
                                     scratch, post_packet, &x);
  else if (s->protocol == 3)
    r = eio_v3_payload_decode_text(data ? data : (const uint8_t *)"", len,
                                   scratch, post_packet, &x);
  else
    r = eio_payload_decode(data ? data : (const uint8_t *)"", len, scratch,
                           post_packet, &x);
  free(scratch);
  /* Node answers "ok" even when the payload was a parse error (a
   * Content-Encoding: gzip body, say: it is never inflated); the session
   * is closed all the same. */
  if (r < 0) sock_on_close(s, "parse error", NULL);
  eio_conn_respond(c, 200, hdrs, "ok", 2);
  sock_unref(s);
}

static void on_poll_request(eio_conn *c, eio_socket *s) {
  if (eio_http_ieq(c->req.method, c->req.method_len, "GET")) {
    if (s->poll_get) {
      /* Node: the overlapping GET gets 400, the session dies ("transport
       * error") and the first GET is answered with a close packet. */
      eio_conn_respond(c, 400, c->resp_headers, NULL, 0);
      sock_on_close(s, "transport error", "overlap from client");
      return;
    }
    attach(c, s);
    s->poll_get = c;
    sock_flush(s);
    return;
  }
  if (eio_http_ieq(c->req.method, c->req.method_len, "POST")) {
    if (s->poll_post) {
      eio_conn_respond(c, 400, c->resp_headers, NULL, 0);
      sock_on_close(s, "transport error", "data request overlap from client");
      return;
    }
    const eio_http_header *ct = eio_http_find(&c->req, "content-type");
    c->body_binary = ct && eio_http_ieq(ct->value, ct->value_len,
                                        "application/octet-stream");
    if (c->body_binary && s->protocol != 3) {
      eio_conn_respond(c, 400, c->resp_headers, NULL, 0);
      sock_on_close(s, "transport error", "invalid content");
      return;
    }
    attach(c, s);
    s->poll_post = c;
    eio_conn_read_body(c, post_body);
    return;
  }
  eio_conn_respond(c, 500, c->resp_headers, NULL, 0);
}

/* ----------------------------------------------------- WebSocket upgrade */

static void on_ws_with_sid(eio_conn *c, eio_socket *s, int transport) {
  if (ws_accept(c) != 0) return;
  if (transport != EIO_TRANSPORT_WEBSOCKET || s->ready != SOCK_OPEN ||
      s->upgrading || s->upgraded || s->transport != EIO_TRANSPORT_POLLING ||
      !s->srv->o.allow_upgrades) {
    eio_conn_ws_close(c, 0);
    return;
  }
  s->upgrading = 1;
  attach(c, s);
  c->ws_probe = 1;
  s->probe = c;
  arm(s, &s->upgrade_timer, s->srv->o.upgrade_timeout_ms);
}

static void probe_message(eio_conn *c, eio_socket *s, int opcode,
                          const uint8_t *data, size_t len) {
  if (opcode == EIO_WS_TEXT && len == 6 && memcmp(data, "2probe", 6) == 0) {
    sio_buf *b = sio_buf_new("probe", 5);
    if (b) eio_conn_ws_send(c, EIO_WS_TEXT, '0' + EIO_PONG, b);
    sio_buf_unref(b);
    arm(s, &s->check_timer, UPGRADE_CHECK_MS);
    upgrade_check(s);
    return;
  }
  if (opcode == EIO_WS_TEXT && len == 1 && data[0] == '0' + EIO_UPGRADE &&
      s->ready != SOCK_CLOSED) {
    disarm(s, &s->upgrade_timer);
    disarm(s, &s->check_timer);
    if (s->poll_get) poll_answer_single(s, '0' + EIO_NOOP);
    s->probe = NULL;
    c->ws_probe = 0;
    s->ws = c; /* the probe's reference moves to the transport */
    s->transport = EIO_TRANSPORT_WEBSOCKET;
    s->upgrading = 0;
    s->upgraded = 1;
    if (s->h.on_upgrade) s->h.on_upgrade(s, s->ud);
    sock_flush(s);
    if (s->ready == SOCK_CLOSING && !s->q_head) close_transport(s);
    else if (s->should_close) close_transport(s);
    return;
  }
  abort_upgrade(s);
}

/* ------------------------------------------------ upcalls from conn.c */

void eio_srv_ws_message(eio_conn *c, int opcode, uint8_t *data, size_t len) {
  eio_socket *s = c->sock;
  sock_ref(s);
  if (c->ws_probe) {
    probe_message(c, s, opcode, data, len);
  } else if (opcode == EIO_WS_BINARY) {
    eio_packet p = {EIO_MESSAGE, 1, data, len};
    if (s->protocol == 3) eio_v3_packet_decode_binary(data, len, &p);
    sock_on_packet(s, &p);
  } else if (s->protocol == 3) {
    uint8_t *scratch = len > 1 && data[0] == 'b'
                           ? malloc(eio_base64_decoded_max(len) + 1)
                           : NULL;
    eio_packet p;
    if (eio_v3_packet_decode_text(data, len, scratch, &p) != 0)
      sock_on_close(s, "parse error", NULL);
    else
      sock_on_packet(s, &p);
    free(scratch);
  } else {
    eio_packet p;
    if (eio_packet_decode_text(data, len, NULL, &p) != 0)
      sock_on_close(s, "parse error", NULL);
    else
      sock_on_packet(s, &p);
  }
  sock_unref(s);
}

void eio_srv_ws_error(eio_conn *c, const char *reason) {
  eio_socket *s = c->sock;
  sock_ref(s);
  if (c->ws_probe) abort_upgrade(s);
  else {
    detach(c); /* the connection is failing already: no close frame */
    sock_on_close(s, "transport error", reason);
  }
  sock_unref(s);
}

void eio_srv_ws_closed(eio_conn *c, int code) {
  (void)code;
  eio_socket *s = c->sock;
  sock_ref(s);
  if (c->ws_probe) abort_upgrade(s);
  else {
    detach(c);
    sock_on_close(s, "transport close", NULL);
  }
  sock_unref(s);
}

void eio_srv_conn_closed(eio_conn *c) {
  eio_socket *s = c->sock;
  sock_ref(s);
  if (c->ws_probe) {
    abort_upgrade(s);
  } else if (s->ws == c) {
    detach(c);
    sock_on_close(s, "transport close", NULL);
  } else if (s->poll_get == c) {
    detach(c);
    sock_on_close(s, "transport error", "poll connection closed prematurely");
  } else if (s->poll_post == c) {
    detach(c);
    sock_on_close(s, "transport error",
                  "data request connection closed prematurely");
  } else {
    detach(c);
  }
  sock_unref(s);
}

void eio_srv_conn_drained(eio_conn *c) {
  if (c->sock && c->sock->ready != SOCK_CLOSED) eio_budget_account(c->sock);
}

void eio_srv_sock_release(eio_socket *s) { sock_unref(s); }

/* ------------------------------------------------------------- routing */

static int has_ctl(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 1;
  }
  return 0;
}

static void user_request(eio_server *srv, eio_conn *c) {
  if (c->is_upgrade) {
    static const char r400[] =
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r400, sizeof r400 - 1);
    return;
  }
  struct eio_http_response res = {404, NULL, NULL};
  int handled = 0;
  eio_socket tmp; /* borrow the request copier for a transient view */
  memset(&tmp, 0, sizeof tmp);
  if (srv->on_request && copy_request(&tmp, c) == 0) {
    res.headers = evbuffer_new();
    if (res.headers) {
      res.status = 200;
      handled = srv->on_request(&tmp.req, &res, srv->on_request_ud);
    }
  }
  free(tmp.req_storage);
  if (!handled) {
    static const char nf[] = "Not Found";
    eio_conn_respond(c, 404, "Content-Type: text/plain\r\n", nf, sizeof nf - 1);
  } else {
    char *h = evbuf_to_string(res.headers);
    size_t len = res.body ? sio_buf_len(res.body) : 0;
    eio_conn_respond(c, res.status, h, res.body ? sio_buf_data(res.body) : NULL,
                     len);
    free(h);
  }
  if (res.headers) evbuffer_free(res.headers);
  sio_buf_unref(res.body);
}

void eio_response_status(eio_http_response *res, int status) {
  res->status = status;
}
int eio_response_header(eio_http_response *res, const char *name,
                        const char *value) {
  return evbuffer_add_printf(res->headers, "%s: %s\r\n", name, value) < 0
             ? EIO_ERR_NOMEM
             : EIO_OK;
}
void eio_response_body(eio_http_response *res, sio_buf *body) {
  sio_buf_unref(res->body);
  res->body = body ? sio_buf_ref(body) : NULL;
}

void eio_srv_request(eio_conn *c) {
  eio_server *srv = c->srv;
  const char *path, *query;
  size_t pl, ql;
  eio_http_split_target(c->req.target, c->req.target_len, &path, &pl, &query,
                        &ql);
  size_t mp = strlen(srv->path);
  free(c->resp_headers);
  c->resp_headers = NULL;
  /* Outside the Engine.IO path, and below it but not the endpoint itself
   * (e.g. /socket.io/socket.io.min.js, which Node's serveClient answers
   * before engine.io sees it), requests go to the application's handler. */
  if (pl < mp || memcmp(path, srv->path, mp) != 0 ||
      (pl > mp && srv->on_request && !c->is_upgrade)) {
    user_request(srv, c);
    return;
  }
  if (eio_handover(c, query, ql)) return; /* a session of another loop */
  /* CORS runs first, like the cors middleware in Node. */
  int preflight = srv->cors_on && !c->is_upgrade &&
                  eio_http_ieq(c->req.method, c->req.method_len, "OPTIONS");
  if (srv->cors_on) {
    struct evbuffer *b = evbuffer_new();
    if (!b) {
      eio_conn_abort(c);
      return;
    }
    cors_headers(srv, c, b, preflight);
    c->resp_headers = evbuf_to_string(b);
    evbuffer_free(b);
  }
  if (preflight) {
    eio_conn_respond(c, 204, c->resp_headers, NULL, 0);
    return;
  }
  char transport[16], sid[64], eio[8];
  long tl = eio_http_query_get(query, ql, "transport", transport, sizeof transport);
  long sl = eio_http_query_get(query, ql, "sid", sid, sizeof sid);
  long el = eio_http_query_get(query, ql, "EIO", eio, sizeof eio);
  int t = 0;
  if (tl > 0 && strcmp(transport, "polling") == 0) t = EIO_TRANSPORT_POLLING;
  else if (tl > 0 && strcmp(transport, "websocket") == 0)
    t = EIO_TRANSPORT_WEBSOCKET;
  if (!(t & srv->o.transports)) {
    fail(c, ERR_UNKNOWN_TRANSPORT, NULL);
    return;
  }
  const eio_http_header *origin = eio_http_find(&c->req, "origin");
  if (origin && has_ctl(origin->value, origin->value_len)) {
    fail(c, ERR_BAD_REQUEST, NULL);
    return;
  }
  /* Node: EIO "4" is v4, anything else v3 (allowed with allowEIO3). */
  int proto = el == 1 && eio[0] == '4' ? 4 : srv->o.allow_eio3 ? 3 : 0;
  if (sl > 0 || sl == -2) {
    eio_socket *s = sl > 0 ? table_get(srv, sid) : NULL;
    if (!s || s->ready == SOCK_CLOSED) {
      fail(c, ERR_UNKNOWN_SID, NULL);
      return;
    }
    if (!c->is_upgrade && s->transport != t) {
      fail(c, ERR_BAD_REQUEST, NULL);
      return;
    }
    if (proto != (int)s->protocol) {
      fail(c, ERR_BAD_REQUEST, NULL);
      return;
    }
    sock_ref(s);
    if (c->is_upgrade) on_ws_with_sid(c, s, t);
    else on_poll_request(c, s);
    sock_unref(s);
    return;
  }
  if (!eio_http_ieq(c->req.method, c->req.method_len, "GET")) {
    fail(c, ERR_BAD_HANDSHAKE_METHOD, NULL);
    return;
  }
  if (t == EIO_TRANSPORT_WEBSOCKET && !c->is_upgrade) {
    fail(c, ERR_BAD_REQUEST, NULL);
    return;
  }
  if (srv->o.allow_request_async) {
    if (eio_allow_start(c, t, el == 1 ? eio : "") != 0) eio_conn_abort(c);
    return;
  }
  if (srv->o.allow_request) {
    eio_socket tmp;
    memset(&tmp, 0, sizeof tmp);
    if (copy_request(&tmp, c) != 0) {
      eio_conn_abort(c);
      return;
    }
    const char *msg = NULL;
    int ok = srv->o.allow_request(&tmp.req, &msg, srv->o.allow_request_user_data);
    if (!ok) {
      fail(c, ERR_FORBIDDEN, msg);
      free(tmp.req_storage);
      return;
    }
    free(tmp.req_storage);
  }
  eio_srv_allowed(c, t, el == 1 ? eio : "");
}

int eio_srv_copy_request(eio_socket *s, eio_conn *c) { return copy_request(s, c); }

void eio_srv_refused(eio_conn *c, const char *message) {
  fail(c, ERR_FORBIDDEN, message);
}

/* The handshake request passed allowRequest. Node: EIO "4" is v4, anything
 * else v3 (allowed with allowEIO3). */
void eio_srv_allowed(eio_conn *c, int t, const char *eio) {
  eio_server *srv = c->srv;
  int proto = !strcmp(eio, "4") ? 4 : srv->o.allow_eio3 ? 3 : 0;
  if (!proto) {
    fail(c, ERR_UNSUPPORTED_PROTOCOL_VERSION, NULL);
    return;
  }
  if (c->is_upgrade && t != EIO_TRANSPORT_WEBSOCKET) {
    /* An upgrade request for the polling transport: ws accepts, then the
     * socket is closed (Node: transport does not handle upgrades). */
    if (ws_accept(c) == 0) eio_conn_ws_close(c, 0);
    return;
  }
  handshake(srv, c, t, proto);
}

/* -------------------------------------------------------------- server */

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg) {
  (void)l;
  eio_server *srv = arg;
  if (srv->closing) {
    evutil_closesocket(fd);
    return;
  }
  /* As Node's http server (noDelay: true): a small frame written after a
   * pause (EIO_SEND_ALONE) must not wait for the peer's delayed ACK. */
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  eio_conn *c = eio_conn_new(srv, fd, sa, salen);
  if (!c) return;
  if (eio_guard_admit(srv, c->remote_addr) != 0) eio_conn_abort(c);
  else c->admitted = 1;
}

static void accept_error_cb(struct evconnlistener *l, void *arg) {
  (void)l;
  eio_guard_accept_error(arg); /* EMFILE and friends: back off */
}

int eio_rep_listen(eio_server *srv, const char *host, uint16_t port,
                   int reuseport) {
  struct sockaddr_storage ss;
  int sl;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    sl = sizeof *in4;
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    sl = sizeof *in6;
  } else {
    return EIO_ERR_INVALID;
  }
  srv->listener = evconnlistener_new_bind(
      srv->base, accept_cb, srv,
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
          (reuseport ? LEV_OPT_REUSEABLE_PORT : 0),
      -1,
      (struct sockaddr *)&ss, sl);
  if (!srv->listener) return EIO_ERR_SYSTEM;
  evconnlistener_set_error_cb(srv->listener, accept_error_cb);
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  if (getsockname(evconnlistener_get_fd(srv->listener),
                  (struct sockaddr *)&bound, &bl) == 0) {
    if (bound.ss_family == AF_INET)
      srv->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    else
      srv->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
  }
  return EIO_OK;
}

int eio_rep_tls_load(eio_server *srv, eio_tls_ctx **out) {
  last_error[0] = '\0';
  if (!srv->tls) {
    snprintf(last_error, sizeof last_error, "this server has no TLS");
    return EIO_ERR_INVALID;
  }
  *out = eio_tls_ctx_new(&srv->tls_opts, last_error, sizeof last_error);
  return *out ? EIO_OK : EIO_ERR_INVALID;
}

void eio_rep_close(eio_server *srv) {
  srv->closing = 1;
  if (srv->budget.sweep) evtimer_del(srv->budget.sweep);
  if (srv->listener) {
    evconnlistener_free(srv->listener);
    srv->listener = NULL;
  }
  /* Every session ends now (Node: close(true), discarding the transport);
   * each leaves the table as it closes. */
  size_t it;
  sio_map_entry *e;
  while ((e = sio_map_first(&srv->sessions, &it))) {
    eio_socket *s = e->value;
    if (s->ready == SOCK_CLOSED) { /* not expected: never leave it listed */
      table_del(srv, s);
      sock_unref(s);
      continue;
    }
    sock_on_close(s, "forced close", NULL);
  }
  /* Idle HTTP connections go; busy ones finish writing and then close. */
  for (eio_conn *c = srv->conns; c; c = c->next) {
    if (c->state == CONN_DEAD || c->close_after_write) continue;
    if (c->state == CONN_WS) {
      eio_conn_ws_close(c, 0);
    } else {
      c->keep_alive = 0;
      if (c->state == CONN_HEAD)
        eio_conn_write_raw_close(c, "", 0);
    }
  }
}

void eio_rep_teardown(eio_server *srv) {
  eio_rep_close(srv);
  eio_conn_free_all(srv);
  sio_map_clear(&srv->sessions);
  eio_budget_free(srv);
  eio_guard_free(srv);
  eio_shutdown_free(srv);
  eio_timers_free(&srv->timers);
  eio_deflater_free(srv->deflater_http);
  eio_deflater_free(srv->deflater_ws);
  srv->deflater_http = srv->deflater_ws = NULL;
}

void eio_rep_release(eio_server *srv) {
  free(srv->path);
  eio_tls_ctx_unref(srv->tls);
  free((void *)srv->cors.origins);
  for (size_t i = 0; i < srv->n_cors_strings; i++) free(srv->cors_strings[i]);
  free(srv->cors_strings);
  free(srv);
}
