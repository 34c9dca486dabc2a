/*
 * One TCP connection of the HTTP front door: request heads and bodies, the
 * responses, keep-alive, the switch to WebSocket and the frame I/O after
 * it, timeouts, and lingering close. It knows nothing of Engine.IO: each
 * complete request head, WebSocket message, and end goes up through the
 * server's struct eio_conn_events (internal.h; route.c's table), whose
 * request entry answers through eio_conn_respond* or keeps it pending.
 *
 * Lifetime: a connection is never freed inside one of its own callbacks.
 * conn_die() marks it dead; it is freed when the outermost callback on the
 * stack returns (in_cb reaches 0).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn_internal.h"

static void destroy(eio_conn *c) {
  eio_server *srv = c->srv;
  if (c->allow) srv->conn_ev->gone(srv->conn_ev_arg, c);
  if (c->admitted && c->admit_srv && c->admit_srv != srv)
    eio_handover_release(c->admit_srv, c->remote_addr);
  else if (c->admitted)
    eio_guard_release(srv, c->remote_addr);
  eio_guard_fresh_del(srv, c);
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  conn_ext *x = X(c);
  if (c->bev) bufferevent_free(c->bev);
  if (x->raw) event_free(x->raw);
  if (x->wev) event_free(x->wev);
  if (x->rin) evbuffer_free(x->rin);
  if (x->rout) evbuffer_free(x->rout);
  if (x->fd >= 0) evutil_closesocket(x->fd);
  eio_timer_cancel(&srv->timers, &c->timer);
  if (c->body) evbuffer_free(c->body);
  free(c->head);
  free(c->headers);
  free(c->ws_msg);
  eio_inflater_free(c->inflater);
  free(c->resp_headers);
  free(c);
}

void leave(eio_conn *c) {
  if (--c->in_cb == 0 && c->state == CONN_DEAD) destroy(c);
}

/* Ends the connection. notify: tell the layer above (events.closed), which detaches any session
 * from it, since the peer (not the server) ended it. */
void conn_die(eio_conn *c, int notify) {
  if (c->state == CONN_DEAD) return;
  enter(c);
  if (notify && c->sock) c->srv->conn_ev->closed(c->srv->conn_ev_arg, c);
  c->state = CONN_DEAD;
  if (c->bev) bufferevent_disable(c->bev, EV_READ | EV_WRITE);
  if (X(c)->raw) event_del(X(c)->raw);
  if (X(c)->wev) event_del(X(c)->wev);
  eio_timer_cancel(&c->srv->timers, &c->timer);
  leave(c);
}

void eio_conn_abort(eio_conn *c) { conn_die(c, 0); }

void eio_conn_set_events(eio_server *srv, const struct eio_conn_events *ev,
                         void *arg) {
  srv->conn_ev = ev;
  srv->conn_ev_arg = arg;
}

void set_timer(eio_conn *c, enum timer_mode m) {
  eio_server *srv = c->srv;
  X(c)->tm = m;
  uint64_t ms = 0;
  switch (m) {
  case TM_NONE:
    eio_timer_cancel(&srv->timers, &c->timer);
    return;
  case TM_REQUEST: /* a head: headersTimeout; a body: requestTimeout */
    ms = c->state == CONN_BODY ? srv->o.http_request_timeout_ms
                               : srv->o.http_headers_timeout_ms;
    break;
  case TM_KEEPALIVE:
    ms = srv->o.http_keepalive_timeout_ms;
    break;
  case TM_LINGER:
    ms = LINGER_MS;
    break;
  case TM_WS_CLOSE:
    ms = WS_CLOSE_WAIT_MS;
    break;
  case TM_FLUSH:
    ms = FLUSH_POLL_MS;
    break;
  }
  eio_timer_arm(&srv->timers, &c->timer, ms);
}

/* inet_ntop's dotted quad (glibc's goes through sprintf: about 5% of a
 * connect's instructions). out: at least 16 bytes. */
static void ipv4_text(const struct in_addr *a, char *out) {
  const uint8_t *b = (const uint8_t *)&a->s_addr;
  char *o = out;
  for (int i = 0; i < 4; i++) {
    unsigned v = b[i];
    if (v >= 100) *o++ = (char)('0' + v / 100);
    if (v >= 10) *o++ = (char)('0' + v / 10 % 10);
    *o++ = (char)('0' + v % 10);
    *o++ = i < 3 ? '.' : '\0';
  }
}

/* A connection over fd; mt: a TLS session handed over from another loop
 * (taken: released on failure). */
static eio_conn *conn_new(eio_server *srv, evutil_socket_t fd,
                          const struct sockaddr *sa, eio_tls_moved *mt) {
  conn_full *f = calloc(1, sizeof *f);
  if (!f) {
    if (mt) eio_tls_moved_free(mt);
    evutil_closesocket(fd);
    return NULL;
  }
  eio_conn *c = &f->c;
  c->srv = srv;
  /* Plain: the connection owns the socket and reads and writes it itself
   * ("raw", conn_io.c: no bufferevent); TLS: the bufferevents own it. */
  c->bev = NULL;
  f->x.fd = fd;
  if (srv->tls || mt)
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (mt) {
    f->x.tls = mt->st;
    if (c->bev) c->bev = eio_tls_adopt(srv->tls, mt, c->bev);
    else eio_tls_moved_free(mt);
    c->secure = 1;
    fd = c->bev ? -1 : fd;
    f->x.fd = -1;
  } else if (c->bev && srv->tls) {
    c->bev = eio_tls_wrap(srv->tls, c->bev, &f->x.tls); /* frees the socket's on failure */
    c->secure = 1;
    fd = -1;
    f->x.fd = -1;
  }
  eio_timer_init(&c->timer, timer_cb);
  if (c->bev ? 0 : (srv->tls || mt || raw_open(c) != 0)) {
    if (fd >= 0) evutil_closesocket(fd);
    free(f);
    return NULL;
  }
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    ipv4_text(&in->sin_addr, c->remote_addr);
    c->remote_port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, c->remote_addr,
              sizeof c->remote_addr);
    c->remote_port = ntohs(in6->sin6_port);
  }
  c->next = srv->conns;
  if (c->next) c->next->prev = c;
  srv->conns = c;
  c->state = CONN_HEAD;
  if (c->bev) {
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_WATER);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  }
  set_timer(c, TM_REQUEST);
  eio_conn *oldest = eio_guard_fresh_add(srv, c);
  if (oldest) {
    eio_guard_fresh_del(srv, oldest);
    conn_die(oldest, 1);
  }
  return c;
}

eio_conn *eio_conn_new(eio_server *srv, evutil_socket_t fd,
                       const struct sockaddr *sa, int salen) {
  (void)salen;
  return conn_new(srv, fd, sa, NULL);
}

void eio_conn_free_all(eio_server *srv) {
  if (srv->raw_in) evbuffer_free(srv->raw_in);
  srv->raw_in = NULL;
  free(srv->raw_buf);
  srv->raw_buf = NULL;
  if (srv->flush_ev) event_free(srv->flush_ev);
  srv->flush_ev = NULL;
  srv->flush_list = NULL; /* its connections are freed below */
  while (srv->conns) {
    eio_conn *c = srv->conns;
    /* Sessions were closed first, so nothing refers to c any more. */
    c->sock = NULL;
    c->state = CONN_DEAD;
    c->in_cb = 0;
    destroy(c);
  }
}

/* Everything not yet handed to the kernel: under TLS the encrypted
 * records below the filter count too, else a peer that never reads a
 * wss connection would never reach its output budget. */
size_t eio_conn_output_len(const eio_conn *c) {
  return c->state != CONN_DEAD ? unsent((eio_conn *)c) : 0;
}

/* Ends the connection at once: the output it holds is released now and
 * the socket is reset (SO_LINGER 0), so neither this process nor the
 * kernel keeps bytes for a peer that does not read. */
void eio_conn_kill(eio_conn *c) {
  if (c->state == CONN_DEAD) return;
  enter(c);
  struct evbuffer *out = c->bev ? bufferevent_get_output(c->bev) : X(c)->rout;
  if (out) evbuffer_drain(out, evbuffer_get_length(out));
  struct bufferevent *u = c->bev ? bufferevent_get_underlying(c->bev) : NULL;
  if (u) {
    out = bufferevent_get_output(u);
    evbuffer_drain(out, evbuffer_get_length(out));
  }
  evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : X(c)->fd;
  if (fd >= 0) {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  conn_die(c, 0);
  leave(c);
}

void eio_conn_write_raw_close(eio_conn *c, const char *raw, size_t len) {
  if (c->state == CONN_DEAD) return;
  out_add(c, raw, len);
  close_after_write(c);
}

/* ---- the read loop ---- */

void conn_process(eio_conn *c) {
  for (;;) {
    if (c->state == CONN_DEAD) return;
    struct evbuffer *in = input(c); /* raw: NULL when nothing is held */
    size_t avail = in ? evbuffer_get_length(in) : 0;
    int progress = 0;
    switch (c->state) {
    case CONN_HEAD:
      if (!avail) return;
      progress = parse_head(c);
      break;
    case CONN_BODY:
      if (!avail) return;
      progress = read_body(c);
      break;
    case CONN_WS:
      if (!avail) return;
      progress = ws_read(c);
      break;
    case CONN_WAIT:
      /* Pipelined bytes wait for the pending response; bounded. */
      if (avail > WAIT_INPUT_LIMIT) conn_die(c, 1);
      return;
    case CONN_LINGER:
      /* Closing: whatever still comes (a body we answered early) is
       * dropped; the linger timer bounds how long. */
      if (avail) evbuffer_drain(in, avail);
      return;
    case CONN_DEAD:
      return;
    }
    if (!progress) return;
  }
}

/* ---- hand-over to another loop (handover.c) ---- */

/* The request is for a session of another loop: everything the connection
 * holds that the other loop needs leaves it (the socket, the request head
 * and the input after it, output not yet written) and it is dropped here
 * without closing the socket. Plain connections only. 0, or -1 (out of
 * memory: the connection is left as it was). */
int eio_conn_move_out(eio_conn *c, eio_conn_move *m) {
  conn_ext *x = X(c);
  if (!c->head || (c->secure ? !c->bev || !x->tls : x->fd < 0)) return -1;
  memset(m, 0, sizeof *m);
  /* Raw: the input being processed (or held), and rout. */
  struct evbuffer *in = input(c);
  struct evbuffer *out = c->bev ? bufferevent_get_output(c->bev) : x->rout;
  size_t hl = c->head_len, rest = in ? evbuffer_get_length(in) : 0;
  size_t ol = out ? evbuffer_get_length(out) : 0;
  if (c->secure && ol) return -1; /* plaintext not yet encrypted */
  m->in = malloc(hl + rest + 1);
  m->out = ol ? malloc(ol) : NULL;
  if (!m->in || (ol && !m->out)) {
    free(m->in);
    free(m->out);
    return -1;
  }
  memcpy(m->in, c->head, hl);
  if (rest) evbuffer_copyout(in, m->in + hl, rest);
  if (ol) evbuffer_copyout(out, m->out, ol);
  if (c->secure) {
    int r = eio_tls_state_detach(x->tls, &m->tls);
    if (r != 0) {
      free(m->in);
      free(m->out);
      if (r == -1) return -1;
      conn_die(c, 0);
      return -2;
    }
    m->secure = 1;
    m->fd = m->tls.fd;
    x->tls = NULL;
  } else {
    m->fd = x->fd;
    x->fd = -1; /* the connection owns it (plain) */
  }
  if (rest) evbuffer_drain(in, rest);
  if (ol) evbuffer_drain(out, ol);
  m->in_len = hl + rest;
  m->out_len = ol;
  conn_die(c, 0);
  return 0;
}

/* Adds to a bufferevent's input, which libevent keeps frozen at its end
 * (a socket's) or not (a filter's). */
static int input_add(struct bufferevent *bev, const void *p, size_t n) {
  struct evbuffer *in = bufferevent_get_input(bev);
  if (evbuffer_add(in, p, n) == 0) return 0;
  evbuffer_unfreeze(in, 0);
  int r = evbuffer_add(in, p, n);
  evbuffer_freeze(in, 0);
  return r;
}

/* The other side: a connection on srv's loop over m's socket, which writes
 * m's output first and then serves m's input as if it had just read it.
 * Takes m's buffers; closes the socket when out of memory. */
void eio_conn_move_in(eio_server *srv, eio_conn_move *m) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getpeername(m->fd, (struct sockaddr *)&ss, &sl) != 0)
    ss.ss_family = AF_UNSPEC;
  eio_conn *c = NULL;
  if (srv->closing || (m->secure && !srv->tls)) {
    if (m->secure) eio_tls_moved_free(&m->tls);
    evutil_closesocket(m->fd);
  } else {
    c = conn_new(srv, m->fd, (struct sockaddr *)&ss, m->secure ? &m->tls : NULL);
  }
  if (c && !c->bev) {
    /* Raw (plain): the output first, then the input processed here. */
    enter(c);
    if (m->out_len && out_add(c, m->out, m->out_len) != 0) conn_die(c, 0);
    else raw_input(c, m->in, m->in_len);
    leave(c);
  } else if (c) {
    enter(c);
    if (input_add(c->bev, m->in, m->in_len) != 0 ||
        (m->out_len && bufferevent_write(c->bev, m->out, m->out_len) != 0)) {
      conn_die(c, 0);
    } else {
      conn_process(c);
      /* Encrypted bytes that came along: decrypt them now. */
      struct bufferevent *u = bufferevent_get_underlying(c->bev);
      if (u && c->state != CONN_DEAD && evbuffer_get_length(bufferevent_get_input(u)))
        bufferevent_trigger(u, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
    }
    leave(c);
  }
  free(m->in);
  free(m->out);
  m->in = m->out = NULL;
}
