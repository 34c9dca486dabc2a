/*
 * A connection's bytes: its output and input over the bufferevent (TLS), or,
 * for a plain connection (HTTP and WebSocket), "raw" over the socket (one
 * read event, one read() per readable event into a shared buffer, writev of
 * what is queued once per loop turn); the bufferevent callbacks and the
 * connection timer.
 */
#include "conn_internal.h"
#include "loops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- output and input, over the bufferevent or raw ---- */

/* Where output goes: the bufferevent's, or (raw) rout, made on demand;
 * NULL when out of memory. Callers add, then call out_kick(). */
struct evbuffer *output(eio_conn *c) {
  if (c->bev) return bufferevent_get_output(c->bev);
  conn_ext *x = X(c);
  if (!x->rout) x->rout = evbuffer_new();
  return x->rout;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg);

/* Puts c on the server's flush list and makes the flush event active (no
 * system call); c is kept alive until flushed (left in flush_cb). -1 when
 * the event cannot be made. */
static int flush_enqueue(eio_conn *c) {
  conn_ext *x = X(c);
  eio_server *srv = c->srv;
  if (!srv->flush_ev && !(srv->flush_ev = event_new(srv->base, -1, 0, flush_cb, srv)))
    return -1;
  x->flush_queued = 1;
  x->flush_next = srv->flush_list;
  srv->flush_list = c;
  enter(c);
  event_active(srv->flush_ev, EV_WRITE, 0);
  return 0;
}

/* Raw: what rout holds is written once per loop turn, after the callback
 * that queued it (everything queued meanwhile in one writev, as the
 * bufferevent does), straight to the socket: the connection joins the
 * server's flush list and one event made active (no system call) runs
 * flush_cb. A write event is armed only when the socket did not take
 * everything, and stays armed until it has. */
void out_kick(eio_conn *c) {
  conn_ext *x = X(c);
  if (c->bev || c->state == CONN_DEAD || !x->rout || !evbuffer_get_length(x->rout))
    return;
  if (c->state == CONN_LINGER && X(c)->tm == TM_LINGER) return; /* shut */
  if (x->flush_queued || x->wev) return; /* already on its way */
  if (flush_enqueue(c) != 0) conn_die(c, 1);
}

int eio_conn_defer(eio_conn *c) {
  conn_ext *x = X(c);
  if (c->bev || c->state == CONN_DEAD || x->fd < 0) return 0;
  if (x->flush_queued || x->wev) return 1; /* drained comes after them */
  return flush_enqueue(c) == 0;
}

int out_add(eio_conn *c, const void *data, size_t len) {
  struct evbuffer *out = output(c);
  if (!out || evbuffer_add(out, data, len) != 0) return -1;
  out_kick(c);
  return 0;
}

int out_direct(eio_conn *c) {
  conn_ext *x = X(c);
  return !c->bev && c->state != CONN_DEAD && x->fd >= 0 && !x->flush_queued &&
         !x->wev && !(x->rout && evbuffer_get_length(x->rout)) &&
         !(c->state == CONN_LINGER && x->tm == TM_LINGER);
}

#define DIRECT_IOV 16

int out_writev(eio_conn *c, const char *head, size_t hn, const void *body,
               size_t blen, struct evbuffer *ebody) {
  struct iovec iov[DIRECT_IOV];
  int k = 0;
  size_t total = hn;
  iov[k].iov_base = (void *)head;
  iov[k++].iov_len = hn;
  if (ebody) {
    /* The body's first pieces (all of a small one): what does not fit in
     * the iovec is queued below. */
    struct evbuffer_iovec v[DIRECT_IOV - 1];
    int m = evbuffer_peek(ebody, -1, NULL, v, DIRECT_IOV - 1);
    if (m > DIRECT_IOV - 1) m = DIRECT_IOV - 1;
    for (int i = 0; i < m; i++) {
      iov[k].iov_base = v[i].iov_base;
      iov[k++].iov_len = v[i].iov_len;
      total += v[i].iov_len;
    }
  } else if (blen) {
    iov[k].iov_base = (void *)body;
    iov[k++].iov_len = blen;
    total += blen;
  }
  ssize_t n = writev(X(c)->fd, iov, k);
  size_t done = n > 0 ? (size_t)n : 0;
  size_t elen = ebody ? evbuffer_get_length(ebody) : 0;
  if (n >= 0 && done == total && (!ebody || done - hn == elen)) {
    if (ebody) evbuffer_drain(ebody, elen);
    return 0;
  }
  /* The rest waits in the output (an error shows when it is written). */
  struct evbuffer *out = output(c);
  if (!out) return -1;
  int r = 0;
  if (done < hn) r |= evbuffer_add(out, head + done, hn - done);
  size_t bdone = done > hn ? done - hn : 0;
  if (ebody) {
    evbuffer_drain(ebody, bdone);
    r |= evbuffer_add_buffer(out, ebody);
  } else if (blen > bdone) {
    r |= evbuffer_add(out, (const char *)body + bdone, blen - bdone);
  }
  out_kick(c);
  return r ? -1 : 0;
}

/* Raw: the input being processed, or what is held between reads (may be
 * NULL: nothing held). */
struct evbuffer *input(eio_conn *c) {
  if (c->bev) return bufferevent_get_input(c->bev);
  return X(c)->cur_in ? X(c)->cur_in : X(c)->rin;
}

size_t in_avail(eio_conn *c) {
  struct evbuffer *in = input(c);
  return in ? evbuffer_get_length(in) : 0;
}

/* Output not yet written by this connection's own buffer. */
static size_t unsent_here(eio_conn *c) {
  if (!c->bev) return X(c)->rout ? evbuffer_get_length(X(c)->rout) : 0;
  return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Bytes not yet handed to the kernel: under TLS the socket bufferevent
 * below the filter holds the records. */
size_t unsent(eio_conn *c) {
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

void close_after_write(eio_conn *c) {
  c->close_after_write = 1;
  c->state = CONN_LINGER;
  if (unsent_here(c) == 0) start_linger(c);
}

void timer_cb(eio_timer *t) {
  eio_conn *c = EIO_TIMER_OWNER(t, eio_conn, timer);
  enter(c);
  switch (X(c)->tm) {
  case TM_REQUEST:
    if (c->state == CONN_HEAD || c->state == CONN_BODY) {
      static const char r408[] =
          "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
      if (c->state == CONN_HEAD && in_avail(c) == 0)
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
  case TM_NONE:
    break;
  }
  leave(c);
}

void read_cb(struct bufferevent *bev, void *arg) {
  (void)bev;
  eio_conn *c = arg;
  enter(c);
  conn_process(c);
  leave(c);
}

void write_cb(struct bufferevent *bev, void *arg) {
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

void event_cb(struct bufferevent *bev, short what, void *arg) {
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
  if (c->state == CONN_DEAD) return;
  if (c->state == CONN_LINGER && x->tm == TM_LINGER) return; /* shut */
  if (!x->rout) { /* deferred (eio_conn_defer), nothing to write */
    drained(c);
    return;
  }
  int n = evbuffer_get_length(x->rout) ? evbuffer_write(x->rout, x->fd) : 0;
  if (n < 0 && !retriable(errno)) {
    conn_die(c, 1);
  } else if (evbuffer_get_length(x->rout)) {
    if (!x->wev) {
      x->wev = event_new(c->srv->base, x->fd, EV_WRITE | EV_PERSIST, raw_write_cb, c);
      if (!x->wev || event_add(x->wev, NULL) != 0) conn_die(c, 1);
    }
  } else {
    /* An HTTP connection keeps its (empty) buffer for the next response;
     * an idle WebSocket holds none. */
    if (c->state == CONN_WS) {
      evbuffer_free(x->rout);
      x->rout = NULL;
    }
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

/* Writes what the flush list holds. */
static void flush_list(eio_server *srv) {
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

static void flush_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  flush_list(arg);
}

/* The end of a raw read: a short flush list of WebSockets (this read's
 * replies: an echo, an ack, a handshake) is written now rather than after
 * every other connection ready in this loop turn has been read and
 * processed, so the first replies do not wait for the last requests (the
 * latency tail with many clients ready at once). A long list (a fan-out)
 * still waits for the end of the turn, where everything queued for a
 * connection meanwhile goes in one writev; so does a list holding an HTTP
 * connection (a deferred long-poll GET answers with everything the turn
 * queued, eio_conn_defer). Not before the wake-ups of other loops this
 * turn posted to either (an ack must not reach its client before the
 * socketsLeave it answers reached the other loops): then at the end of
 * the turn, after them, as before. */
#define FLUSH_NOW_MAX 8
static void flush_short_list(eio_server *srv) {
  if (!srv->flush_list || eio_loopq_owes_wakeups(srv->q)) return;
  int n = 0;
  for (eio_conn *c = srv->flush_list; c; c = X(c)->flush_next)
    if (++n > FLUSH_NOW_MAX || c->state != CONN_WS) return;
  event_del(srv->flush_ev); /* made active by out_kick: nothing left to do */
  flush_list(srv);
}

/* Processes in (the shared raw_in referring to the bytes just read, or
 * rin); then whatever is left unprocessed (an incomplete head or frame
 * header, pipelined requests while one waits) is kept in rin, copied out of
 * the shared buffer. Input held while a request waits is bounded: at
 * READ_HIGH_WATER the read event is removed until in_kick (as a
 * bufferevent stops reading at its high-water mark). */
static void raw_process(eio_conn *c, struct evbuffer *in) {
  conn_ext *x = X(c);
  eio_server *srv = c->srv;
  x->cur_in = in;
  conn_process(c);
  x->cur_in = NULL;
  size_t left = evbuffer_get_length(srv->raw_in);
  if (left) {
    if (c->state != CONN_DEAD && !x->rin) x->rin = evbuffer_new();
    if (c->state != CONN_DEAD && x->rin)
      evbuffer_add(x->rin, evbuffer_pullup(srv->raw_in, (ev_ssize_t)left), left);
    evbuffer_drain(srv->raw_in, left);
  }
  if (x->rin && !evbuffer_get_length(x->rin)) {
    evbuffer_free(x->rin);
    x->rin = NULL;
  }
  if (x->rin && c->state != CONN_DEAD && !x->read_stalled &&
      evbuffer_get_length(x->rin) >= READ_HIGH_WATER) {
    event_del(x->raw);
    x->read_stalled = 1;
  }
}

/* what: EV_READ from the socket; EV_TIMEOUT from in_kick (held input). */
static void raw_read_cb(evutil_socket_t fd, short what, void *arg) {
  eio_conn *c = arg;
  conn_ext *x = X(c);
  eio_server *srv = c->srv;
  enter(c);
  /* One read() into the server's buffer (no FIONREAD first, as
   * evbuffer_read does). Input held in rin gets the bytes appended;
   * otherwise the shared raw_in refers to them (ws_read and the HTTP
   * layer copy out what they keep). */
  ev_ssize_t n = 0;
  if ((what & EV_READ) && c->state != CONN_DEAD) {
    size_t held = x->rin ? evbuffer_get_length(x->rin) : 0;
    size_t want = held < READ_HIGH_WATER ? READ_HIGH_WATER - held : 0;
    if (want > RAW_READ) want = RAW_READ;
    if (!srv->raw_buf) srv->raw_buf = malloc(RAW_READ);
    if (want) n = srv->raw_buf ? read(fd, srv->raw_buf, want) : -1;
    if ((want && n == 0) || (n < 0 && (!srv->raw_buf || !retriable(errno))))
      conn_die(c, 1);
  }
  if (c->state != CONN_DEAD) {
    int r = 0;
    if (n > 0)
      r = x->rin ? evbuffer_add(x->rin, srv->raw_buf, (size_t)n)
                 : evbuffer_add_reference(srv->raw_in, srv->raw_buf, (size_t)n, NULL, NULL);
    if (r != 0) conn_die(c, 1);
    else if (x->rin || n > 0) raw_process(c, x->rin ? x->rin : srv->raw_in);
  }
  flush_short_list(srv);
  leave(c);
}

int raw_open(eio_conn *c) {
  conn_ext *x = X(c);
  eio_server *srv = c->srv;
  if (!srv->raw_in && !(srv->raw_in = evbuffer_new())) return -1;
  x->raw = event_new(srv->base, x->fd, EV_READ | EV_PERSIST, raw_read_cb, c);
  if (!x->raw) return -1;
  if (event_add(x->raw, NULL) != 0) {
    event_free(x->raw);
    x->raw = NULL;
    return -1;
  }
  return 0;
}

void raw_input(eio_conn *c, const void *p, size_t n) {
  conn_ext *x = X(c);
  if (c->state == CONN_DEAD) return;
  if (!x->rin) x->rin = evbuffer_new();
  if (!x->rin || evbuffer_add(x->rin, p, n) != 0) {
    conn_die(c, 1);
    return;
  }
  raw_process(c, x->rin);
}

void in_kick(eio_conn *c) {
  if (c->bev) {
    if (evbuffer_get_length(bufferevent_get_input(c->bev)))
      bufferevent_trigger(c->bev, EV_READ,
                          BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    return;
  }
  conn_ext *x = X(c);
  if (c->state == CONN_DEAD || !x->raw) return;
  if (x->read_stalled) {
    x->read_stalled = 0;
    if (event_add(x->raw, NULL) != 0) {
      conn_die(c, 1);
      return;
    }
  }
  if (x->rin && evbuffer_get_length(x->rin))
    event_active(x->raw, EV_TIMEOUT, 0);
}

