/*
 * A server over N event loops: N replicas of the whole Engine.IO server,
 * one per loop. Replica 0 runs on the caller's event_base; replicas 1..N-1
 * each own a base and a thread, started by eio_server_listen. Each replica
 * has its own sessions, connections and timers; the loops talk through
 * eio_server_post only. Session ids say which loop owns them (first
 * character), so a request can be sent where its session lives.
 */
#include "internal.h"

#include "base64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 64

static const char sid_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int sid_char_index(char c) {
  const char *p = c ? strchr(sid_alphabet, c) : NULL;
  return p ? (int)(p - sid_alphabet) : -1;
}

int eio_sid_new(const eio_server *srv, char out[21]) {
  if (eio_generate_id(out) != 0) return -1;
  size_t n = srv->grp ? srv->grp->n : 1;
  if (n <= 1) return 0;
  /* The first character becomes one of those whose index is the loop's
   * modulo n, chosen by its own random bits: the other 19 characters keep
   * 114 random bits. */
  size_t idx = srv->idx;
  size_t choices = (64 - idx + n - 1) / n;
  int v = sid_char_index(out[0]);
  out[0] = sid_alphabet[idx + n * ((size_t)(v < 0 ? 0 : v) % choices)];
  return 0;
}

size_t eio_sid_loop(const eio_server *srv, const char *sid) {
  size_t n = srv->grp ? srv->grp->n : 1;
  int v = sid_char_index(sid[0]);
  if (n <= 1 || v < 0) return srv->idx;
  return (size_t)v % n;
}

/* ------------------------------------------------------------- the group */

static eio_server *rep0(const eio_server *srv) { return srv->grp->reps[0]; }

static int threaded(const eio_group *g, size_t i) {
  return i >= 1 && i <= (size_t)g->started;
}

static void group_free(eio_group *g) {
  /* Every loop thread is gone: queued tasks, and those their cancellation
   * posts, are cancelled (a queue once cancelled runs new posts at once). */
  for (size_t i = 0; i < g->n; i++)
    if (g->reps[i] && g->reps[i]->q) eio_loopq_cancel_all(g->reps[i]->q);
  for (size_t i = 0; i < g->n; i++) {
    if (g->reps[i]) {
      eio_loopq_free(g->reps[i]->q);
      eio_rep_release(g->reps[i]);
    }
    if (i && g->bases[i]) event_base_free(g->bases[i]);
  }
  free(g->reps);
  free(g->bases);
  free(g->threads);
  free(g);
}

eio_server *eio_server_new(struct event_base *base, const eio_options *opts) {
  size_t n = opts && opts->workers > 1 ? opts->workers : 1;
  if (n > MAX_WORKERS) n = MAX_WORKERS;
  eio_group *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->n = n;
  g->owner = pthread_self();
  g->reps = calloc(n, sizeof *g->reps);
  g->bases = calloc(n, sizeof *g->bases);
  g->threads = calloc(n, sizeof *g->threads);
  if (!g->reps || !g->bases || !g->threads) goto fail;
  for (size_t i = 0; i < n; i++) {
    g->bases[i] = i ? event_base_new() : base;
    if (!g->bases[i]) goto fail;
    eio_server *r = eio_rep_new(g->bases[i], opts);
    if (!r) goto fail;
    g->reps[i] = r;
    r->grp = g;
    r->idx = i;
    r->q = eio_loopq_new(r);
    if (!r->q || eio_loopq_attach(r->q, g->bases[i]) != 0) goto fail;
  }
  return g->reps[0];
fail:
  for (size_t i = 0; i < n && g->reps; i++)
    if (g->reps[i]) eio_rep_teardown(g->reps[i]);
  if (g->reps && g->bases && g->threads) {
    group_free(g);
  } else {
    free(g->reps);
    free(g->bases);
    free(g->threads);
    free(g);
  }
  return NULL;
}

static void *worker_main(void *arg) {
  eio_server *srv = arg;
  eio_loops_set_current(srv->grp, srv->idx);
  event_base_dispatch(srv->base);
  eio_loops_set_current(NULL, 0);
  return NULL;
}

int eio_server_listen(eio_server *srv, const char *host, uint16_t port) {
  eio_group *g = srv->grp;
  srv = rep0(srv);
  int reuse = g->n > 1 && srv->o.reuseport;
  int r = eio_rep_listen(srv, host, port, reuse);
  if (r != EIO_OK) return r;
  for (size_t i = 1; i < g->n; i++) {
    g->reps[i]->port = srv->port;
    if (!reuse) continue; /* replica 0 accepts for every loop */
    r = eio_rep_listen(g->reps[i], host, srv->port, 1);
    if (r != EIO_OK) return r;
  }
  for (size_t i = 1; i < g->n && g->started == (int)i - 1; i++)
    if (pthread_create(&g->threads[i], NULL, worker_main, g->reps[i]) == 0)
      g->started = (int)i;
  return g->started == (int)g->n - 1 ? EIO_OK : EIO_ERR_SYSTEM;
}

uint16_t eio_server_port(const eio_server *srv) { return srv->port; }

/* The handlers, set on every replica: directly before listen; once the
 * loops run, by a task on each (never written under a running loop). */
typedef struct handlers {
  eio_connection_cb on_connection;
  void *on_connection_ud;
  eio_request_handler on_request;
  void *on_request_ud;
  int which; /* 1: connection, 2: request */
} handlers;

static void set_handlers(eio_server *t, void *arg, int cancelled) {
  handlers *h = arg;
  if (!cancelled && h->which == 1) {
    t->on_connection = h->on_connection;
    t->on_connection_ud = h->on_connection_ud;
  } else if (!cancelled) {
    t->on_request = h->on_request;
    t->on_request_ud = h->on_request_ud;
  }
  free(h);
}

static void set_everywhere(eio_group *g, const handlers *h) {
  for (size_t i = 0; i < g->n; i++) {
    handlers *c = malloc(sizeof *c);
    if (!c) continue; /* out of memory: that loop keeps its handler */
    *c = *h;
    if (!threaded(g, i) || eio_server_post(g->reps[i], set_handlers, c) != 0)
      set_handlers(g->reps[i], c, 0);
  }
}

void eio_server_on_connection(eio_server *srv, eio_connection_cb cb, void *ud) {
  handlers h = {cb, ud, NULL, NULL, 1};
  set_everywhere(srv->grp, &h);
}

void eio_server_on_request(eio_server *srv, eio_request_handler cb, void *ud) {
  handlers h = {NULL, NULL, cb, ud, 2};
  set_everywhere(srv->grp, &h);
}

size_t eio_server_clients_count(const eio_server *srv) {
  return atomic_load(&srv->grp->clients);
}

size_t eio_server_workers(const eio_server *srv) { return srv->grp->n; }

eio_server *eio_server_worker(eio_server *srv, size_t i) {
  return i < srv->grp->n ? srv->grp->reps[i] : NULL;
}

size_t eio_server_worker_index(const eio_server *srv) { return srv->idx; }

struct event_base *eio_server_base(const eio_server *srv) { return srv->base; }

eio_server *eio_server_current(eio_server *srv) {
  eio_group *g = srv->grp;
  size_t i;
  if (eio_loops_current(g, &i)) return g->reps[i];
  if (pthread_equal(pthread_self(), g->owner)) return g->reps[0];
  return NULL;
}

int eio_server_post(eio_server *target, eio_task_fn fn, void *arg) {
  return eio_loopq_push(target->q, fn, arg) == 0 ? 0 : -1;
}

int eio_server_post_batched(eio_server *target, eio_task_fn fn, void *arg) {
  eio_server *cur = eio_server_current(target);
  return eio_loopq_push_from(target->q, cur ? cur->q : NULL, fn, arg) == 0 ? 0 : -1;
}

/* Posts fn to replica i, or runs it here when no thread runs that loop
 * (before listen); waits out a transient out-of-memory. */
static void on_loop(eio_group *g, size_t i, eio_task_fn fn, void *arg) {
  if (!threaded(g, i)) {
    fn(g->reps[i], arg, 0);
    return;
  }
  while (eio_server_post(g->reps[i], fn, arg) != 0) {
  }
}

/* ------------------------------------------------------------ lifetime */

static void close_task(eio_server *t, void *arg, int cancelled) {
  (void)arg;
  if (!cancelled) eio_rep_close(t);
}

void eio_server_close(eio_server *srv) {
  eio_group *g = srv->grp;
  for (size_t i = 1; i < g->n; i++) on_loop(g, i, close_task, NULL);
  eio_rep_close(g->reps[0]);
  /* The caller's loop ends once its connections are gone (as with one
   * loop): the wake-up event must not keep it alive. */
  eio_loopq_detach(g->reps[0]->q);
}

static void maybe_end(eio_group *g) {
  if (g->shut_self && !g->shut_left) eio_loopq_detach(g->reps[0]->q);
}

static void shut_done_task(eio_server *t, void *arg, int cancelled) {
  (void)arg;
  if (cancelled) return;
  eio_group *g = t->grp;
  if (g->shut_left) g->shut_left--;
  maybe_end(g);
}

void eio_workers_shutdown_done(eio_server *srv) {
  eio_group *g = srv->grp;
  if (!g) return;
  if (srv->idx == 0) {
    g->shut_self = 1;
    maybe_end(g);
  } else {
    while (eio_server_post(g->reps[0], shut_done_task, NULL) != 0) {
    }
  }
}

static void shutdown_task(eio_server *t, void *arg, int cancelled) {
  if (cancelled) return;
  if (t->closing) { /* closed already: nothing to wait for */
    eio_workers_shutdown_done(t);
    return;
  }
  eio_shutdown_rep(t, (unsigned)(uintptr_t)arg);
}

int eio_server_shutdown(eio_server *srv, unsigned deadline_ms) {
  eio_group *g = srv->grp;
  srv = g->reps[0];
  if (srv->closing) return EIO_OK;
  g->shut_left = 0;
  for (size_t i = 1; i < g->n; i++) {
    if (threaded(g, i)) {
      g->shut_left++;
      on_loop(g, i, shutdown_task, (void *)(uintptr_t)deadline_ms);
    } else {
      eio_rep_close(g->reps[i]); /* never listened: nothing to wait for */
    }
  }
  return eio_shutdown_rep(srv, deadline_ms);
}

static void stop_task(eio_server *t, void *arg, int cancelled) {
  (void)arg;
  if (cancelled) return;
  eio_rep_teardown(t);
  eio_loopq_detach(t->q);
  /* Not loopbreak: the callbacks the teardown deferred (bufferevent
   * finalizers holding their references) still run; the loop ends when
   * nothing is left, or soon in any case. */
  struct timeval tv = {0, 50 * 1000};
  event_base_loopexit(t->base, &tv);
}

void eio_server_free(eio_server *srv) {
  if (!srv) return;
  eio_group *g = srv->grp;
  for (size_t i = 1; i < g->n; i++)
    if (threaded(g, i)) on_loop(g, i, stop_task, NULL);
  eio_rep_teardown(g->reps[0]);
  eio_loopq_detach(g->reps[0]->q);
  for (size_t i = 1; i < g->n; i++) {
    if (threaded(g, i)) pthread_join(g->threads[i], NULL);
    else eio_rep_teardown(g->reps[i]);
  }
  group_free(g);
}

static void tls_swap_task(eio_server *t, void *arg, int cancelled) {
  if (cancelled) {
    eio_tls_ctx_unref(arg);
    return;
  }
  eio_tls_ctx_unref(t->tls); /* open connections hold their own */
  t->tls = arg;
}

int eio_server_reload_tls(eio_server *srv) {
  eio_group *g = srv->grp;
  eio_tls_ctx **v = calloc(g->n, sizeof *v);
  if (!v) return EIO_ERR_NOMEM;
  for (size_t i = 0; i < g->n; i++) {
    int r = eio_rep_tls_load(g->reps[i], &v[i]);
    if (r != EIO_OK) {
      for (size_t j = 0; j < i; j++) eio_tls_ctx_unref(v[j]);
      free(v);
      return r;
    }
  }
  for (size_t i = g->n; i-- > 0;)
    if (i) on_loop(g, i, tls_swap_task, v[i]);
    else tls_swap_task(g->reps[0], v[0], 0);
  free(v);
  return EIO_OK;
}
