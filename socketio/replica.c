/*
 * One Socket.IO server over N event loops (see replica.h): replicas, the
 * mapping of replica-0 pointers to the current loop's twin, the loops
 * layer's environment, and closing/freeing the replicas on their loops.
 */
#include "replica.h"

#include "recovery.h"

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

/* Every setup call reaches every replica, whichever loop makes it: the
 * process is one server. */
int sio_setup_context(sio_server *srv) { return group_of(srv) != NULL; }

sio_namespace *sio_nsp_twin(sio_namespace *nsp, sio_server *to) {
  sio_server *from = nsp->srv;
  if (to == from) return nsp;
  if (nsp->is_parent) {
    for (size_t i = 0; i < from->nparents; i++)
      if (from->parents[i] == nsp) return i < to->nparents ? to->parents[i] : NULL;
    return NULL;
  }
  sio_namespace *t = sio_map_get(&to->nsps, nsp->name);
  /* A dynamic child is made on each loop as clients come. */
  return t || nsp->parent ? t : sio_nsp_create(to, nsp->name);
}

sio_namespace *sio_nsp_here(sio_namespace *nsp) {
  if (!nsp || !nsp->srv->group) return nsp;
  sio_server *h = sio_here(nsp->srv);
  if (h == nsp->srv) return nsp;
  sio_namespace *t = sio_nsp_twin(nsp, h);
  return t ? t : nsp;
}

/* ---------------------------------------------------------- setup calls */

/* A setup call for the other replicas; the namespace is named by parent
 * index or by name (pointers belong to replica 0's loop). */
typedef struct setup_op {
  int kind;
  int parent;
  size_t index;
  char *name, *str;
  void (*fn)(void);
  void *ud;
  int refs; /* tasks still to run (atomic) */
} setup_op;

static void setup_op_free(setup_op *op) {
  free(op->name);
  free(op->str);
  free(op);
}

static sio_namespace *setup_nsp(sio_server *rep, const setup_op *op) {
  if (op->parent) return op->index < rep->nparents ? rep->parents[op->index] : NULL;
  if (!op->name) return NULL;
  sio_namespace *t = sio_map_get(&rep->nsps, op->name);
  return t ? t : sio_nsp_create(rep, op->name);
}

static void setup_apply(sio_server *rep, const setup_op *op) {
  sio_namespace *nsp = setup_nsp(rep, op);
  switch (op->kind) {
  case SIO_SETUP_USE:
    if (nsp) sio_use_one(nsp, (sio_middleware_fn)op->fn, op->ud);
    break;
  case SIO_SETUP_ON_CONNECTION:
    if (nsp) sio_on_connection_one(nsp, (sio_connection_fn)op->fn, op->ud);
    break;
  case SIO_SETUP_ON_SERVER_SIDE:
    if (nsp) sio_on_server_side_one(nsp, op->str, (sio_server_side_fn)op->fn, op->ud);
    break;
  case SIO_SETUP_OF: /* setup_nsp made it */
    break;
  case SIO_SETUP_MATCH:
    sio_of_match_one(rep, (sio_nsp_match_fn)op->fn, op->ud);
    break;
  case SIO_SETUP_REGEX:
    sio_of_regex_one(rep, op->str);
    break;
  case SIO_SETUP_ON_REQUEST:
    sio_on_request_one(rep, (eio_request_handler)op->fn, op->ud);
    break;
  }
}

typedef struct setup_task {
  setup_op *op;
  sio_server *rep;
} setup_task;

static void setup_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  setup_task *t = arg;
  setup_op *op = t->op;
  if (!cancelled) setup_apply(t->rep, op);
  free(t);
  if (__atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL) == 0) setup_op_free(op);
}

void sio_setup_others(sio_server *srv, int kind, sio_namespace *nsp, const char *str,
                      void (*fn)(void), void *ud) {
  sio_group *g = group_of(srv);
  setup_op *op = g ? calloc(1, sizeof *op) : NULL;
  if (!op) return;
  op->kind = kind;
  op->fn = fn;
  op->ud = ud;
  if (nsp && nsp->is_parent) {
    op->parent = 1;
    for (size_t i = 0; i < nsp->srv->nparents; i++)
      if (nsp->srv->parents[i] == nsp) op->index = i;
  } else if (nsp) {
    op->name = strdup(nsp->name);
  }
  if (str) op->str = strdup(str);
  if ((nsp && !nsp->is_parent && !op->name) || (str && !op->str)) {
    setup_op_free(op);
    return;
  }
  if (!g->listening) { /* no loop thread runs yet */
    for (size_t i = 0; i < g->n; i++)
      if (g->reps[i] != srv) setup_apply(g->reps[i], op);
    setup_op_free(op);
    return;
  }
  op->refs = 1; /* this call's, until every task is posted */
  for (size_t i = 0; i < g->n; i++) {
    if (g->reps[i] == srv) continue;
    setup_task *t = malloc(sizeof *t);
    if (!t) continue;
    *t = (setup_task){op, g->reps[i]};
    __atomic_add_fetch(&op->refs, 1, __ATOMIC_ACQ_REL);
    if (eio_server_post(g->reps[i]->eio, setup_run, t) != 0) {
      __atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL);
      free(t);
    }
  }
  if (__atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL) == 0) setup_op_free(op);
}

/* --------------------------------------------------- the loops layer */

static int env_post(void *ctx, size_t to, sio_loops_task *t);
static size_t env_room_size(void *ctx, const char *nsp, const char *room);
static sio_adapter *env_front(void *ctx, size_t loop, const char *name);
static void env_record(void *ctx, size_t loop, const char *nsp, const sio_msg *msg,
                       const sio_bcast_opts *o);
static sio_restored *env_restore(void *ctx, size_t loop, const char *nsp, const char *pid,
                                 const char *offset);
static void env_rooms(void *ctx, const char *nsp, sio_map *out);

static void post_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  sio_loops_task *t = arg;
  t->run(t, cancelled);
}

static int env_post(void *ctx, size_t to, sio_loops_task *t) {
  sio_group *g = ctx;
  return eio_server_post_batched(g->reps[to]->eio, post_run, t);
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

/* Recovery with sessions kept per loop (recovery.c does the work). */
static sio_namespace *live_nsp(sio_group *g, size_t loop, const char *name) {
  sio_server *r = g->reps[loop];
  sio_namespace *nsp = r->closing ? NULL : sio_map_get(&r->nsps, name);
  return nsp && nsp->rec ? nsp : NULL;
}

static void env_record(void *ctx, size_t loop, const char *name, const sio_msg *msg,
                       const sio_bcast_opts *o) {
  sio_namespace *nsp = live_nsp(ctx, loop, name);
  if (nsp) sio_recovery_record(nsp, msg, o);
}

static sio_restored *env_restore(void *ctx, size_t loop, const char *name, const char *pid,
                                 const char *offset) {
  sio_namespace *nsp = live_nsp(ctx, loop, name);
  return nsp ? sio_recovery_take(nsp, pid, offset) : NULL;
}

int sio_group_restore(sio_namespace *nsp, const char *pid, const char *offset,
                      sio_restore_cb cb, void *ctx) {
  sio_group *g = group_of(nsp->srv);
  if (!g) return -1;
  return sio_loops_restore(g->loops, nsp->srv->index, nsp->name, pid, offset, cb, ctx);
}

size_t sio_group_channels(const sio_server *srv) {
  return srv->group ? 2 * srv->group->n : 0;
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
  sio_loops_env env = {n,         g,          env_post,    env_encode, env_share,
                       env_front, env_room_size, env_record, env_restore, env_rooms};
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
  sio_map_init(&g->room_sockets);
  sio_map_init(&g->children);
  g->reps[0] = srv;
  srv->group = g;
  g->queued = calloc(n, sizeof *g->queued);
  if (!g->queued) return -1; /* sio_server_free(srv) frees the group */
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

/* Back on loop 0: one more loop closed its sockets. */
static void closed_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  sio_server *r0 = arg;
  sio_group *g = r0->group;
  if (cancelled || !g || g->close_finished) return;
  if (--g->closing_left == 0) sio_group_close_finish(r0);
}

static void close_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  close_task *t = arg;
  if (!cancelled) {
    sio_replica_close(t->srv, t->graceful, t->deadline_ms);
    /* after the sessions it persisted (FIFO to loop 0) */
    sio_server *r0 = t->srv->group->reps[0];
    eio_server_post(r0->eio, closed_run, r0);
  }
  free(t);
}

int sio_group_close(sio_server *srv, int graceful, unsigned deadline_ms) {
  sio_group *g = group_of(srv);
  if (!g) return 0;
  g->close_graceful = graceful;
  g->close_deadline_ms = deadline_ms;
  g->closing_left = 0;
  for (size_t i = 1; i < g->n; i++) {
    if (!g->reps[i]) continue;
    close_task *t = malloc(sizeof *t);
    if (!t) continue;
    *t = (close_task){g->reps[i], graceful, deadline_ms};
    if (eio_server_post(g->reps[i]->eio, close_run, t) != 0) free(t);
    else g->closing_left++;
  }
  /* Before listen no loop runs the tasks: replica 0 ends now. */
  return g->listening && g->closing_left > 0;
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
  for (sio_map_entry *e = sio_map_first(&g->room_sockets, &it); e;
       e = sio_map_next(&g->room_sockets, e, &it))
    free(e->value);
  sio_map_clear(&g->room_sockets);
  for (sio_map_entry *e = sio_map_first(&g->children, &it); e;
       e = sio_map_next(&g->children, e, &it))
    free(e->value);
  sio_map_clear(&g->children);
  free(g->queued);
  pthread_mutex_destroy(&g->gauge_mu);
  free(g->reps);
  free(g);
}

static void sessions_on(sio_server *r) {
  size_t it;
  for (sio_map_entry *e = sio_map_first(&r->nsps, &it); e; e = sio_map_next(&r->nsps, e, &it))
    sio_loops_adapter_sessions(((sio_namespace *)e->value)->adapter);
}

static void sessions_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  if (!cancelled) sessions_on(arg);
}

void sio_group_sessions(sio_server *srv) {
  sio_group *g = group_of(srv);
  for (size_t i = 1; g && i < g->n; i++) {
    if (!g->listening) sessions_on(g->reps[i]);
    else eio_server_post(g->reps[i]->eio, sessions_run, g->reps[i]);
  }
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

static char *room_key(const char *nsp, const char *room) {
  size_t a = strlen(nsp), b = strlen(room);
  char *k = malloc(a + b + 2);
  if (!k) return NULL;
  memcpy(k, nsp, a);
  k[a] = '\x1f';
  memcpy(k + a + 1, room, b + 1);
  return k;
}

typedef struct room_task {
  sio_group *g;
  int is_sid;
  char *nsp, *room;
} room_task;

static void room_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  room_task *t = arg;
  sio_adapter *front = cancelled ? NULL : env_front(t->g, 0, t->nsp);
  if (front && front->ops->room_sync) front->ops->room_sync(front, t->room, t->is_sid);
  free(t->nsp);
  free(t->room);
  free(t);
}

void sio_group_room(sio_server *srv, const char *nsp, const char *room, int joined,
                    int is_sid) {
  sio_group *g = group_of(srv);
  char *k = g ? room_key(nsp, room) : NULL;
  if (!k) return;
  pthread_mutex_lock(&g->gauge_mu);
  long *n = sio_map_get(&g->room_sockets, k);
  if (!n && joined && (n = calloc(1, sizeof *n)) && sio_map_put(&g->room_sockets, k, n) < 0) {
    free(n);
    n = NULL;
  }
  long now = n ? (*n += joined ? 1 : -1) : 0;
  if (n && now <= 0) free(sio_map_del(&g->room_sockets, k));
  pthread_mutex_unlock(&g->gauge_mu);
  free(k);
  /* A room came or went on another loop: loop 0's cluster adapter may
   * give it a channel of its own. */
  if (srv->index && (now == 1 || now == 0) && __atomic_load_n(&g->cluster, __ATOMIC_ACQUIRE)) {
    room_task *t = calloc(1, sizeof *t);
    if (t && (t->nsp = strdup(nsp)) && (t->room = strdup(room))) {
      t->g = g;
      t->is_sid = is_sid;
      if (eio_server_post(g->reps[0]->eio, room_run, t) == 0) return;
    }
    if (t) {
      free(t->nsp);
      free(t->room);
    }
    free(t);
  }
}

static size_t env_room_size(void *ctx, const char *nsp, const char *room) {
  sio_group *g = ctx;
  char *k = room_key(nsp, room);
  if (!k) return 0;
  pthread_mutex_lock(&g->gauge_mu);
  long *n = sio_map_get(&g->room_sockets, k);
  size_t r = n && *n > 0 ? (size_t)*n : 0;
  pthread_mutex_unlock(&g->gauge_mu);
  free(k);
  return r;
}

/* Every room of nsp with a member on some loop (room_sockets' keys). */
static void env_rooms(void *ctx, const char *nsp, sio_map *out) {
  sio_group *g = ctx;
  size_t len = strlen(nsp);
  pthread_mutex_lock(&g->gauge_mu);
  size_t it;
  for (sio_map_entry *e = sio_map_first(&g->room_sockets, &it); e;
       e = sio_map_next(&g->room_sockets, e, &it))
    if (!strncmp(e->key, nsp, len) && e->key[len] == '\x1f' && *(long *)e->value > 0)
      sio_map_put(out, e->key + len + 1, NULL);
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

/* ------------------------------------------------- dynamic children */

static char *child_key(size_t parent, const char *name) {
  char *k = NULL;
  return asprintf(&k, "%zu\x1f%s", parent, name) < 0 ? NULL : k;
}

static size_t parent_index(const sio_namespace *p) {
  for (size_t i = 0; i < p->srv->nparents; i++)
    if (p->srv->parents[i] == p) return i;
  return (size_t)-1;
}

void sio_group_child(sio_server *srv, sio_namespace *parent, const char *name) {
  sio_group *g = group_of(srv);
  char *k = g ? child_key(parent_index(parent), name) : NULL;
  if (!k) return;
  pthread_mutex_lock(&g->gauge_mu);
  uint64_t *m = sio_map_get(&g->children, k);
  if (!m && (m = calloc(1, sizeof *m)) && sio_map_put(&g->children, k, m) < 0) {
    free(m);
    m = NULL;
  }
  if (m) *m |= (uint64_t)1 << srv->index;
  pthread_mutex_unlock(&g->gauge_mu);
  free(k);
}

/* One child's share of a parent's emit, for a loop that has the child. */
typedef struct child_emit {
  sio_group *g;
  size_t to;
  char *name, *event;
  sio_args *args;       /* its own JSON, shared buffers */
  char **rooms, **except;
  size_t nrooms, nexcept;
  unsigned flags;
} child_emit;

static void child_emit_free(child_emit *t) {
  for (size_t i = 0; i < t->nrooms; i++) free(t->rooms[i]);
  for (size_t i = 0; i < t->nexcept; i++) free(t->except[i]);
  free(t->rooms);
  free(t->except);
  sio_args_unref(t->args);
  free(t->name);
  free(t->event);
  free(t);
}

static void child_emit_run(eio_server *target, void *arg, int cancelled) {
  (void)target;
  child_emit *t = arg;
  sio_namespace *c = cancelled ? NULL : sio_map_get(&t->g->reps[t->to]->nsps, t->name);
  sio_broadcast *b = c ? sio_broadcast_new(c) : NULL;
  if (b) {
    for (size_t k = 0; k < t->nrooms; k++) sio_bc_to(b, t->rooms[k]);
    for (size_t k = 0; k < t->nexcept; k++) sio_bc_except(b, t->except[k]);
    b->flags = t->flags;
    sio_bc_emit(b, t->event, t->args);
    t->args = NULL;
  }
  child_emit_free(t);
}

static int post_child_emit(sio_group *g, size_t to, const char *name, const sio_broadcast *b,
                           const char *event, const sio_args *args) {
  child_emit *t = calloc(1, sizeof *t);
  if (!t) return -1;
  t->g = g;
  t->to = to;
  t->flags = b->flags;
  for (size_t i = 0; i < args->nbins; i++) sio_buf_share(args->bins[i]);
  t->args = sio_args_wrap(json_deep_copy(args->arr), args->bins, args->nbins);
  t->name = strdup(name);
  t->event = strdup(event);
  t->rooms = calloc(b->nrooms + 1, sizeof *t->rooms);
  t->except = calloc(b->nexcept + 1, sizeof *t->except);
  int bad = !t->args || !t->name || !t->event || !t->rooms || !t->except;
  for (size_t i = 0; !bad && i < b->nrooms; i++, t->nrooms++)
    bad = !(t->rooms[i] = strdup(b->rooms[i]));
  for (size_t i = 0; !bad && i < b->nexcept; i++, t->nexcept++)
    bad = !(t->except[i] = strdup(b->except[i]));
  if (bad || eio_server_post(g->reps[to]->eio, child_emit_run, t) != 0) {
    child_emit_free(t);
    return -1;
  }
  return 0;
}

/* Each child name made on any loop: this loop's twin emits it (its loops
 * layer reaches every loop and the cluster), or the first loop having it. */
void sio_group_parent_emit(sio_broadcast *b, const char *event, sio_args *args) {
  sio_server *srv = b->nsp->srv;
  sio_group *g = group_of(srv);
  char *pre = NULL;
  if (asprintf(&pre, "%zu\x1f", parent_index(b->nsp)) < 0) pre = NULL;
  size_t plen = pre ? strlen(pre) : 0;
  char **names = NULL;
  uint64_t *masks = NULL;
  size_t n = 0;
  pthread_mutex_lock(&g->gauge_mu);
  size_t cap = g->children.count;
  names = pre && cap ? calloc(cap, sizeof *names) : NULL;
  masks = names ? calloc(cap, sizeof *masks) : NULL;
  size_t it;
  for (sio_map_entry *e = masks ? sio_map_first(&g->children, &it) : NULL; e && n < cap;
       e = sio_map_next(&g->children, e, &it))
    if (!strncmp(e->key, pre, plen) && (names[n] = strdup(e->key + plen)))
      masks[n++] = *(uint64_t *)e->value;
  pthread_mutex_unlock(&g->gauge_mu);
  for (size_t i = 0; i < n; i++) {
    sio_namespace *c = (masks[i] >> srv->index) & 1 ? sio_map_get(&srv->nsps, names[i]) : NULL;
    if (c) {
      sio_broadcast *cb = sio_broadcast_new(c);
      for (size_t k = 0; cb && k < b->nrooms; k++) sio_bc_to(cb, b->rooms[k]);
      for (size_t k = 0; cb && k < b->nexcept; k++) sio_bc_except(cb, b->except[k]);
      if (cb) cb->flags = b->flags;
      sio_bc_emit(cb, event, sio_args_ref(args));
    } else if (masks[i]) {
      post_child_emit(g, (size_t)__builtin_ctzll(masks[i]), names[i], b, event, args);
    }
    free(names[i]);
  }
  free(names);
  free(masks);
  free(pre);
  sio_args_unref(args);
  sio_bc_free(b);
}
