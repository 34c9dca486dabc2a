/*
 * The Engine.IO handshake: session ids, the copy of the handshake request
 * a session keeps, and a new session on polling or WebSocket.
 */
#include "srv_internal.h"

#include "base64.h"
#include "buf.h"
#include "packet.h"
#include "packet_v3.h"
#include "polling_v3.h"
#include "req_pack.h"
#include "rand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- handshake */

int eio_generate_id(char out[21]) {
  uint8_t r[15];
  if (eio_rand_bytes(r, sizeof r) != 0) return -1;
  eio_base64_encode(r, sizeof r, out);
  out[20] = '\0';
  for (int i = 0; i < 20; i++) {
    if (out[i] == '/') out[i] = '_';
    else if (out[i] == '+') out[i] = '-';
  }
  return 0;
}

/* Packs the handshake request into one allocation owned by the session
 * (req_pack.h); its eio_request view is built when first asked for. */
int copy_request(eio_socket *s, eio_conn *c) {
  s->req = NULL;
  s->req_blk = eio_rqp_pack(&c->req, c->remote_addr, c->remote_port, c->secure);
  return s->req_blk ? 0 : -1;
}

void free_request(eio_socket *s) {
  free(s->req);
  free(s->req_blk);
  s->req = NULL;
  s->req_blk = NULL;
}

static eio_socket *sock_new(eio_server *srv, eio_conn *c, int transport) {
  eio_socket *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->srv = srv;
  s->refs = 1; /* the table's */
  s->transport = transport;
  s->ready = SOCK_OPEN;
  eio_timer_init(&s->hb_timer, hb_cb);
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

void handshake(eio_server *srv, eio_conn *c, int transport, int proto) {
  if (srv->closing) {
    eio_conn_respond(c, 503, NULL, NULL, 0);
    return;
  }
  char accept[29];
  if (transport == EIO_TRANSPORT_WEBSOCKET && eio_wsh_check(c, accept) != 0) return;
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
    s->b64 = eio_request_query(eio_socket_request(s), "b64", b64, sizeof b64) != -1 &&
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
  if (transport == EIO_TRANSPORT_WEBSOCKET && eio_wsh_switch(c, accept) != 0) {
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
  if (s->protocol == 3) arm_wait(s, v3_timeout_ms(srv));
  else arm_ping(s, srv->o.ping_interval_ms);
  if (srv->on_connection && s->ready == SOCK_OPEN)
    srv->on_connection(srv, s, srv->on_connection_ud);
  sock_unref(s);
}
