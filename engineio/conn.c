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
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Input held while a request waits (pipelined bytes) before we give up. */
#define WAIT_INPUT_LIMIT (256 * 1024)
/* Libevent stops reading past this much unprocessed input. */
#define READ_HIGH_WATER (256 * 1024)
/* A gathered WebSocket message buffer larger than this is not kept for
 * reuse after delivery, so idle connections stay small. */
#define WS_KEEP_BUFFER 16384
#define LINGER_MS 2000
/* Frames whose payload is at most this are written as one copy. */
#define WS_INLINE_PAYLOAD 256
#define WS_CLOSE_WAIT_MS 10000

enum timer_mode { TM_NONE, TM_REQUEST, TM_KEEPALIVE, TM_LINGER, TM_WS_CLOSE,
                  TM_FLUSH, TM_RAW };
/* Bytes read per readable event of a raw WebSocket. */
#define RAW_READ 16384
#define FLUSH_POLL_MS 20

/* Extra per-connection state kept here, not in internal.h, because only
 * this file touches it. */
typedef struct conn_ext {
  enum timer_mode tm;
  unsigned body_pending : 1;
  unsigned responded : 1;
  unsigned wsf_active : 1;
  unsigned flush_queued : 1; /* on srv->flush_list (holds an enter()) */
  unsigned flush_polls;
  eio_ws_frame wsf;
  uint64_t wsf_left;
  size_t wsf_off;
  size_t ws_msg_cap;
  /* A plain (non-TLS) WebSocket leaves its bufferevent once the 101 is
   * out ("raw"): one read event; input is read into the server's shared
   * raw_in and only an incomplete frame header is kept (rin); output is
   * an evbuffer of shared chunks written with writev (rout), and a write
   * event, both only while something is unsent. fd: the socket of a
   * plain connection (closed by destroy; -1 under TLS, where the
   * bufferevent owns it). */
  evutil_socket_t fd;
  struct event *raw, *wev;
  struct evbuffer *rin, *rout;
  struct evbuffer *cur_in;  /* the input being processed in raw mode */
  eio_conn *flush_next;     /* srv->flush_list link */
  eio_tls_state *tls;       /* TLS: the session, for a hand-over */
} conn_ext;

typedef struct conn_full {
  eio_conn c;
  conn_ext x;
} conn_full;

#define X(c) (&((conn_full *)(c))->x)

static void conn_process(eio_conn *c);
static void next_request(eio_conn *c);

static void enter(eio_conn *c) { c->in_cb++; }

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

static void leave(eio_conn *c) {
  if (--c->in_cb == 0 && c->state == CONN_DEAD) destroy(c);
}

/* Ends the connection. notify: tell the layer above (events.closed), which detaches any session
 * from it, since the peer (not the server) ended it. */
static void conn_die(eio_conn *c, int notify) {
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

static void set_timer(eio_conn *c, enum timer_mode m) {
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
  case TM_RAW:
    break;
  }
  eio_timer_arm(&srv->timers, &c->timer, ms);
}

/* ---- output and input, over the bufferevent or raw ---- */

/* Where output goes: the bufferevent's, or (raw) rout, made on demand;
 * NULL when out of memory. Callers add, then call out_kick(). */
static struct evbuffer *output(eio_conn *c) {
  if (c->bev) return bufferevent_get_output(c->bev);
  conn_ext *x = X(c);
  if (!x->rout) x->rout = evbuffer_new();
  return x->rout;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg);

/* Raw: what rout holds is written once per loop turn, after the callback
 * that queued it (everything queued meanwhile in one writev, as the
 * bufferevent does), straight to the socket: the connection joins the
 * server's flush list and one event made active (no system call) runs
 * flush_cb. A write event is armed only when the socket did not take
 * everything, and stays armed until it has. */
static void out_kick(eio_conn *c) {
  conn_ext *x = X(c);
  if (c->bev || c->state == CONN_DEAD || !x->rout || !evbuffer_get_length(x->rout))
    return;
  if (c->state == CONN_LINGER && X(c)->tm == TM_LINGER) return; /* shut */
  if (x->flush_queued || x->wev) return; /* already on its way */
  eio_server *srv = c->srv;
  if (!srv->flush_ev && !(srv->flush_ev = event_new(srv->base, -1, 0, flush_cb, srv))) {
    conn_die(c, 1);
    return;
  }
  x->flush_queued = 1;
  x->flush_next = srv->flush_list;
  srv->flush_list = c;
  enter(c); /* kept alive until flushed; left in flush_cb */
  event_active(srv->flush_ev, EV_WRITE, 0);
}

static int out_add(eio_conn *c, const void *data, size_t len) {
  struct evbuffer *out = output(c);
  if (!out || evbuffer_add(out, data, len) != 0) return -1;
  out_kick(c);
  return 0;
}

static struct evbuffer *input(eio_conn *c) {
  return c->bev ? bufferevent_get_input(c->bev) : X(c)->cur_in;
}

/* Output not yet written by this connection's own buffer. */
static size_t unsent_here(eio_conn *c) {
  if (!c->bev) return X(c)->rout ? evbuffer_get_length(X(c)->rout) : 0;
  return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Bytes not yet handed to the kernel: under TLS the socket bufferevent
 * below the filter holds the records. */
static size_t unsent(eio_conn *c) {
  if (!c->bev) return X(c)->rout ? evbuffer_get_length(X(c)->rout) : 0;
  size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
  struct bufferevent *u = bufferevent_get_underlying(c->bev);
  if (u) n += evbuffer_get_length(bufferevent_get_output(u));
  return n;
}

/* Output is written: half-close and drain whatever the peer still sends,
 * so our last response is not destroyed by a reset. */
static void start_linger(eio_conn *c) {
  c->state = CONN_LINGER;
  if (unsent(c) && X(c)->flush_polls++ < LINGER_MS / FLUSH_POLL_MS) {
    set_timer(c, TM_FLUSH); /* TLS records still below the filter */
    return;
  }
  if (c->bev) {
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
  } else {
    shutdown(X(c)->fd, SHUT_WR);
    if (X(c)->wev) {
      event_free(X(c)->wev);
      X(c)->wev = NULL;
    }
  }
  set_timer(c, TM_LINGER);
}

static void close_after_write(eio_conn *c) {
  c->close_after_write = 1;
  c->state = CONN_LINGER;
  if (unsent_here(c) == 0) start_linger(c);
}

static void go_raw(eio_conn *c);

static void timer_cb(eio_timer *t) {
  eio_conn *c = EIO_TIMER_OWNER(t, eio_conn, timer);
  enter(c);
  switch (X(c)->tm) {
  case TM_REQUEST:
    if (c->state == CONN_HEAD || c->state == CONN_BODY) {
      static const char r408[] =
          "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
      if (c->state == CONN_HEAD &&
          evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
        conn_die(c, 1);
      else
        eio_conn_write_raw_close(c, r408, sizeof r408 - 1);
    }
    break;
  case TM_KEEPALIVE:
    if (c->state == CONN_HEAD) conn_die(c, 1);
    break;
  case TM_LINGER:
  case TM_WS_CLOSE:
    conn_die(c, 1);
    break;
  case TM_FLUSH:
    start_linger(c);
    break;
  case TM_RAW:
    go_raw(c);
    break;
  case TM_NONE:
    break;
  }
  leave(c);
}

static void read_cb(struct bufferevent *bev, void *arg) {
  (void)bev;
  eio_conn *c = arg;
  enter(c);
  conn_process(c);
  leave(c);
}

static void write_cb(struct bufferevent *bev, void *arg) {
  eio_conn *c = arg;
  enter(c);
  if (c->close_after_write && c->state == CONN_LINGER &&
      X(c)->tm != TM_LINGER) {
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) start_linger(c);
  } else if (c->sock && c->state != CONN_DEAD) {
    c->srv->conn_ev->drained(c->srv->conn_ev_arg, c);
  }
  leave(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
  (void)bev;
  eio_conn *c = arg;
  enter(c);
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) conn_die(c, 1);
  leave(c);
}

/* ---- raw WebSocket I/O ---- */

static int retriable(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

/* What the bufferevent's write callback does once output is written. */
static void drained(eio_conn *c) {
  if (c->close_after_write && c->state == CONN_LINGER && X(c)->tm != TM_LINGER)
    start_linger(c);
  else if (c->sock && c->state != CONN_DEAD)
    c->srv->conn_ev->drained(c->srv->conn_ev_arg, c);
}

static void raw_write_cb(evutil_socket_t fd, short what, void *arg);

/* Raw: one writev of what rout holds. Whatever the socket does not take
 * waits for a write event (persistent while armed); once all is written
 * the buffer and the event go, so an idle connection holds neither. */
static void raw_write(eio_conn *c) {
  conn_ext *x = X(c);
  if (c->state == CONN_DEAD || !x->rout) return;
  if (c->state == CONN_LINGER && x->tm == TM_LINGER) return; /* shut */
  int n = evbuffer_get_length(x->rout) ? evbuffer_write(x->rout, x->fd) : 0;
  if (n < 0 && !retriable(errno)) {
    conn_die(c, 1);
  } else if (evbuffer_get_length(x->rout)) {
    if (!x->wev) {
      x->wev = event_new(c->srv->base, x->fd, EV_WRITE | EV_PERSIST, raw_write_cb, c);
      if (!x->wev || event_add(x->wev, NULL) != 0) conn_die(c, 1);
    }
  } else {
    evbuffer_free(x->rout);
    x->rout = NULL;
    if (x->wev) {
      /* Freed inside its own callback is safe for libevent: it is
       * deleted first and not touched after the callback returns. */
      event_free(x->wev);
      x->wev = NULL;
    }
    drained(c);
  }
}

static void raw_write_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  eio_conn *c = arg;
  enter(c);
  raw_write(c);
  leave(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  eio_server *srv = arg;
  /* Connections queued while this runs (a drained callback sending more)
   * start a new list and make the event active again. */
  eio_conn *c = srv->flush_list;
  srv->flush_list = NULL;
  while (c) {
    eio_conn *next = X(c)->flush_next;
    X(c)->flush_queued = 0;
    X(c)->flush_next = NULL;
    if (!X(c)->wev) raw_write(c);
    leave(c); /* the enter() of out_kick */
    c = next;
  }
}

static void raw_read_cb(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  eio_conn *c = arg;
  conn_ext *x = X(c);
  eio_server *srv = c->srv;
  enter(c);
  /* One read() into the server's buffer (no FIONREAD first, as
   * evbuffer_read does). A partial frame header waiting in rin gets the
   * bytes appended; otherwise the shared raw_in refers to them, and only
   * what is left over (an incomplete header or control frame: ws_read
   * copies payloads out as they come) is copied into rin. */
  if (!srv->raw_buf) srv->raw_buf = malloc(RAW_READ);
  ev_ssize_t n = srv->raw_buf ? read(fd, srv->raw_buf, RAW_READ) : -1;
  struct evbuffer *in = x->rin ? x->rin : srv->raw_in;
  if (n == 0 || (n < 0 && (!srv->raw_buf || !retriable(errno)))) {
    conn_die(c, 1);
  } else if (n > 0) {
    int r = x->rin ? evbuffer_add(in, srv->raw_buf, (size_t)n)
                   : evbuffer_add_reference(in, srv->raw_buf, (size_t)n, NULL, NULL);
    if (r != 0) {
      conn_die(c, 1);
    } else {
      x->cur_in = in;
      conn_process(c);
      x->cur_in = NULL;
    }
  }
  size_t left = evbuffer_get_length(srv->raw_in);
  if (left) {
    if (c->state == CONN_WS && !x->rin) x->rin = evbuffer_new();
    if (c->state == CONN_WS && x->rin)
      evbuffer_add(x->rin, evbuffer_pullup(srv->raw_in, (ev_ssize_t)left), left);
    evbuffer_drain(srv->raw_in, left);
  }
  if (x->rin && !evbuffer_get_length(x->rin)) {
    evbuffer_free(x->rin);
    x->rin = NULL;
  }
  leave(c);
}

/*
 * A plain WebSocket leaves its bufferevent (run from the connection's
 * timer, outside the bufferevent's callbacks): what it holds either way
 * moves (chunks, not copies) into rin/rout, the bufferevent is freed and
 * one read event takes its place. On failure it stays as it was.
 */
static void go_raw(eio_conn *c) {
  conn_ext *x = X(c);
  eio_server *srv = c->srv;
  if (!c->bev || x->fd < 0 || c->state != CONN_WS || c->ws_close_sent) return;
  if (!srv->raw_in && !(srv->raw_in = evbuffer_new())) return;
  struct evbuffer *in = bufferevent_get_input(c->bev);
  struct evbuffer *out = bufferevent_get_output(c->bev);
  struct event *ev = event_new(srv->base, x->fd, EV_READ | EV_PERSIST, raw_read_cb, c);
  if (!ev) return;
  if ((evbuffer_get_length(in) && !(x->rin = evbuffer_new())) ||
      (evbuffer_get_length(out) && !(x->rout = evbuffer_new()))) {
    event_free(ev);
    if (x->rin) evbuffer_free(x->rin);
    x->rin = NULL;
    return;
  }
  /* The bufferevent keeps its output's front frozen (only it writes);
   * it is going away, so thaw it to move the chunks. */
  evbuffer_unfreeze(out, 1);
  if ((x->rin && evbuffer_add_buffer(x->rin, in) != 0) ||
      (x->rout && evbuffer_add_buffer(x->rout, out) != 0)) {
    evbuffer_freeze(out, 1);
    conn_die(c, 1);
    return;
  }
  bufferevent_free(c->bev); /* the socket stays open: no CLOSE_ON_FREE */
  c->bev = NULL;
  x->raw = ev;
  if (event_add(ev, NULL) != 0) {
    conn_die(c, 1);
    return;
  }
  out_kick(c);
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
  /* Plain: the connection owns the socket (it may outlive the
   * bufferevent, see go_raw); TLS: the bufferevents own it. */
  c->bev = bufferevent_socket_new(srv->base, fd, srv->tls ? BEV_OPT_CLOSE_ON_FREE : 0);
  f->x.fd = fd;
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
  if (!c->bev) {
    if (fd >= 0) evutil_closesocket(fd);
    free(f);
    return NULL;
  }
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, c->remote_addr, sizeof c->remote_addr);
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
  bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
  bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_WATER);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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

/* ---- request heads ---- */

static int parse_head(eio_conn *c) {
  eio_server *srv = c->srv;
  struct evbuffer *in = bufferevent_get_input(c->bev);
  size_t avail = evbuffer_get_length(in);
  size_t max_head = srv->o.max_header_bytes;
  size_t n = avail < max_head ? avail : max_head;
  const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
  if (!c->headers) {
    c->headers = malloc(srv->o.max_headers * sizeof *c->headers);
    if (!c->headers) {
      conn_die(c, 1);
      return 0;
    }
  }
  eio_http_request req;
  req.headers = c->headers;
  int r = eio_http_parse_request(p, n, max_head, &req, srv->o.max_headers);
  if (r == EIO_HTTP_INCOMPLETE) {
    if (X(c)->tm == TM_KEEPALIVE) set_timer(c, TM_REQUEST);
    return 0;
  }
  if (r == EIO_HTTP_TOO_LARGE) {
    static const char r431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                               "Connection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r431, sizeof r431 - 1);
    return 0;
  }
  if (r < 0) {
    static const char r400[] =
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r400, sizeof r400 - 1);
    return 0;
  }
  /* Keep a private copy of the head: the input buffer moves on. */
  char *copy = malloc((size_t)r + 1);
  if (!copy) {
    conn_die(c, 1);
    return 0;
  }
  memcpy(copy, p, (size_t)r);
  copy[r] = '\0';
  /* The parse above, moved onto the copy (not parsed a second time). */
#define REBASE(ptr) ((ptr) = copy + ((ptr) - p))
  REBASE(req.method);
  REBASE(req.target);
  for (size_t i = 0; i < req.num_headers; i++) {
    REBASE(req.headers[i].name);
    REBASE(req.headers[i].value);
  }
#undef REBASE
  evbuffer_drain(in, (size_t)r);
  free(c->head);
  c->head = copy;
  c->head_len = (size_t)r;
  c->req = req;

  const eio_http_header *conn_h = eio_http_find(&c->req, "connection");
  if (c->req.minor_version >= 1)
    c->keep_alive = !(conn_h && eio_http_has_token(conn_h->value,
                                                   conn_h->value_len, "close"));
  else
    c->keep_alive = conn_h && eio_http_has_token(conn_h->value,
                                                 conn_h->value_len, "keep-alive");
  c->is_upgrade = eio_http_find(&c->req, "upgrade") && conn_h &&
                  eio_http_has_token(conn_h->value, conn_h->value_len, "upgrade");
  uint64_t cl = 0;
  int chunked = 0;
  int fr = eio_http_body_framing(&c->req, &chunked, &cl);
  if (fr == EIO_HTTP_UNSUPPORTED) {
    static const char r501[] =
        "HTTP/1.1 501 Not Implemented\r\nConnection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r501, sizeof r501 - 1);
    return 0;
  }
  if (fr < 0) {
    static const char r400[] =
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r400, sizeof r400 - 1);
    return 0;
  }
  c->chunked = chunked;
  c->body_left = cl;
  memset(&c->chunk, 0, sizeof c->chunk);
  X(c)->body_pending = !c->is_upgrade && (chunked || cl > 0);
  X(c)->responded = 0;
  c->body_discard = 0;
  c->state = CONN_WAIT;
  set_timer(c, TM_NONE);
  eio_guard_fresh_del(srv, c);
  c->srv->conn_ev->request(c->srv->conn_ev_arg, c);
  return 1;
}

/* ---- request bodies ---- */

static void body_data(void *arg, const char *data, size_t len) {
  eio_conn *c = arg;
  if (c->body_discard) return;
  if (evbuffer_get_length(c->body) + len > c->srv->o.max_http_buffer_size) {
    c->body_discard = 1;
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    conn_body_cb cb = c->body_cb;
    c->body_cb = NULL;
    if (cb) cb(c, BODY_TOO_LARGE);
    return;
  }
  evbuffer_add(c->body, data, len);
}

static void body_complete(eio_conn *c) {
  X(c)->body_pending = 0;
  if (c->body_discard) { /* the 413 went out already */
    c->body_discard = 0;
    if (X(c)->responded) next_request(c);
    else c->state = CONN_WAIT;
    return;
  }
  c->state = CONN_WAIT;
  set_timer(c, TM_NONE);
  conn_body_cb cb = c->body_cb;
  c->body_cb = NULL;
  if (cb) cb(c, BODY_OK);
}

static void body_fail(eio_conn *c) {
  static const char r400[] =
      "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
  /* A session waiting on this body learns of it as a dropped request. */
  if (c->sock) c->srv->conn_ev->closed(c->srv->conn_ev_arg, c);
  c->body_cb = NULL;
  eio_conn_write_raw_close(c, r400, sizeof r400 - 1);
}

static int read_body(eio_conn *c) {
  struct evbuffer *in = bufferevent_get_input(c->bev);
  size_t avail = evbuffer_get_length(in);
  if (!c->chunked) {
    size_t n = avail < c->body_left ? avail : (size_t)c->body_left;
    if (c->body_discard) {
      evbuffer_drain(in, n);
    } else {
      evbuffer_remove_buffer(in, c->body, n);
    }
    c->body_left -= n;
    if (c->body_left == 0) body_complete(c);
    return n > 0;
  }
  const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)avail);
  int done = 0;
  long used = eio_http_chunked_decode(&c->chunk, p, avail, UINT64_MAX / 4,
                                      c->srv->o.max_header_bytes, body_data, c,
                                      &done);
  if (used < 0) {
    body_fail(c);
    return 0;
  }
  evbuffer_drain(in, (size_t)used);
  if (c->state != CONN_BODY) return 0; /* answered early (413) */
  if (done) body_complete(c);
  return used > 0;
}

void eio_conn_read_body(eio_conn *c, conn_body_cb cb) {
  if (!X(c)->body_pending) {
    cb(c, BODY_OK);
    return;
  }
  if (!c->body) c->body = evbuffer_new();
  if (!c->body) {
    conn_die(c, 1);
    return;
  }
  evbuffer_drain(c->body, evbuffer_get_length(c->body));
  c->state = CONN_BODY;
  set_timer(c, TM_REQUEST);
  c->body_cb = cb;
  if (!c->chunked && c->body_left > c->srv->o.max_http_buffer_size) {
    c->body_discard = 1;
    c->body_cb = NULL;
    cb(c, BODY_TOO_LARGE);
  }
}

/* ---- responses ---- */

static const char *status_text(int s) {
  switch (s) {
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 204: return "No Content";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Payload Too Large";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  default: return "Unknown";
  }
}

static void next_request(eio_conn *c) {
  if (c->state == CONN_DEAD) return;
  if (!c->keep_alive) {
    close_after_write(c);
    return;
  }
  c->state = CONN_HEAD;
  set_timer(c, TM_KEEPALIVE);
  /* Pipelined input may already be here: process it from the loop, not
   * from inside whatever called us. */
  if (evbuffer_get_length(bufferevent_get_input(c->bev)))
    bufferevent_trigger(c->bev, EV_READ,
                        BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* The Date header's value for now, as Node writes it (IMF-fixdate, always
 * in English); formatted once per second per thread. */
static const char *http_date(void) {
  static _Thread_local time_t last = (time_t)-1;
  static _Thread_local char date[32];
  time_t now = time(NULL);
  if (now != last) {
    static const char wd[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char mo[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(date, sizeof date, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             wd[tm.tm_wday % 7], tm.tm_mday, mo[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    last = now;
  }
  return date;
}

/* Decimal digits of v at the end of t[24]; returns where they start. */
static char *utoa_end(char *t, unsigned long long v) {
  char *p = t + 24;
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return p;
}

/* The response head, written with one evbuffer_add when it fits a stack
 * buffer (the extra headers are the only part of unbounded size). */
static void write_head(eio_conn *c, int status, const char *extra,
                       size_t body_len) {
  struct evbuffer *out = bufferevent_get_output(c->bev);
  char buf[1024], num[24], *d;
  size_t extra_len = extra ? strlen(extra) : 0, n = 0;
#define HPUT(s, l)                                                            \
  do {                                                                        \
    size_t l_ = (l);                                                          \
    if (n + l_ > sizeof buf) {                                                \
      evbuffer_add(out, buf, n);                                              \
      n = 0;                                                                  \
      if (l_ > sizeof buf) {                                                  \
        evbuffer_add(out, (s), l_);                                           \
        break;                                                                \
      }                                                                       \
    }                                                                         \
    memcpy(buf + n, (s), l_);                                                 \
    n += l_;                                                                  \
  } while (0)
#define HLIT(lit) HPUT(lit, sizeof(lit) - 1)
  const char *text = status_text(status);
  HLIT("HTTP/1.1 ");
  d = utoa_end(num, (unsigned)status);
  HPUT(d, (size_t)(num + sizeof num - d));
  HLIT(" ");
  HPUT(text, strlen(text));
  HLIT("\r\n");
  if (extra_len) HPUT(extra, extra_len);
  HLIT("Date: ");
  const char *date = http_date();
  HPUT(date, strlen(date));
  HLIT("\r\n");
  if (status != 204 && status != 304) {
    HLIT("Content-Length: ");
    d = utoa_end(num, body_len);
    HPUT(d, (size_t)(num + sizeof num - d));
    HLIT("\r\n");
  }
  if (c->keep_alive && !X(c)->body_pending) {
    HLIT("Connection: keep-alive\r\nKeep-Alive: timeout=");
    d = utoa_end(num, c->srv->o.http_keepalive_timeout_ms / 1000);
    HPUT(d, (size_t)(num + sizeof num - d));
    HLIT("\r\n\r\n");
  } else {
    HLIT("Connection: close\r\n\r\n");
  }
#undef HLIT
#undef HPUT
  if (n) evbuffer_add(out, buf, n);
}

static int is_head(const eio_conn *c) {
  return eio_http_ieq(c->req.method, c->req.method_len, "HEAD");
}

static void after_response(eio_conn *c) {
  X(c)->responded = 1;
  if (X(c)->body_pending) {
    /* Answered before the body was read (an error, or 413): the response
     * said "Connection: close"; the rest of the body is drained while the
     * connection lingers. */
    c->keep_alive = 0;
    c->body_discard = 1;
    c->body_cb = NULL;
    close_after_write(c);
    return;
  }
  next_request(c);
}

void eio_conn_respond(eio_conn *c, int status, const char *extra,
                      const void *body, size_t len) {
  if (c->state == CONN_DEAD) return;
  write_head(c, status, extra, len);
  if (len && !is_head(c)) bufferevent_write(c->bev, body, len);
  after_response(c);
}

void eio_conn_respond_evbuf(eio_conn *c, int status, const char *extra,
                            struct evbuffer *body) {
  if (c->state == CONN_DEAD) return;
  size_t len = evbuffer_get_length(body);
  write_head(c, status, extra, len);
  if (!is_head(c)) bufferevent_write_buffer(c->bev, body);
  after_response(c);
}

/* ---- WebSocket ---- */

int eio_conn_upgrade_ws(eio_conn *c, const char *accept_key,
                        const char *extra) {
  struct evbuffer *out = bufferevent_get_output(c->bev);
  if (evbuffer_add_printf(out,
                          "HTTP/1.1 101 Switching Protocols\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: %s\r\n%s\r\n",
                          accept_key, extra ? extra : "") < 0)
    return -1;
  c->state = CONN_WS;
  c->keep_alive = 0;
  /* Plain: leave the bufferevent from the loop, not from inside it. */
  set_timer(c, X(c)->fd >= 0 ? TM_RAW : TM_NONE);
  /* The head and header array are not needed any more: keep idle
   * WebSocket connections small. */
  free(c->head);
  c->head = NULL;
  free(c->headers);
  c->headers = NULL;
  memset(&c->req, 0, sizeof c->req);
  return 0;
}

static void unref_cleanup(const void *data, size_t len, void *arg) {
  (void)data;
  (void)len;
  sio_buf_unref(arg);
}

int eio_conn_ws_send(eio_conn *c, int opcode, uint8_t type_char,
                     sio_buf *payload) {
  if (c->state != CONN_WS || c->ws_close_sent) return -1;
  struct evbuffer *out = output(c);
  if (!out) return -1;
  size_t plen = payload ? sio_buf_len(payload) : 0;
  if (c->pmd_on && plen &&
      plen + (type_char ? 1 : 0) >= c->srv->pmd_opts.threshold) {
    /* One compressed form per message and window, shared by every
     * recipient (no context takeover); uncompressed if zlib fails. */
    eio_deflater *d = c->srv->conn_ev->ws_deflater(c->srv->conn_ev_arg);
    sio_buf *z = d ? eio_deflate_ws(d, payload, type_char,
                                    c->pmd.server_window_bits)
                   : NULL;
    if (z) {
      uint8_t zh[EIO_WS_MAX_HEADER];
      size_t zl = eio_ws_write_header(zh, 1, opcode, sio_buf_len(z));
      zh[0] |= 0x40; /* RSV1: compressed */
      if (evbuffer_add(out, zh, zl) != 0 ||
          evbuffer_add_reference(out, sio_buf_data(z), sio_buf_len(z),
                                 unref_cleanup, z) != 0) {
        sio_buf_unref(z);
        return -1;
      }
      out_kick(c);
      return 0;
    }
  }
  /* A small payload is copied behind its header: one evbuffer_add into
   * the output's last chain, where a reference would cost a chain (and a
   * cleanup call) per frame. */
  uint8_t hdr[EIO_WS_MAX_HEADER + 1 + WS_INLINE_PAYLOAD];
  size_t h = eio_ws_write_header(hdr, 1, opcode, plen + (type_char ? 1 : 0));
  if (type_char) hdr[h++] = type_char;
  int inline_payload = plen && plen <= WS_INLINE_PAYLOAD;
  if (inline_payload) {
    memcpy(hdr + h, sio_buf_data(payload), plen);
    h += plen;
  }
  if (evbuffer_add(out, hdr, h) != 0) return -1;
  if (plen && !inline_payload) {
    sio_buf_ref(payload);
    if (evbuffer_add_reference(out, sio_buf_data(payload), plen,
                               unref_cleanup, payload) != 0) {
      sio_buf_unref(payload);
      return -1;
    }
  }
  out_kick(c);
  return 0;
}

static void ws_send_close_frame(eio_conn *c, int code) {
  uint8_t f[4];
  size_t n;
  if (code && code != 1005) {
    f[0] = 0x88;
    f[1] = 2;
    f[2] = (uint8_t)(code >> 8);
    f[3] = (uint8_t)code;
    n = 4;
  } else {
    f[0] = 0x88;
    f[1] = 0;
    n = 2;
  }
  out_add(c, f, n);
  c->ws_close_sent = 1;
}

void eio_conn_ws_close(eio_conn *c, int code) {
  if (c->state != CONN_WS || c->ws_close_sent) return;
  ws_send_close_frame(c, code);
  set_timer(c, TM_WS_CLOSE);
}

/* A protocol violation: close frame with the code (no reason, as the ws
 * package does), then drop the connection. */
static void ws_fail(eio_conn *c, int code, const char *reason) {
  if (!c->ws_close_sent) ws_send_close_frame(c, code);
  if (c->sock) c->srv->conn_ev->ws_error(c->srv->conn_ev_arg, c, reason);
  close_after_write(c);
}

static void ws_control(eio_conn *c, int opcode, uint8_t *p, size_t len) {
  if (opcode == EIO_WS_PING) {
    if (c->ws_close_sent) return;
    uint8_t hdr[2] = {0x8A, (uint8_t)len};
    out_add(c, hdr, 2);
    if (len) out_add(c, p, len);
  } else if (opcode == EIO_WS_CLOSE) {
    int code = 0;
    int bad = eio_ws_check_close_payload(p, len, &code);
    if (bad) {
      ws_fail(c, bad, "invalid close frame");
      return;
    }
    if (!c->ws_close_sent) ws_send_close_frame(c, code);
    if (c->sock) c->srv->conn_ev->ws_closed(c->srv->conn_ev_arg, c, code);
    close_after_write(c);
  } else if (opcode == EIO_WS_PONG && c->sock) {
    c->srv->conn_ev->ws_pong(c->srv->conn_ev_arg, c, p, len);
  }
}

static int ws_read(eio_conn *c) {
  conn_ext *x = X(c);
  struct evbuffer *in = input(c);
  size_t avail = evbuffer_get_length(in);
  if (!x->wsf_active) {
    size_t n = avail < EIO_WS_MAX_HEADER ? avail : EIO_WS_MAX_HEADER;
    const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)n);
    int r = eio_ws_parse_header(p, n, &x->wsf);
    if (r == 0) return 0;
    const char *reason = "invalid payload length";
    /* With permessage-deflate, RSV1 marks the first frame of a compressed
     * data message; anywhere else it stays a protocol error. */
    eio_ws_frame chk = x->wsf;
    int deflated = c->pmd_on && r > 0 && (chk.rsv & 4) &&
                   (chk.opcode == EIO_WS_TEXT || chk.opcode == EIO_WS_BINARY);
    if (deflated) chk.rsv &= ~4;
    int code = r < 0 ? EIO_WS_PROTOCOL_ERROR
                     : eio_ws_check_client_frame(
                           &chk, c->ws_msg_opcode != 0, c->ws_msg_len,
                           c->srv->o.max_http_buffer_size, &reason);
    if (code) {
      ws_fail(c, code, reason);
      return 0;
    }
    if (x->wsf.opcode >= EIO_WS_CLOSE) {
      /* A control frame (at most 125 bytes, checked above) is taken whole
       * from the input, so no connection keeps a buffer for one. */
      size_t pl = (size_t)x->wsf.payload_len;
      if (avail < x->wsf.header_len + pl) return 0;
      uint8_t ctl[125];
      evbuffer_drain(in, x->wsf.header_len);
      if (pl) {
        evbuffer_remove(in, ctl, pl);
        eio_ws_unmask(ctl, pl, x->wsf.mask, 0);
      }
      ws_control(c, x->wsf.opcode, ctl, pl);
      return 1;
    }
    evbuffer_drain(in, x->wsf.header_len);
    avail -= x->wsf.header_len;
    x->wsf_active = 1;
    x->wsf_left = x->wsf.payload_len;
    x->wsf_off = 0;
    if (x->wsf.opcode < EIO_WS_CLOSE) {
      size_t need = c->ws_msg_len + (size_t)x->wsf.payload_len;
      if (need > x->ws_msg_cap) {
        uint8_t *m = realloc(c->ws_msg, need);
        if (!m) {
          ws_fail(c, 1011, "out of memory");
          return 0;
        }
        c->ws_msg = m;
        x->ws_msg_cap = need;
      }
      if (x->wsf.opcode != EIO_WS_CONT) {
        c->ws_msg_opcode = x->wsf.opcode;
        c->ws_msg_deflated = deflated;
      }
    }
  }
  size_t n = avail < x->wsf_left ? avail : (size_t)x->wsf_left;
  uint8_t *dst = c->ws_msg + c->ws_msg_len;
  if (n) {
    evbuffer_remove(in, dst, n);
    eio_ws_unmask(dst, n, x->wsf.mask, x->wsf_off);
    x->wsf_off += n;
    x->wsf_left -= n;
    c->ws_msg_len += n;
  }
  if (x->wsf_left) return n > 0;
  x->wsf_active = 0;
  if (!x->wsf.fin) return 1;
  int op = c->ws_msg_opcode;
  size_t len = c->ws_msg_len;
  c->ws_msg_opcode = 0;
  c->ws_msg_len = 0;
  static uint8_t empty[1];
  uint8_t *msg = c->ws_msg, *inflated = NULL;
  if (c->ws_msg_deflated) {
    c->ws_msg_deflated = 0;
    if (!c->inflater)
      c->inflater = eio_inflater_new(c->pmd.client_no_context_takeover);
    int ir = c->inflater
                 ? eio_inflate_message(c->inflater, c->ws_msg, len,
                                       c->srv->o.max_http_buffer_size,
                                       &inflated, &len)
                 : EIO_INFLATE_NOMEM;
    if (ir != EIO_INFLATE_OK) {
      /* Codes and texts of the ws package. */
      if (ir == EIO_INFLATE_TOO_BIG)
        ws_fail(c, EIO_WS_TOO_BIG, "Max payload size exceeded");
      else if (ir == EIO_INFLATE_BAD)
        ws_fail(c, EIO_WS_INVALID_DATA, "invalid compressed data");
      else
        ws_fail(c, 1011, "out of memory");
      return 0;
    }
    msg = inflated;
  }
  if (op == EIO_WS_TEXT && !eio_ws_utf8_valid(msg, len)) {
    free(inflated);
    ws_fail(c, EIO_WS_INVALID_DATA, "invalid UTF-8 sequence");
    return 0;
  }
  if (!c->ws_close_sent && c->sock)
    c->srv->conn_ev->ws_message(c->srv->conn_ev_arg, c, op, msg ? msg : empty,
                                len);
  free(inflated);
  if (c->state != CONN_DEAD && x->ws_msg_cap > WS_KEEP_BUFFER &&
      c->ws_msg_len == 0) {
    free(c->ws_msg);
    c->ws_msg = NULL;
    x->ws_msg_cap = 0;
  }
  return 1;
}

/* ---- the read loop ---- */

static void conn_process(eio_conn *c) {
  for (;;) {
    if (c->state == CONN_DEAD) return;
    struct evbuffer *in = input(c);
    size_t avail = evbuffer_get_length(in);
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
      evbuffer_drain(in, avail);
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
  if (!c->bev || !c->head || (c->secure ? !x->tls : x->fd < 0)) return -1;
  memset(m, 0, sizeof *m);
  struct evbuffer *in = bufferevent_get_input(c->bev);
  struct evbuffer *out = bufferevent_get_output(c->bev);
  size_t hl = c->head_len, rest = evbuffer_get_length(in);
  size_t ol = evbuffer_get_length(out);
  if (c->secure && ol) return -1; /* plaintext not yet encrypted */
  m->in = malloc(hl + rest + 1);
  m->out = ol ? malloc(ol) : NULL;
  if (!m->in || (ol && !m->out)) {
    free(m->in);
    free(m->out);
    return -1;
  }
  memcpy(m->in, c->head, hl);
  evbuffer_copyout(in, m->in + hl, rest);
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
    x->fd = -1; /* the bufferevent does not own it (plain) */
  }
  evbuffer_drain(in, rest);
  evbuffer_drain(out, ol);
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
  if (c) {
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
