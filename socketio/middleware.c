/*
 * Middleware chains: the namespace's (run at connect) and the socket's
 * packet middlewares (run per incoming event), with sio_next.
 * Split out of server.c; see internal.h for what the files share.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "http.h"
#include "hooks.h"
#include "recovery.h"
#include "sio/log.h"

/* ---------------------------------------------------------- middleware */

enum { NEXT_NSP, NEXT_PACKET };

struct sio_next {
  int kind;
  sio_socket *s;
  size_t index;        /* next middleware to run */
  pmw *cur;            /* packet middlewares: the next one */
  int called;
  /* packet middlewares */
  char *event;
  sio_args *args;
  sio_ack *ack;
  /* In the server's list while the application holds it: freed with a
   * worker loop's replica if never called (its timer went with the base). */
  sio_server *srv;
  sio_next *prev, *next;
};

static void next_track(sio_next *n) {
  n->srv = n->s->nsp->srv;
  n->next = n->srv->nexts;
  if (n->next) n->next->prev = n;
  n->srv->nexts = n;
}

static void nsp_run(sio_next *n);
static void packet_run(sio_next *n);

static void next_free(sio_next *n) {
  if (n->prev) n->prev->next = n->next;
  else if (n->srv) n->srv->nexts = n->next;
  if (n->next) n->next->prev = n->prev;
  sio_sock_unref(n->s);
  free(n->event);
  sio_args_unref(n->args);
  free(n);
}


void sio_next_ok(sio_next *n) {
  if (n->kind == NEXT_NSP) {
    n->index++;
    nsp_run(n);
  } else {
    packet_run(n);
  }
}

void sio_next_error(sio_next *n, const char *message, json_t *data) {
  sio_socket *s = n->s;
  if (n->kind == NEXT_NSP) {
    if (s->client && !s->client->closed) sio_connect_refused(s, message, data);
    else json_decref(data);
  } else {
    if (s->state == SOCK_CONNECTED) sio_raise_error(s, message, data);
    json_decref(data);
    /* The packet is dropped; its ack handle goes with the socket. */
  }
  next_free(n);
}

/* Runs the namespace middlewares from n->index; the socket connects when
 * they all passed and the client is still there. */
static void nsp_run(sio_next *n) {
  sio_socket *s = n->s;
  if (!s->client || s->client->closed) { /* Node: ignore, clean up */
    next_free(n);
    return;
  }
  if (n->index < s->nsp->nmws) {
    fn_ud *m = &s->nsp->mws[n->index];
    ((sio_middleware_fn)m->fn)(s, n, m->ud);
    return;
  }
  sio_do_connect(s);
  next_free(n);
}

static void packet_run(sio_next *n) {
  sio_socket *s = n->s;
  pmw *m = n->cur;
  if (m && s->state == SOCK_CONNECTED) { /* the rest is dropped once it went */
    n->cur = m->next;
    m->fn(s, n->event, n->args, n, m->ud);
    return;
  }
  if (s->state == SOCK_CONNECTED) {
    sio_ack *ack = n->ack;
    n->ack = NULL;
    sio_dispatch_event(s, n->event, n->args, ack);
  }
  next_free(n);
}

void sio_use_one(sio_namespace *nsp, sio_middleware_fn fn, void *ud) {
  if (!nsp) return;
  fn_ud *v = realloc(nsp->mws, (nsp->nmws + 1) * sizeof *v);
  if (!v) return;
  nsp->mws = v;
  v[nsp->nmws].fn = (void (*)(void))fn;
  v[nsp->nmws++].ud = ud;
}

void sio_on_connection_one(sio_namespace *nsp, sio_connection_fn fn, void *ud) {
  if (!nsp) return;
  fn_ud *v = realloc(nsp->conns, (nsp->nconns + 1) * sizeof *v);
  if (!v) return;
  nsp->conns = v;
  v[nsp->nconns].fn = (void (*)(void))fn;
  v[nsp->nconns++].ud = ud;
}

/* Setup calls: this loop's replica, then every other one's twin. */
void sio_use(sio_namespace *nsp, sio_middleware_fn fn, void *ud) {
  nsp = sio_nsp_here(nsp);
  sio_use_one(nsp, fn, ud);
  if (sio_setup_context(nsp->srv))
    sio_setup_others(nsp->srv, SIO_SETUP_USE, nsp, NULL, (void (*)(void))fn, ud);
}

void sio_on_connection(sio_namespace *nsp, sio_connection_fn fn, void *ud) {
  nsp = sio_nsp_here(nsp);
  sio_on_connection_one(nsp, fn, ud);
  if (sio_setup_context(nsp->srv))
    sio_setup_others(nsp->srv, SIO_SETUP_ON_CONNECTION, nsp, NULL, (void (*)(void))fn, ud);
}

/* Starts the namespace middlewares of a new socket. */
void sio_mw_connect(sio_socket *s) {
  sio_next *n = calloc(1, sizeof *n);
  if (!n) {
    sio_connect_refused(s, "out of memory", NULL);
    return;
  }
  n->kind = NEXT_NSP;
  n->s = s;
  next_track(n);
  sio_sock_ref(s);
  nsp_run(n);
}

/* Runs the socket's packet middlewares over an incoming event; it is
 * dispatched when they all pass. */
void sio_mw_packet(sio_socket *s, const char *event, sio_args *args, sio_ack *ack) {
  sio_next *n = calloc(1, sizeof *n);
  if (!n) return;
  n->kind = NEXT_PACKET;
  n->s = s;
  next_track(n);
  sio_sock_ref(s);
  n->cur = s->rare ? s->rare->mws : NULL;
  n->event = strdup(event);
  n->args = sio_args_ref(args);
  n->ack = ack;
  packet_run(n);
}

/* A worker loop's replica goes: chains the application never continued
 * are released (their timers went with the loop's base). */
void sio_nexts_free(sio_server *srv) {
  while (srv->nexts) next_free(srv->nexts);
}
