/*
 * An Engine.IO session (eio_socket) and its life: the session table, the
 * packet queue and its flush to whichever transport is attached, the
 * heartbeat and upgrade timers, closing, incoming packets, and the public
 * eio_socket_* API. Transports (poll_transport.c, ws_transport.c) attach
 * connections to a session and hand it packets.
 *
 * Reference behaviour: Node engine.io 6.6 (../shared/spec/engineio-v4.md).
 */
#include "srv_internal.h"

#include "base64.h"
#include "buf.h"
#include "packet.h"
#include "packet_v3.h"
#include "polling_v3.h"
#include "req_pack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- session table */

eio_socket *table_get(eio_server *srv, const char *id) {
  return sio_map_get(&srv->sessions, id);
}

int table_put(eio_server *srv, eio_socket *s) {
  if (sio_map_put(&srv->sessions, s->id, s) < 0) return -1;
  s->in_map = 1;
  if (srv->grp) atomic_fetch_add(&srv->grp->clients, 1);
  return 0;
}

void table_del(eio_server *srv, eio_socket *s) {
  if (sio_map_del(&srv->sessions, s->id) && srv->grp)
    atomic_fetch_sub(&srv->grp->clients, 1);
  s->in_map = 0;
}

/* ------------------------------------------------------------- sessions */

/* The session's deadlines live on the server's timer heap (timers.c). */
void arm(eio_socket *s, eio_timer *t, uint64_t ms) {
  eio_timer_arm(&s->srv->timers, t, ms);
}
void disarm(eio_socket *s, eio_timer *t) {
  eio_timer_cancel(&s->srv->timers, t);
}

void arm_aux(eio_socket *s, size_t off, uint64_t ms) {
  eio_sock_aux *a = s->aux;
  if (!a) {
    if (!(a = malloc(sizeof *a))) return; /* as a timer the heap cannot hold */
    a->s = s;
    eio_timer_init(&a->upgrade_timer, upgrade_timeout_cb);
    eio_timer_init(&a->check_timer, check_cb);
    eio_timer_init(&a->close_timer, close_timer_cb);
    s->aux = a;
  }
  arm(s, (eio_timer *)(void *)((char *)a + off), ms);
}
void disarm_aux(eio_socket *s, size_t off) {
  if (s->aux) disarm(s, (eio_timer *)(void *)((char *)s->aux + off));
}
/* Frees s->aux when none of its timers is armed. Never from one of its
 * own callbacks. */
void trim_aux(eio_socket *s) {
  eio_sock_aux *a = s->aux;
  if (!a || eio_timer_armed(&a->upgrade_timer) || eio_timer_armed(&a->check_timer) ||
      eio_timer_armed(&a->close_timer))
    return;
  free(a);
  s->aux = NULL;
}
static uint64_t alone_ms(const eio_server *srv) {
  return srv->o.alone_wait_ms ? (uint64_t)srv->o.alone_wait_ms : 1000;
}
uint64_t v3_timeout_ms(const eio_server *srv) {
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
__attribute__((noinline)) void sock_unref(eio_socket *s) {
  if (--s->refs) return;
  queue_clear(s);
  eio_timers *w = &s->srv->timers;
  eio_timer_cancel(w, &s->hb_timer);
  eio_timer_cancel(w, &s->hold_timer);
  if (s->aux) {
    eio_timer_cancel(w, &s->aux->upgrade_timer);
    eio_timer_cancel(w, &s->aux->check_timer);
    eio_timer_cancel(w, &s->aux->close_timer);
    free(s->aux);
  }
  free_request(s);
  free(s);
}

/* Binds conn c to session s (one reference held by the connection). */
void attach(eio_conn *c, eio_socket *s) {
  c->sock = s;
  sock_ref(s);
}

/* Unbinds c from its session, wherever the session refers to it. */
void detach(eio_conn *c) {
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
      !s->held && !s->ping_owed && !(flags & EIO_SEND_ALONE)) {
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
  /* A pending GET (plain) is answered at the end of the loop turn with
   * everything queued until then (eio_srv_conn_drained): one response for
   * a burst of broadcasts. Not a packet that may be compressed: alone, its
   * compressed response is made once and shared (sock_flush). */
  eio_server *srv = s->srv;
  size_t plen = data ? sio_buf_len(data) : 0;
  if (binary) plen = eio_base64_encoded_len(plen);
  int may_compress = srv->o.http_compression && !(flags & EIO_SEND_NO_COMPRESS) &&
                     1 + plen >= srv->o.http_compression_threshold;
  if (r == EIO_OK && !(s->transport == EIO_TRANSPORT_POLLING && s->poll_get &&
                       !may_compress && eio_conn_defer(s->poll_get)))
    sock_flush(s);
  return r;
}

static int send_packet(eio_socket *s, int type, int binary, sio_buf *data) {
  return send_packet_flags(s, type, binary, data, 0);
}

int send_text_flags(eio_socket *s, int type, const char *text,
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

/* After an ALONE frame, before the next: a ping, and what follows waits
 * for its pong. The client answers the ping while it handles the read that
 * holds it, which is the ALONE frame's read or a later one, so the next
 * frames come in a later read (see EIO_SEND_ALONE). The timer bounds the
 * wait. 1 when held (0: the ping could not be queued; nothing waits). */
static int hold_for_pong(eio_socket *s, eio_conn *c) {
  s->ping_owed = 0;
  if (eio_conn_ws_send(c, EIO_WS_PING, ALONE_PING, NULL) != 0) return 0;
  s->held = 1;
  arm(s, &s->hold_timer, alone_ms(s->srv));
  return 1;
}

static void unref_cleanup(const void *data, size_t len, void *arg) {
  (void)data;
  (void)len;
  sio_buf_unref(arg);
}

/* ------------------------------------------------ WebSocket compression */

eio_deflater *eio_srv_ws_deflater(void *arg) {
  eio_server *srv = arg;
  if (!srv->deflater_ws)
    srv->deflater_ws = eio_deflater_new(srv->pmd_opts.level);
  return srv->deflater_ws;
}

/* Answers the pending GET with a single packet ("6" noop or "1" close). */
void poll_answer_single(eio_socket *s, char type) {
  if (s->q_head && s->ready != SOCK_CLOSED)
    sock_flush(s); /* packets deferred for it go first, as if sent at once */
  eio_conn *c = s->poll_get;
  if (!c) return;
  struct evbuffer *b = evbuffer_new();
  if (b) {
    if (s->protocol == 3) evbuffer_add(b, "1:", 2); /* v3 length header */
    evbuffer_add(b, &type, 1);
    detach(c);
    eio_poll_respond(c, b);
    evbuffer_free(b);
  } else {
    detach(c);
    eio_conn_abort(c);
  }
}

void fire_drain(eio_socket *s) {
  if (s->h.on_drain && s->ready != SOCK_CLOSED) s->h.on_drain(s, s->ud);
}

void sock_flush(eio_socket *s) {
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
      int e = eio_poll_encoding(c, 1 + (q->binary ? eio_base64_encoded_len(n) : n));
      eio_deflater *d = e ? eio_poll_deflater(s->srv) : NULL;
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
      bin = eio_poll_encode(s, body, closing);
    if (!body || bin < 0) {
      if (body) evbuffer_free(body);
      queue_clear(s);
      sock_on_close(s, "transport error", "out of memory");
      return;
    }
    queue_clear(s);
    sock_ref(s);
    detach(c);
    eio_poll_respond_enc(c, body, enc, bin);
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
  if (s->ping_owed && hold_for_pong(s, c)) return;
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
    if (alone && s->srv->o.alone_wait_ms >= 0) {
      /* What follows waits for a ping's pong (hold_for_pong); the ping
       * goes only once something follows, so a client that gets nothing
       * more (a connect and nothing else yet) is not asked for a pong. */
      s->ping_owed = 1;
      if (s->q_head && hold_for_pong(s, c)) break;
    }
  }
  if (s->q_head) return;
  sock_ref(s);
  fire_drain(s);
  if (s->close_on_drain && s->ready == SOCK_CLOSING) close_transport(s);
  sock_unref(s);
}

void eio_srv_ws_pong(void *arg, eio_conn *c, const uint8_t *data,
                     size_t len) {
  (void)arg;
  eio_socket *s = c->sock;
  if (s->ws != c || !s->held || len != 1 || data[0] != ALONE_PING) return;
  sock_ref(s);
  disarm(s, &s->hold_timer);
  s->held = 0;
  sock_flush(s);
  sock_unref(s);
}

void hold_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_socket, hold_timer);
  sock_ref(s);
  s->held = 0;
  sock_flush(s);
  sock_unref(s);
}

void hb_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_socket, hb_timer);
  sock_ref(s);
  if (s->hb_wait) {
    sock_on_close(s, "ping timeout", NULL);
  } else {
    send_packet(s, EIO_PING, 0, NULL);
    if (s->ready != SOCK_CLOSED) arm_wait(s, s->srv->o.ping_timeout_ms);
  }
  sock_unref(s);
}

void abort_upgrade(eio_socket *s) {
  eio_conn *p = s->probe;
  s->upgrading = 0;
  DISARM_AUX(s, upgrade_timer);
  DISARM_AUX(s, check_timer);
  if (p) {
    detach(p);
    eio_conn_ws_close(p, 0);
  }
}

void upgrade_timeout_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_sock_aux, upgrade_timer)->s;
  sock_ref(s);
  abort_upgrade(s);
  sock_unref(s);
}

/* While an upgrade probe is on, release the pending GET with a noop so
 * the client can pause polling (Node retries this every 100 ms). The table
 * still holds the session here, so no extra reference is needed. */
void upgrade_check(eio_socket *s) {
  if (s->ready != SOCK_CLOSED && s->transport == EIO_TRANSPORT_POLLING &&
      s->poll_get && !s->q_head)
    poll_answer_single(s, '0' + EIO_NOOP);
}

void check_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_sock_aux, check_timer)->s;
  arm(s, t, UPGRADE_CHECK_MS); /* periodic while the probe is on */
  upgrade_check(s);
}

void close_timer_cb(eio_timer *t) {
  eio_socket *s = EIO_TIMER_OWNER(t, eio_sock_aux, close_timer)->s;
  sock_ref(s);
  sock_on_close(s, "forced close", NULL);
  sock_unref(s);
}

/*
 * The session ends (Node's Socket#onClose): timers stop, the transports are
 * released (a pending GET gets "1", or "6" when the client itself closed),
 * the session leaves the table, then the user hears of it.
 */
void sock_on_close(eio_socket *s, const char *reason, const char *desc) {
  if (s->ready == SOCK_CLOSED) return;
  sock_ref(s);
  /* Packets deferred for a pending GET go first, as if sent at once. */
  if (s->transport == EIO_TRANSPORT_POLLING && s->poll_get && s->q_head)
    sock_flush(s);
  if (s->ready == SOCK_CLOSED) {
    sock_unref(s);
    return;
  }
  s->ready = SOCK_CLOSED;
  eio_budget_forget(s);
  disarm(s, &s->hb_timer);
  DISARM_AUX(s, close_timer);
  disarm(s, &s->hold_timer);
  s->held = 0;
  s->ping_owed = 0;
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

void close_transport(eio_socket *s) {
  s->close_on_drain = 0;
  if (s->transport == EIO_TRANSPORT_WEBSOCKET) {
    sock_on_close(s, "forced close", NULL);
  } else if (s->poll_get && s->q_head) { /* deferred packets first */
    sock_flush(s);
    if (s->ready != SOCK_CLOSED) close_transport(s);
  } else if (s->poll_get) {
    s->should_close = 1;
    sock_flush(s);
  } else {
    s->should_close = 1;
    ARM_AUX(s, close_timer, POLL_CLOSE_TIMEOUT_MS);
  }
}

void eio_socket_close(eio_socket *s) {
  if (s->ready != SOCK_OPEN) return;
  sock_ref(s);
  s->ready = SOCK_CLOSING;
  s->ping_owed = 0;
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
void sock_on_packet(eio_socket *s, const eio_packet *p) {
  if (s->ready != SOCK_OPEN) return;
  switch (p->type) {
  case EIO_PING:
    if (s->protocol == 3) { /* v3: the client pings, the server answers */
      arm_wait(s, v3_timeout_ms(s->srv));
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
    arm_ping(s, s->srv->o.ping_interval_ms);
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
/* The view of the packed request is built on first use (one allocation,
 * kept for the session's life); out of memory: an empty request. */
const eio_request *eio_socket_request(const eio_socket *s) {
  static const eio_request empty = {"", "", "", "", "", 0, 0, 0, NULL, NULL};
  eio_socket *m = (eio_socket *)s;
  if (!m->req && m->req_blk) m->req = eio_rqp_expand(m->req_blk);
  return m->req ? m->req : &empty;
}
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

/* ------------------ connection events of a session (route.c's table) */

void eio_srv_conn_closed(void *arg, eio_conn *c) {
  (void)arg;
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

void eio_srv_conn_drained(void *arg, eio_conn *c) {
  (void)arg;
  eio_socket *s = c->sock;
  if (!s || s->ready == SOCK_CLOSED) return;
  sock_ref(s);
  if (s->poll_get == c && s->q_head) sock_flush(s); /* eio_conn_defer */
  if (c->sock == s && s->ready != SOCK_CLOSED) eio_budget_account(s);
  sock_unref(s);
}

void eio_srv_sock_release(eio_socket *s) { sock_unref(s); }
