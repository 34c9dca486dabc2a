/*
 * Long-polling responses: the v4 payload encoding of a session's queue
 * (records joined with 0x1e, binary as base64; large payloads shared by
 * reference), HTTP compression as Node's httpCompression, and the response
 * itself.
 */
#include "internal.h"

#include "buf.h"

#include <stdlib.h>
#include <string.h>

static void unref_cleanup(const void *data, size_t len, void *arg) {
  (void)data;
  (void)len;
  sio_buf_unref(arg);
}

/* ---------------------------------------------------- HTTP compression */

eio_deflater *eio_poll_deflater(eio_server *srv) {
  if (!srv->deflater_http) srv->deflater_http = eio_deflater_new(-1);
  return srv->deflater_http;
}

/* How a polling response of n bytes to request c goes (Node's
 * httpCompression: threshold, then Accept-Encoding; several header lines
 * count as one joined with commas). */
int eio_poll_encoding(eio_conn *c, size_t n) {
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
  eio_deflater *d = eio_poll_deflater(srv);
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
int eio_poll_encode(eio_socket *s, struct evbuffer *out, int add_close) {
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
void eio_poll_respond_enc(eio_conn *c, struct evbuffer *body, int enc,
                          int binary) {
  const char *base = binary
      ? "Content-Type: application/octet-stream\r\ncache-control: no-store\r\n"
      : "Content-Type: text/plain; charset=UTF-8\r\ncache-control: no-store\r\n";
  struct evbuffer *zbody = NULL;
  if (enc < 0) {
    enc = eio_poll_encoding(c, evbuffer_get_length(body));
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

void eio_poll_respond(eio_conn *c, struct evbuffer *body) {
  eio_poll_respond_enc(c, body, -1, 0);
}
