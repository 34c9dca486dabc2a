/*
 * The in-process loops layer (see loops.h): every replica of a namespace
 * has one loops adapter around its in-memory adapter. Local work runs at
 * once; every other loop gets a message carrying what it needs (copied
 * JSON, shared buffers, copied rooms), and answers come back as messages
 * to the calling loop, keyed by an id in the caller's pending map, so an
 * answer that outlives its caller finds nothing and is dropped.
 */
#include "loops.h"

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
  loop_reg *reg;                 /* one per loop, used by that loop only */
};

typedef struct loops_adapter {
  sio_adapter base;
  sio_adapter *inner;
  sio_loops *g;
  size_t idx;
  char *nsp;
  sio_map pending;               /* id -> pend */
} loops_adapter;

enum { PEND_ACK, PEND_FETCH };

/* An operation of this loop waiting for the other loops' answers. */
typedef struct pend {
  int kind;
  size_t remaining;              /* loops that have not answered */
  size_t total;                  /* PEND_ACK: clients reached */
  sio_count_cb count;
  void *ctx;
  void *ack;                     /* PEND_ACK: a reference held */
  json_t *list;                  /* PEND_FETCH: sockets so far */
  sio_fetch_cb fetched;
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
  if (p->kind == PEND_ACK) {
    if (!err) p->count(p->ctx, p->total);
    la->base.host.ack_unref(p->ack);
  } else {
    p->fetched(p->ctx, err, p->list);
  }
  free(p);
}

/* One loop answered (n clients reached, or sockets described). */
static void pend_answer(loops_adapter *la, unsigned long long id, size_t n,
                        json_t *list) {
  pend *p = pend_get(la, id);
  if (!p) {
    json_decref(list);
    return;
  }
  p->total += n;
  if (list) {
    json_array_extend(p->list, list);
    json_decref(list);
  }
  if (--p->remaining == 0) pend_finish(la, pend_take(la, id), 0);
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
} answer_task;

static void answer_run(sio_loops_task *t, int cancelled) {
  answer_task *a = (answer_task *)t;
  loops_adapter *la = cancelled ? NULL : lookup(a->g, a->to, a->nsp);
  if (la) pend_answer(la, a->id, a->n, a->list);
  else json_decref(a->list);
  free(a->nsp);
  free(a);
}

static void answer(sio_loops *g, size_t to, const char *nsp, unsigned long long id,
                   size_t n, json_t *list) {
  answer_task *a = calloc(1, sizeof *a);
  if (a && (a->nsp = strdup(nsp))) {
    a->t.run = answer_run;
    a->g = g;
    a->to = to;
    a->id = id;
    a->n = n;
    a->list = list;
    if (g->env.post(g->env.ctx, to, &a->t) == 0) return;
  }
  /* Out of memory: the caller's operation never completes; its timer
   * (broadcast acks) or the adapter's end (fetch) still answers. */
  if (a) free(a->nsp);
  free(a);
  json_decref(list);
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
  if (!cancelled) {
    if (a->release) a->unref(a->ack);
    else a->remote(a->ack, a->value, a->bins, a->nbins);
  }
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

static void relay_free(void *ud) {
  relay_post(ud, 1, NULL, NULL, 0);
  free(ud);
}

/* -------------------------------------------------- work on other loops */

enum { OP_BROADCAST, OP_BROADCAST_ACK, OP_FETCH, OP_JOIN, OP_LEAVE, OP_DISCONNECT };

typedef struct op_task {
  sio_loops_task t;
  sio_loops *g;
  size_t to, from;
  int op;
  char *nsp;
  opts_copy o;
  sio_msg m;                /* broadcasts */
  char **rooms;             /* join/leave */
  size_t nrooms;
  int close;                /* disconnect */
  unsigned long long id;    /* the caller's pending operation */
  void *ack;                /* broadcast ack: the caller's ack object */
  void (*remote)(void *ack, const json_t *value, sio_buf *const *bins, size_t nbins);
  void (*unref)(void *ack);
} op_task;

static void count_into(void *ctx, size_t n) { *(size_t *)ctx += n; }

static void fetch_into(void *ctx, int err, json_t *sockets) {
  (void)err;
  json_t **out = ctx;
  *out = sockets;
}

/* Broadcast with ack on this loop for another loop's caller: a relay ack
 * object sends each client's answer back; this loop's own ack id goes on
 * the packet (ids are per namespace replica), so it is encoded again here. */
static size_t op_broadcast_ack(op_task *o, loops_adapter *la) {
  relay_ud *r = calloc(1, sizeof *r);
  size_t n = 0;
  if (!r) {
    relay_free(&(relay_ud){o->g, o->from, o->ack, o->remote, o->unref});
    return 0;
  }
  *r = (relay_ud){o->g, o->from, o->ack, o->remote, o->unref};
  const sio_adapter_host *h = &la->base.host;
  void *relay = h->ack_relay(h->ctx, relay_answer, r, relay_free, o->o.o.timeout_ms);
  if (!relay) return 0; /* relay_free already ran */
  sio_msg_release(&o->m);
  o->m.id = h->next_ack_id(h->ctx);
  la->inner->ops->broadcast_with_ack(la->inner, &o->m, &o->o.o, count_into, relay, &n);
  h->ack_unref(relay);
  return n;
}

static void op_run(sio_loops_task *t, int cancelled) {
  op_task *o = (op_task *)t;
  loops_adapter *la = cancelled ? NULL : lookup(o->g, o->to, o->nsp);
  sio_adapter *in = la ? la->inner : NULL;
  switch (o->op) {
  case OP_BROADCAST:
    if (in) in->ops->broadcast(in, &o->m, &o->o.o);
    break;
  case OP_BROADCAST_ACK: {
    size_t n = 0;
    if (in) n = op_broadcast_ack(o, la);
    else if (!cancelled) relay_free(&(relay_ud){o->g, o->from, o->ack, o->remote, o->unref});
    if (!cancelled) answer(o->g, o->from, o->nsp, o->id, n, NULL);
    break;
  }
  case OP_FETCH: {
    json_t *list = NULL;
    if (in) in->ops->fetch_sockets(in, &o->o.o, fetch_into, &list);
    /* The descriptions share the sockets' JSON: the caller gets a copy. */
    json_t *copy = list ? json_deep_copy(list) : json_array();
    json_decref(list);
    if (!cancelled) answer(o->g, o->from, o->nsp, o->id, 0, copy);
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
  }
  opts_copy_clear(&o->o);
  msg_clear(&o->m);
  strv_free(o->rooms, o->nrooms);
  free(o->nsp);
  free(o);
}

/* Posts op to every other loop; returns how many took it. */
static size_t fan_out(loops_adapter *la, int op, const sio_msg *msg,
                      const sio_bcast_opts *opts, const char *const *rooms,
                      size_t nrooms, int close, unsigned long long id, void *ack) {
  sio_loops *g = la->g;
  size_t posted = 0;
  for (size_t j = 0; j < g->env.n; j++) {
    if (j == la->idx) continue;
    op_task *o = calloc(1, sizeof *o);
    if (!o) continue;
    o->t.run = op_run;
    o->g = g;
    o->to = j;
    o->from = la->idx;
    o->op = op;
    o->close = close;
    o->id = id;
    o->ack = ack;
    o->remote = la->base.host.ack_remote;
    o->unref = la->base.host.ack_unref;
    int bad = !(o->nsp = strdup(la->nsp)) || opts_copy_init(&o->o, opts) != 0;
    if (!bad && msg) bad = msg_copy(g, &o->m, msg, o->nsp) != 0;
    if (!bad && nrooms) {
      o->rooms = strv_copy(rooms, nrooms);
      o->nrooms = nrooms;
      bad = !o->rooms;
    }
    if (!bad && ack) la->base.host.ack_ref(ack); /* released by the relay's end */
    if (bad || g->env.post(g->env.ctx, j, &o->t) != 0) {
      if (!bad && ack) la->base.host.ack_unref(ack);
      o->op = -1; /* nothing to run: just free */
      op_run(&o->t, 1);
      continue;
    }
    posted++;
  }
  return posted;
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
  la->g->env.encode(la->g->env.ctx, msg);
  fan_out(la, OP_BROADCAST, msg, o, NULL, 0, 0, 0, NULL);
  la->inner->ops->broadcast(la->inner, msg, o);
}

/* Every loop counts the clients it reached and relays their answers; the
 * caller hears one count (the sum) once every loop answered. */
static void la_broadcast_with_ack(sio_adapter *a, sio_msg *msg,
                                  const sio_bcast_opts *o, sio_count_cb count,
                                  void *ack, void *ctx) {
  loops_adapter *la = (loops_adapter *)a;
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
  pend_answer(la, id, n, NULL);
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
  pend_answer(la, id, 0, NULL);
}

static void la_add_sockets(sio_adapter *a, const sio_bcast_opts *o,
                           const char *const *rooms, size_t n) {
  loops_adapter *la = (loops_adapter *)a;
  fan_out(la, OP_JOIN, NULL, o, rooms, n, 0, 0, NULL);
  la->inner->ops->add_sockets(la->inner, o, rooms, n);
}

static void la_del_sockets(sio_adapter *a, const sio_bcast_opts *o,
                           const char *const *rooms, size_t n) {
  loops_adapter *la = (loops_adapter *)a;
  fan_out(la, OP_LEAVE, NULL, o, rooms, n, 0, 0, NULL);
  la->inner->ops->del_sockets(la->inner, o, rooms, n);
}

static void la_disconnect_sockets(sio_adapter *a, const sio_bcast_opts *o, int close) {
  loops_adapter *la = (loops_adapter *)a;
  fan_out(la, OP_DISCONNECT, NULL, o, NULL, 0, close, 0, NULL);
  la->inner->ops->disconnect_sockets(la->inner, o, close);
}

/* The other loops are this server: they get no server-side events. */
static void la_server_side_emit(sio_adapter *a, sio_msg *msg, sio_sse_cb cb, void *ctx) {
  sio_adapter *in = ((loops_adapter *)a)->inner;
  in->ops->server_side_emit(in, msg, cb, ctx);
}

static void la_server_count(sio_adapter *a, sio_count_cb cb, void *ctx) {
  sio_adapter *in = ((loops_adapter *)a)->inner;
  in->ops->server_count(in, cb, ctx);
}

static void la_rooms(sio_adapter *a, sio_map *out) {
  sio_adapter *in = ((loops_adapter *)a)->inner;
  in->ops->rooms(in, out);
}

static const sio_adapter_ops la_ops = {
    la_free,          la_add_all,          la_del,
    la_del_all,       la_broadcast,        la_broadcast_with_ack,
    la_sockets,       la_socket_rooms,     la_fetch_sockets,
    la_add_sockets,   la_del_sockets,      la_disconnect_sockets,
    la_server_side_emit, la_server_count,  la_rooms,
    NULL,             NULL,
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
  return &la->base;
}
