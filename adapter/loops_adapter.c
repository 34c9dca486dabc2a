/*
 * The in-process loops layer (see loops_adapter.h): every replica of a namespace
 * has one loops adapter around its in-memory adapter. Local work runs at
 * once; every other loop gets a message carrying what it needs (copied
 * JSON, shared buffers, copied rooms), and answers come back as messages
 * to the calling loop, keyed by an id in the caller's pending map, so an
 * answer that outlives its caller finds nothing and is dropped.
 */
#include "loops_adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

typedef struct loop_reg {
  sio_map adapters;              /* namespace name -> loops_adapter */
  unsigned long long next_id;    /* pending operations of this loop */
} loop_reg;

struct sio_loops {
  sio_loops_env env;
  int forward;                   /* a cluster adapter on loop 0 (atomic) */
  int sessions;                  /* ... that keeps sessions (atomic) */
  loop_reg *reg;                 /* one per loop, used by that loop only */
};

typedef struct loops_adapter {
  sio_adapter base;
  sio_adapter *inner;
  sio_loops *g;
  size_t idx;
  char *nsp;
  sio_map pending;               /* id -> pend */
  /* Recovery: the last sequence number given on this loop's two channels
   * (straight to every loop; through loop 0's cluster adapter). */
  unsigned long long rec_seq[2];
} loops_adapter;

enum { PEND_ACK, PEND_FETCH, PEND_COUNT, PEND_SSE, PEND_RESTORE };

/* An operation of this loop waiting for the other loops' answers. */
typedef struct pend {
  int kind;
  size_t remaining;              /* loops that have not answered */
  size_t total;                  /* PEND_ACK: clients reached */
  sio_count_cb count;
  void *ctx;
  void *ack;                     /* PEND_ACK: a reference held */
  json_t *list;                  /* PEND_FETCH: sockets so far; PEND_SSE: answers */
  sio_fetch_cb fetched;
  sio_sse_cb sse;
  sio_restore_cb restore;
  int err;                       /* PEND_SSE */
  sio_buf **bins;
  size_t nbins;
} pend;

sio_loops *sio_loops_new(const sio_loops_env *env) {
  sio_loops *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->env = *env;
  g->reg = calloc(env->n, sizeof *g->reg);
  if (!g->reg) {
    free(g);
    return NULL;
  }
  for (size_t i = 0; i < env->n; i++) sio_map_init(&g->reg[i].adapters);
  return g;
}

void sio_loops_set_sessions(sio_loops *g, int on) {
  __atomic_store_n(&g->sessions, on, __ATOMIC_RELEASE);
}

void sio_loops_set_forward(sio_loops *g, int on) {
  __atomic_store_n(&g->forward, on, __ATOMIC_RELEASE);
}

void sio_loops_free(sio_loops *g) {
  if (!g) return;
  for (size_t i = 0; i < g->env.n; i++) sio_map_clear(&g->reg[i].adapters);
  free(g->reg);
  free(g);
}

static loops_adapter *lookup(sio_loops *g, size_t idx, const char *nsp) {
  return sio_map_get(&g->reg[idx].adapters, nsp);
}

/* ------------------------------------------------------------ copies */

typedef struct opts_copy {
  sio_bcast_opts o;
  char **rooms, **except;
} opts_copy;

static char **strv_copy(const char *const *v, size_t n) {
  char **c = calloc(n + 1, sizeof *c);
  for (size_t i = 0; c && i < n; i++)
    if (!(c[i] = strdup(v[i]))) {
      for (size_t k = 0; k < i; k++) free(c[k]);
      free(c);
      return NULL;
    }
  return c;
}

static void strv_free(char **v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static int opts_copy_init(opts_copy *c, const sio_bcast_opts *o) {
  memset(c, 0, sizeof *c);
  c->o = *o;
  c->rooms = strv_copy(o->rooms, o->nrooms);
  c->except = strv_copy(o->except, o->nexcept);
  c->o.rooms = (const char *const *)c->rooms;
  c->o.except = (const char *const *)c->except;
  return c->rooms && c->except ? 0 : -1;
}

static void opts_copy_clear(opts_copy *c) {
  strv_free(c->rooms, c->o.nrooms);
  strv_free(c->except, c->o.nexcept);
}

/* Buffers that cross loops are shared; a copy holds one reference each. */
static sio_buf **bufs_share(sio_loops *g, sio_buf *const *v, size_t n) {
  sio_buf **c = calloc(n + 1, sizeof *c);
  for (size_t i = 0; c && i < n; i++) {
    g->env.share(v[i]);
    c[i] = sio_buf_ref(v[i]);
  }
  return c;
}

static void bufs_free(sio_buf **v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) sio_buf_unref(v[i]);
  free(v);
}

/* A copy of msg for another loop: its own JSON (jansson trees are not
 * shared across threads), the same (shared) binary and encoded buffers. */
static int msg_copy(sio_loops *g, sio_msg *dst, const sio_msg *src, const char *nsp) {
  memset(dst, 0, sizeof *dst);
  dst->type = src->type;
  dst->nsp = nsp;
  dst->id = src->id;
  dst->data = src->data ? json_deep_copy(src->data) : NULL;
  dst->bins = bufs_share(g, src->bins, src->nbins);
  dst->nbins = dst->bins ? src->nbins : 0;
  if (src->enc_text) {
    g->env.share(src->enc_text);
    dst->enc_text = sio_buf_ref(src->enc_text);
  }
  if (src->enc_natt) {
    dst->enc_att = bufs_share(g, src->enc_att, src->enc_natt);
    dst->enc_natt = dst->enc_att ? src->enc_natt : 0;
  }
  if ((src->data && !dst->data) || !dst->bins || (src->enc_natt && !dst->enc_att))
    return -1;
  return 0;
}

static void msg_clear(sio_msg *m) {
  json_decref(m->data);
  bufs_free(m->bins, m->nbins);
  sio_msg_release(m);
}

/* ------------------------------------------------------- pending ops */

static unsigned long long pend_add(loops_adapter *la, pend *p) {
  unsigned long long id = ++la->g->reg[la->idx].next_id;
  char key[24];
  snprintf(key, sizeof key, "%llu", id);
  if (sio_map_put(&la->pending, key, p) < 0) return 0;
  return id;
}

static pend *pend_take(loops_adapter *la, unsigned long long id) {
  char key[24];
  snprintf(key, sizeof key, "%llu", id);
  return sio_map_del(&la->pending, key);
}

static pend *pend_get(loops_adapter *la, unsigned long long id) {
  char key[24];
  snprintf(key, sizeof key, "%llu", id);
  return sio_map_get(&la->pending, key);
}

/* Calls back and frees p (taken out of the map already). err: 0, or
 * SIO_ERR_TIMEOUT (-7) when the adapter goes first. */
static void pend_finish(loops_adapter *la, pend *p, int err) {
  switch (p->kind) {
  case PEND_ACK:
    if (!err) p->count(p->ctx, p->total);
    la->base.host.ack_unref(p->ack);
    break;
  case PEND_COUNT: /* a count is always given: its caller holds a reference for it */
    p->count(p->ctx, err ? 1 : p->total);
    break;
  case PEND_FETCH:
    p->fetched(p->ctx, err, p->list);
    break;
  case PEND_SSE:
    p->sse(p->ctx, err ? err : p->err, p->list ? p->list : json_array(), p->bins, p->nbins);
    bufs_free(p->bins, p->nbins);
    break;
  case PEND_RESTORE: /* answered by restore_run; here only when going */
    if (p->restore) p->restore(p->ctx, NULL);
    break;
  }
  free(p);
}

/* One loop answered (n clients reached, sockets described, or the
 * answers to a serverSideEmit with their buffers: taken). */
static void pend_answer(loops_adapter *la, unsigned long long id, size_t n,
                        json_t *list, int err, sio_buf **bins, size_t nbins) {
  pend *p = pend_get(la, id);
  if (!p) {
    json_decref(list);
    bufs_free(bins, nbins);
    return;
  }
  p->total += n;
  if (p->kind == PEND_SSE) {
    p->list = list;
    p->err = err;
    p->bins = bins;
    p->nbins = nbins;
  } else {
    bufs_free(bins, nbins);
    if (list) {
      if (p->list) json_array_extend(p->list, list);
      json_decref(list);
    }
  }
  if (--p->remaining == 0) pend_finish(la, pend_take(la, id), 0);
}

/* A new pending operation of la, waiting for `remaining` answers. 0 when
 * out of memory. */
static unsigned long long pend_new(loops_adapter *la, int kind, size_t remaining,
                                   pend **out) {
  pend *p = calloc(1, sizeof *p);
  unsigned long long id = p ? pend_add(la, p) : 0;
  if (!id) {
    free(p);
    return 0;
  }
  p->kind = kind;
  p->remaining = remaining;
  *out = p;
  return id;
}

/* ------------------------------------------------------------ answers */

/* A loop's answer to a pending operation of loop `to`. */
typedef struct answer_task {
  sio_loops_task t;
  sio_loops *g;
  size_t to;
  char *nsp;
  unsigned long long id;
  size_t n;
  json_t *list;
  int err;
  sio_buf **bins;
  size_t nbins;
} answer_task;

static void answer_run(sio_loops_task *t, int cancelled) {
  answer_task *a = (answer_task *)t;
  loops_adapter *la = cancelled ? NULL : lookup(a->g, a->to, a->nsp);
  if (la) pend_answer(la, a->id, a->n, a->list, a->err, a->bins, a->nbins);
  else {
    json_decref(a->list);
    bufs_free(a->bins, a->nbins);
  }
  free(a->nsp);
  free(a);
}

/* list and bins are taken. */
static void answer_full(sio_loops *g, size_t to, const char *nsp, unsigned long long id,
                        size_t n, json_t *list, int err, sio_buf **bins, size_t nbins) {
  answer_task *a = calloc(1, sizeof *a);
  if (a && (a->nsp = strdup(nsp))) {
    a->t.run = answer_run;
    a->g = g;
    a->to = to;
    a->id = id;
    a->n = n;
    a->list = list;
    a->err = err;
    a->bins = bins;
    a->nbins = nbins;
    if (g->env.post(g->env.ctx, to, &a->t) == 0) return;
  }
  /* Out of memory: the caller's operation never completes; its timer
   * (broadcast acks) or the adapter's end (fetch) still answers. */
  if (a) free(a->nsp);
  free(a);
  json_decref(list);
  bufs_free(bins, nbins);
}

static void answer(sio_loops *g, size_t to, const char *nsp, unsigned long long id,
                   size_t n, json_t *list) {
  answer_full(g, to, nsp, id, n, list, 0, NULL, 0);
}

/* A client's ack to a broadcast of another loop, or the end of the relay
 * (value NULL, release set): handed to the caller's ack object. */
typedef struct ack_task {
  sio_loops_task t;
  void *ack;
  void (*remote)(void *ack, const json_t *value, sio_buf *const *bins, size_t nbins);
  void (*unref)(void *ack);
  int release;
  json_t *value;
  sio_buf **bins;
  size_t nbins;
} ack_task;

static void ack_run(sio_loops_task *t, int cancelled) {
  ack_task *a = (ack_task *)t;
  /* Cancelled: the loops stopped; the reference still goes. */
  if (a->release) a->unref(a->ack);
  else if (!cancelled) a->remote(a->ack, a->value, a->bins, a->nbins);
  json_decref(a->value);
  bufs_free(a->bins, a->nbins);
  free(a);
}

typedef struct relay_ud {
  sio_loops *g;
  size_t to;
  void *ack;
  void (*remote)(void *ack, const json_t *value, sio_buf *const *bins, size_t nbins);
  void (*unref)(void *ack);
  sio_count_cb count;       /* forwarded broadcasts: the caller's count */
  void *count_ctx;
} relay_ud;

static void relay_post(relay_ud *r, int release, const json_t *value,
                       sio_buf *const *bins, size_t nbins) {
  ack_task *a = calloc(1, sizeof *a);
  if (!a) return;
  a->t.run = ack_run;
  a->ack = r->ack;
  a->remote = r->remote;
  a->unref = r->unref;
  a->release = release;
  if (!release) {
    a->value = json_deep_copy(value ? value : json_null());
    a->bins = bufs_share(r->g, bins, nbins);
    a->nbins = a->bins ? nbins : 0;
  }
  if (r->g->env.post(r->g->env.ctx, r->to, &a->t) != 0) ack_run(&a->t, 1);
}

static void relay_answer(void *ud, const json_t *value, sio_buf *const *bins,
                         size_t nbins) {
  relay_post(ud, 0, value, bins, nbins);
}

static void relay_free_copy(relay_ud *r) { relay_post(r, 1, NULL, NULL, 0); }

static void relay_free(void *ud) {
  relay_free_copy(ud);
  free(ud);
}

/* -------------------------------------------------- work on other loops */

enum {
  OP_BROADCAST, OP_BROADCAST_ACK, OP_FETCH, OP_JOIN, OP_LEAVE, OP_DISCONNECT,
  OP_RESTORE,
  /* forwarded to loop 0's cluster adapter */
  FWD_BROADCAST, FWD_BROADCAST_ACK, FWD_FETCH, FWD_JOIN, FWD_LEAVE, FWD_DISCONNECT,
  FWD_SSE, FWD_COUNT, FWD_PERSIST, FWD_RESTORE,
};

typedef struct op_task {
  sio_loops_task t;
  sio_loops *g;
  size_t to, from;
  int op;
  char *nsp;
  opts_copy o;
  sio_msg m;                /* broadcasts, serverSideEmit */
  int has_msg;
  char **rooms;             /* join/leave */
  size_t nrooms;
  int close;                /* disconnect; FWD_SSE: an answer is wanted */
  unsigned long long id;    /* the caller's pending operation */
  void *ack;                /* broadcast ack: the caller's ack object */
  void (*remote)(void *ack, const json_t *value, sio_buf *const *bins, size_t nbins);
  void (*unref)(void *ack);
  sio_count_cb count;       /* FWD_BROADCAST_ACK: the caller's client count */
  void *count_ctx;
  char *sid, *pid;          /* FWD_PERSIST (sid, pid); [FWD|OP]_RESTORE (offset, pid) */
  json_t *data;             /* FWD_PERSIST */
} op_task;

static void count_into(void *ctx, size_t n) { *(size_t *)ctx += n; }

static void fetch_into(void *ctx, int err, json_t *sockets) {
  (void)err;
  json_t **out = ctx;
  *out = sockets;
}

static relay_ud op_relay(const op_task *o) {
  relay_ud r = {o->g, o->from, o->ack, o->remote, o->unref, o->count, o->count_ctx};
  return r;
}

/* A client count for a forwarded broadcast, back on the caller's loop. */
typedef struct count_task {
  sio_loops_task t;
  sio_count_cb count;
  void *ctx;
  size_t n;
} count_task;

static void count_run(sio_loops_task *t, int cancelled) {
  count_task *c = (count_task *)t;
  if (!cancelled) c->count(c->ctx, c->n);
  free(c);
}

static void relay_count(void *ud, size_t n) {
  relay_ud *r = ud;
  count_task *c = calloc(1, sizeof *c);
  if (!c) return;
  c->t.run = count_run;
  c->count = r->count;
  c->ctx = r->count_ctx;
  c->n = n;
  if (r->g->env.post(r->g->env.ctx, r->to, &c->t) != 0) free(c);
}

/* Broadcast with ack on this loop for another loop's caller: a relay ack
 * object sends each client's answer back; this loop's own ack id goes on
 * the packet (ids are per namespace replica), so it is encoded again here.
 * Local: returns the clients reached here. Forwarded (to loop 0's cluster
 * adapter): each server's count goes back through relay_count. */
static size_t op_broadcast_ack(op_task *o, const sio_adapter_host *h, sio_adapter *to,
                               int forwarded) {
  relay_ud *r = calloc(1, sizeof *r);
  relay_ud tmp = op_relay(o);
  if (!r) {
    relay_free_copy(&tmp);
    return 0;
  }
  *r = tmp;
  void *relay = h->ack_relay(h->ctx, relay_answer, r, relay_free, o->o.o.timeout_ms);
  if (!relay) return 0; /* relay_free already ran */
  sio_msg_release(&o->m);
  o->m.id = h->next_ack_id(h->ctx);
  size_t n = 0;
  if (forwarded) to->ops->broadcast_with_ack(to, &o->m, &o->o.o, relay_count, relay, r);
  else to->ops->broadcast_with_ack(to, &o->m, &o->o.o, count_into, relay, &n);
  h->ack_unref(relay);
  return n;
}

/* Answers of loop 0's cluster adapter to a forwarded operation. */
typedef struct fwd_ctx {
  sio_loops *g;
  size_t to;
  char *nsp;
  unsigned long long id;
} fwd_ctx;

static fwd_ctx *fwd_ctx_new(const op_task *o) {
  fwd_ctx *f = calloc(1, sizeof *f);
  char *nsp = f ? strdup(o->nsp) : NULL;
  if (!nsp) {
    free(f);
    return NULL;
  }
  *f = (fwd_ctx){o->g, o->from, nsp, o->id};
  return f;
}

static void fwd_ctx_free(fwd_ctx *f) {
  free(f->nsp);
  free(f);
}

static void fwd_fetched(void *ctx, int err, json_t *sockets) {
  fwd_ctx *f = ctx;
  json_t *copy = sockets ? json_deep_copy(sockets) : json_array();
  json_decref(sockets);
  answer_full(f->g, f->to, f->nsp, f->id, 0, copy, err, NULL, 0);
  fwd_ctx_free(f);
}

static void fwd_counted(void *ctx, size_t n) {
  fwd_ctx *f = ctx;
  answer(f->g, f->to, f->nsp, f->id, n, NULL);
  fwd_ctx_free(f);
}

static void fwd_sse(void *ctx, int err, json_t *responses, sio_buf *const *bins,
                    size_t nbins) {
  fwd_ctx *f = ctx;
  json_t *copy = responses ? json_deep_copy(responses) : json_array();
  json_decref(responses);
  sio_buf **b = bufs_share(f->g, bins, nbins);
  answer_full(f->g, f->to, f->nsp, f->id, 0, copy, err, b, b ? nbins : 0);
  fwd_ctx_free(f);
}

/* ------------------------------------------------ sessions (recovery) */

static void restored_free(sio_restored *c) {
  if (!c) return;
  json_decref(c->data);
  strv_free(c->rooms, c->nrooms);
  for (size_t i = 0; c->packets && i < c->npackets; i++) {
    json_decref(c->packets[i].data);
    bufs_free(c->packets[i].bins, c->packets[i].nbins);
  }
  free(c->packets);
  free(c->seen);
  free(c);
}

/* A copy for another loop: own JSON, shared buffers. NULL when out of
 * memory. */
static sio_restored *restored_copy(sio_loops *g, const sio_restored *r) {
  sio_restored *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  memcpy(c->sid, r->sid, sizeof c->sid);
  memcpy(c->pid, r->pid, sizeof c->pid);
  c->data = r->data ? json_deep_copy(r->data) : NULL;
  c->rooms = strv_copy((const char *const *)r->rooms, r->nrooms);
  c->nrooms = c->rooms ? r->nrooms : 0;
  c->packets = calloc(r->npackets + 1, sizeof *c->packets);
  c->npackets = c->packets ? r->npackets : 0;
  if (r->nseen && (c->seen = malloc(r->nseen * sizeof *c->seen))) {
    memcpy(c->seen, r->seen, r->nseen * sizeof *c->seen);
    c->nseen = r->nseen;
  }
  int bad = !c->rooms || !c->packets || (r->data && !c->data) || (r->nseen && !c->seen);
  for (size_t i = 0; !bad && i < r->npackets; i++) {
    c->packets[i].data = json_deep_copy(r->packets[i].data);
    c->packets[i].bins = bufs_share(g, r->packets[i].bins, r->packets[i].nbins);
    c->packets[i].nbins = c->packets[i].bins ? r->packets[i].nbins : 0;
    bad = !c->packets[i].data || !c->packets[i].bins;
  }
  if (bad) {
    restored_free(c);
    return NULL;
  }
  return c;
}

typedef struct restore_task {
  sio_loops_task t;
  sio_loops *g;
  size_t to;
  char *nsp;
  unsigned long long id;
  sio_restored *r;
} restore_task;

/* One loop's answer: the first session found goes to the caller at once
 * (only one loop can hold it); no session anywhere: NULL after the last
 * answer. */
static void restore_run(sio_loops_task *t, int cancelled) {
  restore_task *x = (restore_task *)t;
  loops_adapter *la = cancelled ? NULL : lookup(x->g, x->to, x->nsp);
  pend *p = la ? pend_get(la, x->id) : NULL;
  if (p) {
    if (x->r && p->restore) {
      sio_restore_cb cb = p->restore;
      p->restore = NULL;
      cb(p->ctx, x->r);
    }
    if (--p->remaining == 0) {
      p = pend_take(la, x->id);
      if (p && p->restore) p->restore(p->ctx, NULL);
      free(p);
    }
  }
  restored_free(x->r);
  free(x->nsp);
  free(x);
}

static void fwd_restored(void *ctx, const sio_restored *r);

static void op_run(sio_loops_task *t, int cancelled) {
  op_task *o = (op_task *)t;
  sio_loops *g = o->g;
  int fwd = o->op >= FWD_BROADCAST;
  loops_adapter *la = cancelled || fwd || o->op < 0 ? NULL : lookup(g, o->to, o->nsp);
  sio_adapter *in = la ? la->inner : NULL;
  sio_adapter *front = !cancelled && fwd ? g->env.front(g->env.ctx, o->to, o->nsp) : NULL;
  relay_ud tmp = op_relay(o);
  switch (o->op) {
  case OP_BROADCAST:
    if (in) {
      if (o->o.o.flags & SIO_BC_RECOVERY)
        g->env.record(g->env.ctx, o->to, o->nsp, &o->m, &o->o.o);
      in->ops->broadcast(in, &o->m, &o->o.o);
    }
    break;
  case OP_BROADCAST_ACK: {
    size_t n = 0;
    if (in) n = op_broadcast_ack(o, &la->base.host, in, 0);
    else relay_free_copy(&tmp); /* the caller's reference goes back */
    if (!cancelled) answer(g, o->from, o->nsp, o->id, n, NULL);
    break;
  }
  case OP_FETCH: {
    json_t *list = NULL;
    if (in) in->ops->fetch_sockets(in, &o->o.o, fetch_into, &list);
    /* The descriptions share the sockets' JSON: the caller gets a copy. */
    json_t *copy = list ? json_deep_copy(list) : json_array();
    json_decref(list);
    if (!cancelled) answer(g, o->from, o->nsp, o->id, 0, copy);
    else json_decref(copy);
    break;
  }
  case OP_JOIN:
    if (in) in->ops->add_sockets(in, &o->o.o, (const char *const *)o->rooms, o->nrooms);
    break;
  case OP_LEAVE:
    if (in) in->ops->del_sockets(in, &o->o.o, (const char *const *)o->rooms, o->nrooms);
    break;
  case OP_DISCONNECT:
    if (in) in->ops->disconnect_sockets(in, &o->o.o, o->close);
    break;
  case OP_RESTORE: /* is the session kept on this loop? */
    if (!cancelled) {
      sio_restored *r = g->env.restore(g->env.ctx, o->to, o->nsp, o->pid, o->sid);
      fwd_restored(fwd_ctx_new(o), r);
      restored_free(r);
    }
    break;
  case FWD_BROADCAST:
    if (front) front->ops->broadcast(front, &o->m, &o->o.o);
    break;
  case FWD_BROADCAST_ACK:
    if (front) op_broadcast_ack(o, &front->host, front, 1);
    else relay_free_copy(&tmp);
    break;
  case FWD_FETCH: {
    fwd_ctx *f = front ? fwd_ctx_new(o) : NULL;
    if (f) front->ops->fetch_sockets(front, &o->o.o, fwd_fetched, f);
    else if (!cancelled) answer_full(g, o->from, o->nsp, o->id, 0, json_array(), -7, NULL, 0);
    break;
  }
  case FWD_JOIN:
    if (front) front->ops->add_sockets(front, &o->o.o, (const char *const *)o->rooms, o->nrooms);
    break;
  case FWD_LEAVE:
    if (front) front->ops->del_sockets(front, &o->o.o, (const char *const *)o->rooms, o->nrooms);
    break;
  case FWD_DISCONNECT:
    if (front) front->ops->disconnect_sockets(front, &o->o.o, o->close);
    break;
  case FWD_SSE: {
    fwd_ctx *f = front && o->close ? fwd_ctx_new(o) : NULL;
    if (front) front->ops->server_side_emit(front, &o->m, f ? fwd_sse : NULL, f);
    if (o->close && !f && !cancelled)
      answer_full(g, o->from, o->nsp, o->id, 0, json_array(), 0, NULL, 0);
    break;
  }
  case FWD_COUNT: {
    fwd_ctx *f = front ? fwd_ctx_new(o) : NULL;
    if (f) front->ops->server_count(front, fwd_counted, f);
    else if (!cancelled) answer(g, o->from, o->nsp, o->id, 1, NULL);
    break;
  }
  case FWD_PERSIST:
    if (front && front->ops->persist_session) {
      sio_session s = {o->sid, o->pid, o->data, (const char *const *)o->rooms, o->nrooms};
      front->ops->persist_session(front, &s);
    }
    break;
  case FWD_RESTORE: {
    fwd_ctx *f = front && front->ops->restore_session ? fwd_ctx_new(o) : NULL;
    if (f) front->ops->restore_session(front, o->pid, o->sid, fwd_restored, f);
    else if (!cancelled) fwd_restored(fwd_ctx_new(o), NULL);
    break;
  }
  default: /* never posted */
    break;
  }
  opts_copy_clear(&o->o);
  if (o->has_msg) msg_clear(&o->m);
  strv_free(o->rooms, o->nrooms);
  free(o->sid);
  free(o->pid);
  json_decref(o->data);
  free(o->nsp);
  free(o);
}

/* Loop 0's streams adapter found (or not) a session for another loop. */
static void fwd_restored(void *ctx, const sio_restored *r) {
  fwd_ctx *f = ctx;
  if (!f) return;
  restore_task *x = calloc(1, sizeof *x);
  if (x && (x->nsp = strdup(f->nsp))) {
    x->t.run = restore_run;
    x->g = f->g;
    x->to = f->to;
    x->id = f->id;
    x->r = r ? restored_copy(f->g, r) : NULL;
    if (f->g->env.post(f->g->env.ctx, f->to, &x->t) != 0) restore_run(&x->t, 1);
  } else if (x) {
    free(x);
  }
  fwd_ctx_free(f);
}

static const sio_bcast_opts no_opts = {NULL, 0, NULL, 0, 0, 0, 0, 0};

/* Posts op to loop `to`. With ack, the caller's ack object is kept (one
 * reference) until the other side's relay ends. 0, or -1 (nothing was
 * posted, nothing kept). */
static int post_op(loops_adapter *la, size_t to, int op, const sio_msg *msg,
                   const sio_bcast_opts *opts, const char *const *rooms, size_t nrooms,
                   int close, unsigned long long id, void *ack, sio_count_cb count,
                   void *count_ctx) {
  sio_loops *g = la->g;
  op_task *o = calloc(1, sizeof *o);
  if (!o) return -1;
  o->t.run = op_run;
  o->g = g;
  o->to = to;
  o->from = la->idx;
  o->op = -1; /* until complete: freeing runs nothing */
  o->close = close;
  o->id = id;
  o->remote = la->base.host.ack_remote;
  o->unref = la->base.host.ack_unref;
  o->count = count;
  o->count_ctx = count_ctx;
  int bad = !(o->nsp = strdup(la->nsp)) || opts_copy_init(&o->o, opts ? opts : &no_opts) != 0;
  if (!bad && msg) {
    o->has_msg = 1;
    bad = msg_copy(g, &o->m, msg, o->nsp) != 0;
  }
  if (!bad && nrooms) {
    o->rooms = strv_copy(rooms, nrooms);
    o->nrooms = nrooms;
    bad = !o->rooms;
  }
  if (bad) {
    op_run(&o->t, 1);
    return -1;
  }
  o->op = op;
  if (ack) o->ack = la->base.host.ack_ref(ack); /* released by the relay's end */
  if (g->env.post(g->env.ctx, to, &o->t) != 0) {
    if (ack) la->base.host.ack_unref(ack);
    o->op = -1;
    op_run(&o->t, 1);
    return -1;
  }
  return 0;
}

/* Posts op to every other loop; returns how many took it. */
static size_t fan_out(loops_adapter *la, int op, const sio_msg *msg,
                      const sio_bcast_opts *opts, const char *const *rooms,
                      size_t nrooms, int close, unsigned long long id, void *ack) {
  size_t posted = 0;
  for (size_t j = 0; j < la->g->env.n; j++)
    if (j != la->idx &&
        post_op(la, j, op, msg, opts, rooms, nrooms, close, id, ack, NULL, NULL) == 0)
      posted++;
  return posted;
}

/* 1 when this operation goes to loop 0's cluster adapter: a cluster is
 * there, this is another loop, and the operation is not `local`. */
static int forwards(const loops_adapter *la, const sio_bcast_opts *o) {
  return la->idx != 0 && __atomic_load_n(&la->g->forward, __ATOMIC_ACQUIRE) &&
         !(o && (o->flags & SIO_BC_LOCAL));
}

/* ------------------------------------------------------------- the ops */

static void la_free(sio_adapter *a) {
  loops_adapter *la = (loops_adapter *)a;
  if (lookup(la->g, la->idx, la->nsp) == la)
    sio_map_del(&la->g->reg[la->idx].adapters, la->nsp);
  size_t it;
  sio_map_entry *e;
  while ((e = sio_map_first(&la->pending, &it))) {
    pend *p = sio_map_del(&la->pending, e->key);
    pend_finish(la, p, -7 /* SIO_ERR_TIMEOUT */);
  }
  sio_map_clear(&la->pending);
  la->inner->ops->free(la->inner);
  free(la->nsp);
  free(la);
}

static int la_add_all(sio_adapter *a, const char *sid, const char *const *rooms,
                      size_t n) {
  sio_adapter *in = ((loops_adapter *)a)->inner;
  return in->ops->add_all(in, sid, rooms, n);
}

static void la_del(sio_adapter *a, const char *sid, const char *room) {
  sio_adapter *in = ((loops_adapter *)a)->inner;
  in->ops->del(in, sid, room);
}

static void la_del_all(sio_adapter *a, const char *sid) {
  sio_adapter *in = ((loops_adapter *)a)->inner;
  in->ops->del_all(in, sid);
}

/* Encoded once here; every loop sends the same (shared) buffers. The
 * `local` flag still reaches every loop: the process is one server. */
static void la_broadcast(sio_adapter *a, sio_msg *msg, const sio_bcast_opts *o) {
  loops_adapter *la = (loops_adapter *)a;
  int fwd = forwards(la, o);
  sio_bcast_opts ro;
  if ((o->flags & SIO_BC_RECOVERY) && !o->rec_seq) {
    /* Recovery over loops: a sequence number on the channel this message
     * travels (FIFO from here to every loop), so a session taken over by
     * another loop can tell which packets its client had seen. Channels:
     * loop i straight (i), loop i through loop 0's cluster adapter (n+i). */
    ro = *o;
    ro.rec_channel = (unsigned)(fwd ? la->g->env.n + la->idx : la->idx);
    ro.rec_seq = ++la->rec_seq[fwd];
    o = &ro;
  }
  la->g->env.encode(la->g->env.ctx, msg);
  if (fwd) { /* loop 0's cluster adapter: Redis, then every loop */
    post_op(la, 0, FWD_BROADCAST, msg, o, NULL, 0, 0, 0, NULL, NULL, NULL);
    return;
  }
  fan_out(la, OP_BROADCAST, msg, o, NULL, 0, 0, 0, NULL);
  if (o->flags & SIO_BC_RECOVERY) la->g->env.record(la->g->env.ctx, la->idx, la->nsp, msg, o);
  la->inner->ops->broadcast(la->inner, msg, o);
}

/* Every loop counts the clients it reached and relays their answers; the
 * caller hears one count (the sum) once every loop answered. */
static void la_broadcast_with_ack(sio_adapter *a, sio_msg *msg,
                                  const sio_bcast_opts *o, sio_count_cb count,
                                  void *ack, void *ctx) {
  loops_adapter *la = (loops_adapter *)a;
  if (forwards(la, o)) {
    /* Loop 0's cluster adapter reports each server's count (through the
     * relay) and every answer; ctx lives as long as ack (it is the
     * Socket.IO layer's ack object). */
    la->g->env.encode(la->g->env.ctx, msg);
    post_op(la, 0, FWD_BROADCAST_ACK, msg, o, NULL, 0, 0, 0, ack, count, ctx);
    return;
  }
  pend *p = calloc(1, sizeof *p);
  unsigned long long id = p ? pend_add(la, p) : 0;
  if (!id) { /* out of memory: this loop only */
    free(p);
    la->inner->ops->broadcast_with_ack(la->inner, msg, o, count, ack, ctx);
    return;
  }
  p->kind = PEND_ACK;
  p->count = count;
  p->ctx = ctx;
  p->ack = la->base.host.ack_ref(ack);
  p->remaining = 1; /* this call's, until the posts are counted */
  la->g->env.encode(la->g->env.ctx, msg);
  p->remaining += fan_out(la, OP_BROADCAST_ACK, msg, o, NULL, 0, 0, id, ack);
  size_t n = 0;
  la->inner->ops->broadcast_with_ack(la->inner, msg, o, count_into, ack, &n);
  pend_answer(la, id, n, NULL, 0, NULL, 0);
}

static void la_sockets(sio_adapter *a, const char *const *rooms, size_t n,
                       sio_map *out) {
  sio_adapter *in = ((loops_adapter *)a)->inner;
  in->ops->sockets(in, rooms, n, out);
}

static const sio_map *la_socket_rooms(sio_adapter *a, const char *sid) {
  sio_adapter *in = ((loops_adapter *)a)->inner;
  return in->ops->socket_rooms(in, sid);
}

static void la_fetch_sockets(sio_adapter *a, const sio_bcast_opts *o,
                             sio_fetch_cb cb, void *ctx) {
  loops_adapter *la = (loops_adapter *)a;
  if (forwards(la, o)) {
    pend *q;
    unsigned long long qid = pend_new(la, PEND_FETCH, 1, &q);
    if (qid) {
      q->fetched = cb;
      q->ctx = ctx;
      q->list = json_array();
      if (post_op(la, 0, FWD_FETCH, NULL, o, NULL, 0, 0, qid, NULL, NULL, NULL) != 0)
        pend_finish(la, pend_take(la, qid), -7);
      return;
    }
  }
  json_t *local = NULL;
  la->inner->ops->fetch_sockets(la->inner, o, fetch_into, &local);
  pend *p = calloc(1, sizeof *p);
  unsigned long long id = p ? pend_add(la, p) : 0;
  if (!id) {
    free(p);
    cb(ctx, 0, local ? local : json_array());
    return;
  }
  p->kind = PEND_FETCH;
  p->fetched = cb;
  p->ctx = ctx;
  p->list = local ? local : json_array();
  p->remaining = 1;
  p->remaining += fan_out(la, OP_FETCH, NULL, o, NULL, 0, 0, id, NULL);
  pend_answer(la, id, 0, NULL, 0, NULL, 0);
}

static void la_add_sockets(sio_adapter *a, const sio_bcast_opts *o,
                           const char *const *rooms, size_t n) {
  loops_adapter *la = (loops_adapter *)a;
  if (forwards(la, o)) {
    post_op(la, 0, FWD_JOIN, NULL, o, rooms, n, 0, 0, NULL, NULL, NULL);
    return;
  }
  fan_out(la, OP_JOIN, NULL, o, rooms, n, 0, 0, NULL);
  la->inner->ops->add_sockets(la->inner, o, rooms, n);
}

static void la_del_sockets(sio_adapter *a, const sio_bcast_opts *o,
                           const char *const *rooms, size_t n) {
  loops_adapter *la = (loops_adapter *)a;
  if (forwards(la, o)) {
    post_op(la, 0, FWD_LEAVE, NULL, o, rooms, n, 0, 0, NULL, NULL, NULL);
    return;
  }
  fan_out(la, OP_LEAVE, NULL, o, rooms, n, 0, 0, NULL);
  la->inner->ops->del_sockets(la->inner, o, rooms, n);
}

static void la_disconnect_sockets(sio_adapter *a, const sio_bcast_opts *o, int close) {
  loops_adapter *la = (loops_adapter *)a;
  if (forwards(la, o)) {
    post_op(la, 0, FWD_DISCONNECT, NULL, o, NULL, 0, close, 0, NULL, NULL, NULL);
    return;
  }
  fan_out(la, OP_DISCONNECT, NULL, o, NULL, 0, close, 0, NULL);
  la->inner->ops->disconnect_sockets(la->inner, o, close);
}

/* The other loops are this server: they get no server-side events; the
 * other servers hear them through loop 0's cluster adapter. */
static void la_server_side_emit(sio_adapter *a, sio_msg *msg, sio_sse_cb cb, void *ctx) {
  loops_adapter *la = (loops_adapter *)a;
  if (forwards(la, NULL)) {
    pend *p = NULL;
    unsigned long long id = cb ? pend_new(la, PEND_SSE, 1, &p) : 0;
    if (id) {
      p->sse = cb;
      p->ctx = ctx;
    }
    if (!cb || id) {
      if (post_op(la, 0, FWD_SSE, msg, NULL, NULL, 0, id != 0, id, NULL, NULL, NULL) != 0 &&
          id)
        pend_finish(la, pend_take(la, id), -7);
      return;
    }
  }
  la->inner->ops->server_side_emit(la->inner, msg, cb, ctx);
}

/* Loops are not servers: the count is the cluster's (1 without one). */
static void la_server_count(sio_adapter *a, sio_count_cb cb, void *ctx) {
  loops_adapter *la = (loops_adapter *)a;
  if (forwards(la, NULL)) {
    pend *p;
    unsigned long long id = pend_new(la, PEND_COUNT, 1, &p);
    if (id) {
      p->count = cb;
      p->ctx = ctx;
      if (post_op(la, 0, FWD_COUNT, NULL, NULL, NULL, 0, 0, id, NULL, NULL, NULL) != 0)
        pend_finish(la, pend_take(la, id), -7);
      return;
    }
  }
  la->inner->ops->server_count(la->inner, cb, ctx);
}

/* The process is one server: its rooms are every loop's. */
static void la_rooms(sio_adapter *a, sio_map *out) {
  loops_adapter *la = (loops_adapter *)a;
  if (la->g->env.rooms && la->g->env.n > 1) {
    la->g->env.rooms(la->g->env.ctx, la->nsp, out);
    return;
  }
  la->inner->ops->rooms(la->inner, out);
}

static size_t la_room_size(sio_adapter *a, const char *room) {
  loops_adapter *la = (loops_adapter *)a;
  return la->g->env.room_size(la->g->env.ctx, la->nsp, room);
}

/* Sessions kept by loop 0's cluster adapter (the streams adapter). */
static void la_persist_session(sio_adapter *a, const sio_session *s) {
  loops_adapter *la = (loops_adapter *)a;
  op_task *o = calloc(1, sizeof *o);
  if (!o) return;
  o->t.run = op_run;
  o->g = la->g;
  o->to = 0;
  o->from = la->idx;
  o->op = -1;
  int bad = !(o->nsp = strdup(la->nsp)) || opts_copy_init(&o->o, &no_opts) != 0 ||
            !(o->sid = strdup(s->sid)) || !(o->pid = strdup(s->pid)) ||
            !(o->rooms = strv_copy(s->rooms, s->nrooms)) ||
            (s->data && !(o->data = json_deep_copy(s->data)));
  o->nrooms = o->rooms ? s->nrooms : 0;
  if (bad) {
    op_run(&o->t, 1);
    return;
  }
  o->op = FWD_PERSIST;
  if (la->g->env.post(la->g->env.ctx, 0, &o->t) != 0) {
    o->op = -1;
    op_run(&o->t, 1);
  }
}

static void la_restore_session(sio_adapter *a, const char *pid, const char *offset,
                               sio_restore_cb cb, void *ctx) {
  loops_adapter *la = (loops_adapter *)a;
  pend *p;
  unsigned long long id = pend_new(la, PEND_RESTORE, 1, &p);
  op_task *o = id ? calloc(1, sizeof *o) : NULL;
  if (!o) {
    if (id) pend_finish(la, pend_take(la, id), -7);
    else cb(ctx, NULL);
    return;
  }
  p->restore = cb;
  p->ctx = ctx;
  o->t.run = op_run;
  o->g = la->g;
  o->to = 0;
  o->from = la->idx;
  o->op = -1;
  o->id = id;
  int bad = !(o->nsp = strdup(la->nsp)) || opts_copy_init(&o->o, &no_opts) != 0 ||
            !(o->pid = strdup(pid)) || !(o->sid = strdup(offset));
  if (!bad) o->op = FWD_RESTORE;
  if (bad || la->g->env.post(la->g->env.ctx, 0, &o->t) != 0) {
    o->op = -1;
    op_run(&o->t, 1);
    pend_finish(la, pend_take(la, id), -7);
  }
}

/* Sessions kept by each loop (the in-memory way): every other loop is
 * asked; the one holding pid answers with it. */
int sio_loops_restore(sio_loops *g, size_t idx, const char *nsp, const char *pid,
                      const char *offset, sio_restore_cb cb, void *ctx) {
  loops_adapter *la = lookup(g, idx, nsp);
  if (!la || g->env.n < 2) return -1;
  pend *p;
  unsigned long long id = pend_new(la, PEND_RESTORE, 1, &p);
  if (!id) return -1;
  p->restore = cb;
  p->ctx = ctx;
  for (size_t j = 0; j < g->env.n; j++) {
    if (j == idx) continue;
    op_task *o = calloc(1, sizeof *o);
    if (!o) break;
    o->t.run = op_run;
    o->g = g;
    o->to = j;
    o->from = idx;
    o->op = -1;
    o->id = id;
    int bad = !(o->nsp = strdup(nsp)) || opts_copy_init(&o->o, &no_opts) != 0 ||
              !(o->pid = strdup(pid)) || !(o->sid = strdup(offset));
    if (!bad) o->op = OP_RESTORE;
    if (bad || g->env.post(g->env.ctx, j, &o->t) != 0) {
      o->op = -1;
      op_run(&o->t, 1);
      continue;
    }
    p->remaining++;
  }
  /* The 1 this call held: the answers may all be in already (no: they run
   * on this loop's thread later), so this only ends it when nothing went. */
  if (--p->remaining == 0) pend_finish(la, pend_take(la, id), 0);
  return 0;
}

static const sio_adapter_ops la_ops_sessions;

void sio_loops_adapter_sessions(sio_adapter *a) {
  loops_adapter *la = (loops_adapter *)a;
  if (la->idx != 0 && __atomic_load_n(&la->g->sessions, __ATOMIC_ACQUIRE))
    la->base.ops = &la_ops_sessions;
}

static const sio_adapter_ops la_ops = {
    la_free,          la_add_all,          la_del,
    la_del_all,       la_broadcast,        la_broadcast_with_ack,
    la_sockets,       la_socket_rooms,     la_fetch_sockets,
    la_add_sockets,   la_del_sockets,      la_disconnect_sockets,
    la_server_side_emit, la_server_count,  la_rooms,
    NULL,             NULL,
    la_room_size,     NULL,
};

static const sio_adapter_ops la_ops_sessions = {
    la_free,          la_add_all,          la_del,
    la_del_all,       la_broadcast,        la_broadcast_with_ack,
    la_sockets,       la_socket_rooms,     la_fetch_sockets,
    la_add_sockets,   la_del_sockets,      la_disconnect_sockets,
    la_server_side_emit, la_server_count,  la_rooms,
    la_persist_session, la_restore_session,
    la_room_size,     NULL,
};

sio_adapter *sio_loops_adapter_new(sio_loops *g, size_t idx, const char *nsp,
                                   sio_adapter *inner) {
  if (!inner) return NULL;
  loops_adapter *la = calloc(1, sizeof *la);
  if (!la || !(la->nsp = strdup(nsp)) ||
      sio_map_put(&g->reg[idx].adapters, nsp, la) < 0) {
    if (la) free(la->nsp);
    free(la);
    inner->ops->free(inner);
    return NULL;
  }
  la->base.ops = &la_ops;
  la->base.host = inner->host;
  la->inner = inner;
  la->g = g;
  la->idx = idx;
  sio_map_init(&la->pending);
  sio_loops_adapter_sessions(&la->base);
  return &la->base;
}
