/*
 * One Socket.IO server over N event loops (see replica.h): replicas, the
 * mapping of replica-0 pointers to the current loop's twin, the loops
 * layer's environment, and closing/freeing the replicas on their loops.
 */
#include "replica.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sio_group *group_of(const sio_server *srv) { return srv->group; }

sio_server *sio_here(sio_server *srv) {
  sio_group *g = group_of(srv);
  if (!g) return srv;
  eio_server *cur = eio_server_current(srv->eio);
  if (!cur) return srv;
  return g->reps[eio_server_worker_index(cur)];
}

int sio_setup_all(const sio_server *srv) {
  sio_group *g = group_of(srv);
  return g && !g->listening;
}

sio_namespace *sio_nsp_twin(sio_namespace *nsp, sio_server *to) {
  sio_server *from = nsp->srv;
  if (to == from) return nsp;
  if (nsp->is_parent) {
    for (size_t i = 0; i < from->nparents; i++)
      if (from->parents[i] == nsp) return i < to->nparents ? to->parents[i] : NULL;
    return NULL;
  }
  if (nsp->parent) { /* a dynamic child: made on each loop as clients come */
    sio_namespace *t = sio_map_get(&to->nsps, nsp->name);
    return t;
  }
  sio_namespace *t = sio_map_get(&to->nsps, nsp->name);
  return t ? t : sio_nsp_create(to, nsp->name);
}

sio_namespace *sio_nsp_here(sio_namespace *nsp) {
  if (!nsp || !nsp->srv->group) return nsp;
  sio_server *h = sio_here(nsp->srv);
  if (h == nsp->srv) return nsp;
  sio_namespace *t = sio_nsp_twin(nsp, h);
  return t ? t : nsp;
}

size_t sio_twin_count(const sio_server *srv) {
  return sio_setup_all(srv) ? srv->group->n : 1;
}

sio_namespace *sio_twin_pick(sio_namespace *nsp, size_t i, size_t n) {
  if (n == 1) return sio_nsp_here(nsp);
  return sio_nsp_twin(nsp, nsp->srv->group->reps[i]);
}

/* --------------------------------------------------- the loops layer */

static int env_post(void *ctx, size_t to, sio_loops_task *t);

static void post_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  sio_loops_task *t = arg;
  t->run(t, cancelled);
}

static int env_post(void *ctx, size_t to, sio_loops_task *t) {
  sio_group *g = ctx;
  return eio_server_post(g->reps[to]->eio, post_run, t);
}

static int env_encode(void *ctx, sio_msg *msg) {
  sio_group *g = ctx;
  return sio_msg_encode(msg, g->reps[0]->o.parser);
}

static void env_share(sio_buf *b) { sio_buf_share(b); }

static sio_adapter *env_front(void *ctx, size_t loop, const char *name) {
  sio_group *g = ctx;
  sio_server *r = g->reps[loop];
  sio_namespace *nsp = sio_map_get(&r->nsps, name);
  if (!nsp && !r->closing) nsp = sio_nsp_create(r, name);
  return nsp ? nsp->adapter : NULL;
}

sio_adapter *sio_group_adapter(sio_server *srv, const char *nsp, sio_adapter *inner) {
  sio_group *g = group_of(srv);
  if (!g || !inner) return inner;
  return sio_loops_adapter_new(g->loops, srv->index, nsp, inner);
}

/* ------------------------------------------------------------ replicas */

int sio_group_new(sio_server *srv, size_t n) {
  sio_group *g = calloc(1, sizeof *g);
  if (!g) return -1;
  g->n = n;
  g->reps = calloc(n, sizeof *g->reps);
  sio_loops_env env = {n, g, env_post, env_encode, env_share, env_front};
  g->loops = g->reps ? sio_loops_new(&env) : NULL;
  if (!g->loops) {
    free(g->reps);
    free(g);
    return -1;
  }
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  pthread_mutex_init(&g->gauge_mu, NULL);
  sio_map_init(&g->nsp_sockets);
  g->reps[0] = srv;
  srv->group = g;
  for (size_t i = 1; i < n; i++) {
    eio_server *w = eio_server_worker(srv->eio, i);
    g->reps[i] = sio_replica_new(eio_server_base(w), &srv->o, w, i);
    if (!g->reps[i]) return -1; /* sio_server_free(srv) frees what was made */
    g->reps[i]->group = g;
  }
  /* The namespaces made so far ("/") get the loops layer now. */
  for (size_t i = 0; i < n; i++) {
    sio_server *r = g->reps[i];
    size_t it;
    for (sio_map_entry *e = sio_map_first(&r->nsps, &it); e;
         e = sio_map_next(&r->nsps, e, &it)) {
      sio_namespace *nsp = e->value;
      sio_group_gauge(r, nsp->name, 0);
      nsp->adapter = sio_group_adapter(r, nsp->name, nsp->adapter);
      if (!nsp->adapter) return -1;
    }
  }
  return 0;
}

typedef struct close_task {
  sio_server *srv;
  int graceful;
  unsigned deadline_ms;
} close_task;

static void close_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  close_task *t = arg;
  if (!cancelled) sio_replica_close(t->srv, t->graceful, t->deadline_ms);
  free(t);
}

void sio_group_close(sio_server *srv, int graceful, unsigned deadline_ms) {
  sio_group *g = group_of(srv);
  for (size_t i = 1; g && i < g->n; i++) {
    if (!g->reps[i]) continue;
    close_task *t = malloc(sizeof *t);
    if (!t) continue;
    *t = (close_task){g->reps[i], graceful, deadline_ms};
    if (eio_server_post(g->reps[i]->eio, close_run, t) != 0) free(t);
  }
}

static void teardown_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  (void)cancelled; /* off its loop (loops stopped): nothing runs there */
  sio_server *r = arg;
  sio_replica_teardown(r);
  sio_group *g = r->group;
  pthread_mutex_lock(&g->mu);
  g->torn_down++;
  pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* Each replica frees its namespaces and timers on its own loop (its base
 * goes with the engine); replica 0 waits for them, a bounded time. */
void sio_group_teardown(sio_server *srv) {
  sio_group *g = group_of(srv);
  if (!g) return;
  size_t want = 0;
  for (size_t i = 1; i < g->n; i++) {
    if (!g->reps[i]) continue;
    /* Before listen no loop thread runs: this thread does it. */
    if (g->listening && eio_server_post(g->reps[i]->eio, teardown_run, g->reps[i]) == 0)
      want++;
    else sio_replica_teardown(g->reps[i]);
  }
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 5;
  pthread_mutex_lock(&g->mu);
  while (g->torn_down < want)
    if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT) break;
  pthread_mutex_unlock(&g->mu);
}

/* After the engine (and its threads) went. */
void sio_group_free(sio_server *srv) {
  sio_group *g = group_of(srv);
  if (!g) return;
  for (size_t i = 1; i < g->n; i++)
    if (g->reps[i]) sio_replica_free(g->reps[i]);
  srv->group = NULL;
  sio_loops_free(g->loops);
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
  size_t it;
  for (sio_map_entry *e = sio_map_first(&g->nsp_sockets, &it); e;
       e = sio_map_next(&g->nsp_sockets, e, &it))
    free(e->value);
  sio_map_clear(&g->nsp_sockets);
  pthread_mutex_destroy(&g->gauge_mu);
  free(g->reps);
  free(g);
}

/* -------------------------------------------------------------- gauges */

void sio_group_gauge(sio_server *srv, const char *nsp, long delta) {
  sio_group *g = group_of(srv);
  if (!g) return;
  pthread_mutex_lock(&g->gauge_mu);
  long *n = sio_map_get(&g->nsp_sockets, nsp);
  if (!n && (n = calloc(1, sizeof *n)) && sio_map_put(&g->nsp_sockets, nsp, n) < 0) {
    free(n);
    n = NULL;
  }
  if (n) *n += delta;
  pthread_mutex_unlock(&g->gauge_mu);
}

void sio_group_gauges(sio_server *srv, void (*fn)(const char *nsp, long n, void *ud),
                      void *ud) {
  sio_group *g = group_of(srv);
  if (!g) return;
  pthread_mutex_lock(&g->gauge_mu);
  size_t it;
  for (sio_map_entry *e = sio_map_first(&g->nsp_sockets, &it); e;
       e = sio_map_next(&g->nsp_sockets, e, &it))
    fn(e->key, *(long *)e->value, ud);
  pthread_mutex_unlock(&g->gauge_mu);
}

/* ------------------------------------------------------------ posting */

typedef struct user_task {
  sio_server_task_fn fn;
  void *arg;
  sio_server *srv;
} user_task;

static void user_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  user_task *t = arg;
  t->fn(t->srv, t->arg, cancelled);
  free(t);
}

int sio_server_post(sio_server *srv, sio_server_task_fn fn, void *arg) {
  user_task *t = malloc(sizeof *t);
  if (!t) return SIO_ERR_NOMEM;
  *t = (user_task){fn, arg, srv};
  if (eio_server_post(srv->eio, user_run, t) != 0) {
    free(t);
    return SIO_ERR_NOMEM;
  }
  return SIO_OK;
}

size_t sio_server_workers(const sio_server *srv) {
  return srv->group ? srv->group->n : 1;
}

sio_server *sio_server_worker(sio_server *srv, size_t i) {
  if (!srv->group) return i == 0 ? srv : NULL;
  return i < srv->group->n ? srv->group->reps[i] : NULL;
}

size_t sio_server_worker_index(const sio_server *srv) { return srv->index; }
