/*
 * Graceful shutdown of an Engine.IO server (eio_server_shutdown): stop
 * accepting, close every session after its queued output is written, and
 * at the deadline reset whatever is still open, so the event loop ends
 * within it.
 */
#include "internal.h"

#include <stdlib.h>

#define WATCH_MS 20

static void finish(eio_server *srv) {
  eio_shutdown *d = &srv->shutdown;
  if (d->watch) {
    event_free(d->watch);
    d->watch = NULL;
  }
  if (d->deadline) {
    event_free(d->deadline);
    d->deadline = NULL;
  }
  eio_workers_shutdown_done(srv);
}

static void watch_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  eio_server *srv = arg;
  if (!srv->conns && !srv->sessions.count) finish(srv);
}

static void deadline_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  eio_server *srv = arg;
  eio_rep_close(srv); /* sessions still open: forced close */
  /* A kill may free the connection at once: step past it first. */
  for (eio_conn *c = srv->conns, *next; c; c = next) {
    next = c->next;
    eio_conn_kill(c);
  }
  finish(srv);
}

int eio_shutdown_rep(eio_server *srv, unsigned deadline_ms) {
  if (srv->closing) return EIO_OK;
  srv->closing = 1;
  if (srv->listener) {
    evconnlistener_free(srv->listener);
    srv->listener = NULL;
  }
  if (srv->budget.sweep) evtimer_del(srv->budget.sweep);
  if (srv->guard.resume) evtimer_del(srv->guard.resume);
  /* Each session closes once its queue is written (a pending long poll
   * gets the rest and the close packet; WebSocket gets a close frame after
   * the data). Collect first: closing changes the table. */
  size_t n = srv->sessions.count, k = 0, it;
  eio_socket **v = malloc((n ? n : 1) * sizeof *v);
  if (v) {
    for (sio_map_entry *e = sio_map_first(&srv->sessions, &it); e;
         e = sio_map_next(&srv->sessions, e, &it)) {
      eio_socket *s = e->value;
      s->refs++;
      v[k++] = s;
    }
    for (size_t i = 0; i < k; i++) {
      eio_socket_close(v[i]);
      eio_srv_sock_release(v[i]);
    }
    free(v);
  }
  /* Idle HTTP connections go now; the others after their response. */
  for (eio_conn *c = srv->conns; c; c = c->next) {
    if (c->state == CONN_HEAD) eio_conn_write_raw_close(c, "", 0);
    else if (c->state != CONN_WS) c->keep_alive = 0;
  }
  eio_shutdown *d = &srv->shutdown;
  d->watch = event_new(srv->base, -1, EV_PERSIST, watch_cb, srv);
  d->deadline = evtimer_new(srv->base, deadline_cb, srv);
  if (!d->watch || !d->deadline) {
    deadline_cb(-1, 0, srv);
    return EIO_ERR_NOMEM;
  }
  struct timeval tw = {0, WATCH_MS * 1000};
  struct timeval td = {deadline_ms / 1000, (deadline_ms % 1000) * 1000};
  event_add(d->watch, &tw);
  evtimer_add(d->deadline, &td);
  return EIO_OK;
}

void eio_shutdown_free(eio_server *srv) {
  eio_shutdown *d = &srv->shutdown;
  if (d->watch) event_free(d->watch);
  if (d->deadline) event_free(d->deadline);
  d->watch = d->deadline = NULL;
}
