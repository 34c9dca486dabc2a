/*
 * The polling transport of a session: a POST body decoded into packets,
 * and a GET answered with the queue or held as the pending long poll.
 */
#include "srv_internal.h"

#include "base64.h"
#include "buf.h"
#include "packet.h"
#include "packet_v3.h"
#include "polling_v3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void on_poll_request(eio_conn *c, eio_socket *s) {
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
