/*
 * Request bookkeeping shared by the cluster adapters (see cluster_req.h):
 * Node's ClusterAdapter without its transport.
 */
#include "cluster_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "metrics.h" /* sio_m counters (socketio/metrics.c) */
#include "sio/log.h"

#define ERR_TIMEOUT (-7) /* SIO_ERR_TIMEOUT */
#define ID_MAX 64        /* request ids and uids we answer to */

struct sio_creq {
  sio_creq *next;
  sio_creq_set *set;
  char id[20];
  int kind;
  size_t expected, got;
  struct event *timer;
  json_t *acc;             /* sockets / answers so far */
  sio_mp_bins bins;
  sio_fetch_cb fetch_cb;
  sio_sse_cb sse_cb;
  void *ctx;
  void *ack;               /* broadcast with ack: the core's ack object */
  sio_count_cb count_cb;
  sio_map waiting;         /* with peers: uids that have not answered */
};

/* ------------------------------------------------------------ helpers */

void sio_creq_new_id(char *out, int hex) {
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char r[8];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) memset(r, hex ? 9 : 7, sizeof r);
  if (hex) {
    for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", r[i]);
    return;
  }
  for (int i = 0; i < 6; i++) out[i] = abc[r[i] & 63];
  out[6] = '\0';
}

json_t *sio_creq_names(const char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
  return a;
}

json_t *sio_creq_opts_encode(const sio_bcast_opts *o, int with_flags) {
  if (!with_flags)
    return json_pack("{s:o,s:o}", "rooms", sio_creq_names(o->rooms, o->nrooms), "except",
                     sio_creq_names(o->except, o->nexcept));
  json_t *flags = json_object();
  if (o->flags & SIO_BC_VOLATILE) json_object_set_new(flags, "volatile", json_true());
  if (o->flags & SIO_BC_COMPRESS_OFF) json_object_set_new(flags, "compress", json_false());
  if (o->flags & SIO_BC_EXPECT_SINGLE)
    json_object_set_new(flags, "expectSingleResponse", json_true());
  if (o->timeout_ms) json_object_set_new(flags, "timeout", json_integer(o->timeout_ms));
  return json_pack("{s:o,s:o,s:o}", "rooms", sio_creq_names(o->rooms, o->nrooms), "except",
                   sio_creq_names(o->except, o->nexcept), "flags", flags);
}

int sio_creq_opts_decode(const json_t *j, int need_object, sio_creq_opts *ov) {
  memset(ov, 0, sizeof *ov);
  if (need_object && !json_is_object(j)) return -1;
  const json_t *rooms = json_object_get(j, "rooms"), *except = json_object_get(j, "except");
  if ((rooms && !json_is_array(rooms)) || (except && !json_is_array(except))) return -1;
  size_t nr = json_array_size(rooms), ne = json_array_size(except);
  ov->v = calloc(nr + ne + 1, sizeof *ov->v);
  if (!ov->v) return -1;
  for (size_t i = 0; i < nr; i++)
    if (!(ov->v[i] = json_string_value(json_array_get(rooms, i)))) goto bad;
  for (size_t i = 0; i < ne; i++)
    if (!(ov->v[nr + i] = json_string_value(json_array_get(except, i)))) goto bad;
  ov->o.rooms = ov->v;
  ov->o.nrooms = nr;
  ov->o.except = ov->v + nr;
  ov->o.nexcept = ne;
  const json_t *flags = json_object_get(j, "flags");
  if (json_is_true(json_object_get(flags, "volatile"))) ov->o.flags |= SIO_BC_VOLATILE;
  if (json_is_false(json_object_get(flags, "compress"))) ov->o.flags |= SIO_BC_COMPRESS_OFF;
  if (json_is_true(json_object_get(flags, "expectSingleResponse")))
    ov->o.flags |= SIO_BC_EXPECT_SINGLE;
  json_t *t = json_object_get(flags, "timeout");
  if (json_is_integer(t) && json_integer_value(t) > 0 && json_integer_value(t) <= 0x7fffffff)
    ov->o.timeout_ms = (unsigned)json_integer_value(t);
  return 0;
bad:
  sio_creq_opts_clear(ov);
  return -1;
}

void sio_creq_opts_clear(sio_creq_opts *ov) {
  free(ov->v);
  ov->v = NULL;
}

/* ------------------------------------------------------------ requests */

void sio_creq_init(sio_creq_set *s, struct event_base *base, sio_adapter *self,
                   sio_adapter *local, const sio_creq_transport *t, void *ud,
                   const char *nsp, const char *tag, int hex_ids, const sio_map *peers) {
  memset(s, 0, sizeof *s);
  s->base = base;
  s->self = self;
  s->local = local;
  s->t = t;
  s->ud = ud;
  s->nsp = nsp;
  s->tag = tag;
  s->hex_ids = hex_ids;
  s->peers = peers;
}

static void req_free(sio_creq *r) {
  sio_creq_set *s = r->set;
  for (sio_creq **pp = &s->head; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  if (r->timer) event_free(r->timer);
  if (r->ack) s->self->host.ack_unref(r->ack);
  json_decref(r->acc);
  sio_mp_bins_clear(&r->bins);
  sio_map_clear(&r->waiting);
  free(r);
}

static sio_creq *req_find(const sio_creq_set *s, const char *id) {
  for (sio_creq *r = s->head; r; r = r->next)
    if (!strcmp(r->id, id)) return r;
  return NULL;
}

/* Completes (or times out) a request, calling back exactly once. */
static void req_finish(sio_creq *r, int err) {
  if (r->kind == SIO_CREQ_FETCH && r->fetch_cb)
    r->fetch_cb(r->ctx, err, json_incref(r->acc));
  else if (r->kind == SIO_CREQ_SSE && r->sse_cb)
    r->sse_cb(r->ctx, err, json_incref(r->acc), r->bins.v, r->bins.n);
  req_free(r);
}

/* The metrics' name for a request kind. */
static int m_kind(int kind) {
  return kind == SIO_CREQ_FETCH ? SIO_M_REQ_FETCH_SOCKETS
         : kind == SIO_CREQ_SSE ? SIO_M_REQ_SERVER_SIDE_EMIT
                                : SIO_M_REQ_BROADCAST_ACK;
}

static void req_timeout_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  sio_creq *r = arg;
  /* a broadcast with ack always ends here (Node cannot know either how
   * many acks will come): no warning */
  if (r->kind != SIO_CREQ_BCAST)
    sio_log(SIO_LOG_WARN, r->set->tag, "request %s (type %d) on %s timed out: only %zu "
            "responses received out of %zu", r->id, r->kind, r->set->nsp, r->got,
            r->expected);
  SIO_M_ADD(sio_m.adapter_timeouts[m_kind(r->kind)], 1);
  req_finish(r, ERR_TIMEOUT);
}

/* A request of kind, pending for exactly timeout_ms (NULL when out of
 * memory). */
static sio_creq *req_new(sio_creq_set *s, int kind, unsigned timeout_ms) {
  sio_creq *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  SIO_M_ADD(sio_m.adapter_requests[m_kind(kind)], 1);
  r->set = s;
  r->kind = kind;
  sio_map_init(&r->waiting);
  sio_creq_new_id(r->id, s->hex_ids);
  r->acc = json_array();
  r->timer = evtimer_new(s->base, req_timeout_cb, r);
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  event_base_update_cache_time(s->base); /* the deadline counts from now */
  if (!r->acc || !r->timer || evtimer_add(r->timer, &tv)) {
    if (r->timer) event_free(r->timer);
    json_decref(r->acc);
    free(r);
    return NULL;
  }
  r->next = s->head;
  s->head = r;
  return r;
}

/* servers - 1 answers; with peers, one from each peer known now. */
static void req_expect(sio_creq *r, size_t servers) {
  r->expected = servers - 1;
  const sio_map *peers = r->set->peers;
  if (!peers) return;
  size_t it;
  for (sio_map_entry *e = sio_map_first(peers, &it); e; e = sio_map_next(peers, e, &it))
    sio_map_put(&r->waiting, e->key, NULL);
}

/* An answer from uid counts once; 1 when the request is complete. */
static int req_counted(sio_creq *r, const char *uid) {
  if (!r->set->peers) return ++r->got == r->expected;
  sio_map_del(&r->waiting, uid);
  r->got++;
  return r->waiting.count == 0;
}

void sio_creq_close(sio_creq_set *s) {
  while (s->head) req_finish(s->head, ERR_TIMEOUT);
}

size_t sio_creq_pending(const sio_creq_set *s) {
  size_t n = 0;
  for (const sio_creq *r = s->head; r; r = r->next) n++;
  return n;
}

int sio_creq_is_pending(const sio_creq_set *s, const char *rid) {
  return rid && req_find(s, rid) != NULL;
}

void sio_creq_answer(sio_creq_set *s, const char *rid, int answer, const json_t *value,
                     const sio_mp_bins *bins, const char *uid) {
  sio_creq *r = rid ? req_find(s, rid) : NULL;
  if (!r) return;
  if (r->kind == SIO_CREQ_BCAST && answer == SIO_CREQ_ANS_COUNT) {
    r->count_cb(r->ctx, json_is_integer(value) && json_integer_value(value) > 0
                            ? (size_t)json_integer_value(value) : 0);
  } else if (r->kind == SIO_CREQ_BCAST && answer == SIO_CREQ_ANS_ACK) {
    s->self->host.ack_remote(r->ack, value ? value : json_null(), bins ? bins->v : NULL,
                             bins ? bins->n : 0);
  } else if ((r->kind == SIO_CREQ_FETCH && answer == SIO_CREQ_ANS_SOCKETS) ||
             (r->kind == SIO_CREQ_SSE && answer == SIO_CREQ_ANS_SSE)) {
    if (s->peers && (!uid || !sio_map_has(&r->waiting, uid))) return;
    if (r->kind == SIO_CREQ_SSE) json_array_append(r->acc, value ? (json_t *)value : json_null());
    /* an answer without a sockets array still counts (spec 4.4) */
    else if (json_is_array(value)) json_array_extend(r->acc, (json_t *)value);
    if (req_counted(r, uid)) req_finish(r, 0);
  }
}

void sio_creq_on_response(sio_creq_set *s, int type, const json_t *data,
                          const sio_mp_bins *bins, const char *uid) {
  int answer;
  const char *key;
  switch (type) {
  case SIO_CREQ_MSG_FETCH_RESPONSE: answer = SIO_CREQ_ANS_SOCKETS; key = "sockets"; break;
  case SIO_CREQ_MSG_SSE_RESPONSE: answer = SIO_CREQ_ANS_SSE; key = "packet"; break;
  case SIO_CREQ_MSG_CLIENT_COUNT: answer = SIO_CREQ_ANS_COUNT; key = "clientCount"; break;
  case SIO_CREQ_MSG_ACK: answer = SIO_CREQ_ANS_ACK; key = "packet"; break;
  default: return;
  }
  sio_creq_answer(s, json_string_value(json_object_get(data, "requestId")), answer,
                  json_object_get(data, key), bins, uid);
}

void sio_creq_peer_gone(sio_creq_set *s, const char *uid) {
  for (sio_creq *r = s->head; r;) {
    sio_creq *next = r->next;
    if (sio_map_has(&r->waiting, uid)) {
      sio_map_del(&r->waiting, uid);
      if (!r->waiting.count && r->kind != SIO_CREQ_BCAST) {
        req_finish(r, 0);
        next = s->head; /* the list changed: start over */
      }
    }
    r = next;
  }
}

/* ---------------------------------------------------- asking the others */

typedef struct fetch_ctx {
  sio_creq_set *s;
  unsigned timeout_ms;
  json_t *opts;
  sio_fetch_cb cb;
  void *ctx;
  json_t *local;
  /* Two answers are awaited (one with `local`): the local part's, which
   * may come later (the loops layer asks the other loops), and the server
   * count. */
  int waits;
  size_t servers;
  int local_only;
  int gone; /* the local part went (adapter freed): answered already */
} fetch_ctx;

static void fetch_go(fetch_ctx *f) {
  if (--f->waits > 0) return;
  sio_creq_set *s = f->s;
  sio_creq *r = !f->gone && !f->local_only && f->servers > 1
                    ? req_new(s, SIO_CREQ_FETCH, f->timeout_ms) : NULL;
  if (f->gone) {
    /* answered when the local part went */
  } else if (!r) {
    f->cb(f->ctx, 0, f->local);
  } else {
    json_decref(r->acc);
    r->acc = f->local;
    req_expect(r, f->servers);
    r->fetch_cb = f->cb;
    r->ctx = f->ctx;
    sio_creq_out out = {SIO_CREQ_FETCH, r->id, f->opts, NULL, NULL, 0, NULL, NULL};
    s->t->send_request(s->ud, &out);
  }
  json_decref(f->opts);
  free(f);
}

static void got_local(void *ctx, int err, json_t *sockets) {
  fetch_ctx *f = ctx;
  f->local = sockets ? sockets : json_array();
  if (err) { /* the local part is going: what it has, now */
    f->gone = 1;
    f->cb(f->ctx, err, f->local);
    f->local = NULL;
  }
  fetch_go(f);
}

static void fetch_counted(void *ctx, size_t servers) {
  fetch_ctx *f = ctx;
  f->servers = servers;
  fetch_go(f);
}

void sio_creq_fetch_sockets(sio_creq_set *s, const sio_bcast_opts *o, json_t *opts_json,
                            unsigned timeout_ms, sio_fetch_cb cb, void *ctx) {
  fetch_ctx *f = calloc(1, sizeof *f);
  if (!f || !opts_json) {
    free(f);
    json_decref(opts_json);
    s->local->ops->fetch_sockets(s->local, o, cb, ctx);
    return;
  }
  f->s = s;
  f->cb = cb;
  f->ctx = ctx;
  f->timeout_ms = timeout_ms;
  f->opts = opts_json;
  int local_only = (o->flags & SIO_BC_LOCAL) != 0;
  f->local_only = local_only;
  f->waits = local_only ? 1 : 2;
  s->local->ops->fetch_sockets(s->local, o, got_local, f); /* f may be gone */
  if (!local_only) s->self->ops->server_count(s->self, fetch_counted, f);
}

typedef struct sse_ctx {
  sio_creq_set *s;
  unsigned timeout_ms;
  json_t *data;
  sio_buf **bins;
  size_t nbins;
  sio_sse_cb cb;
  void *ctx;
} sse_ctx;

static void sse_counted(void *ctx, size_t servers) {
  sse_ctx *x = ctx;
  sio_creq_set *s = x->s;
  sio_creq *r = servers > 1 ? req_new(s, SIO_CREQ_SSE, x->timeout_ms) : NULL;
  if (!r) {
    x->cb(x->ctx, 0, json_array(), NULL, 0);
  } else {
    req_expect(r, servers);
    r->sse_cb = x->cb;
    r->ctx = x->ctx;
    sio_creq_out out = {SIO_CREQ_SSE, r->id, NULL, x->data, x->bins, x->nbins, NULL, NULL};
    s->t->send_request(s->ud, &out);
  }
  for (size_t i = 0; i < x->nbins; i++) sio_buf_unref(x->bins[i]);
  free(x->bins);
  json_decref(x->data);
  free(x);
}

void sio_creq_server_side_emit(sio_creq_set *s, sio_msg *m, unsigned timeout_ms,
                               sio_sse_cb cb, void *ctx) {
  if (!cb) {
    sio_creq_out out = {SIO_CREQ_SSE, NULL, NULL, m->data, m->bins, m->nbins, NULL, NULL};
    s->t->send_request(s->ud, &out);
    return;
  }
  sse_ctx *x = calloc(1, sizeof *x);
  if (x && m->nbins) x->bins = malloc(m->nbins * sizeof *x->bins);
  if (x) x->data = json_deep_copy(m->data);
  if (!x || (m->nbins && !x->bins) || !x->data) {
    if (x) free(x->bins);
    free(x);
    cb(ctx, ERR_TIMEOUT, json_array(), NULL, 0);
    return;
  }
  for (size_t i = 0; i < m->nbins; i++) x->bins[x->nbins++] = sio_buf_ref(m->bins[i]);
  x->s = s;
  x->timeout_ms = timeout_ms;
  x->cb = cb;
  x->ctx = ctx;
  s->self->ops->server_count(s->self, sse_counted, x);
}

void sio_creq_broadcast_with_ack(sio_creq_set *s, sio_msg *m, const sio_bcast_opts *o,
                                 unsigned timeout_ms, sio_count_cb client_count, void *ack,
                                 void *ctx) {
  if (!(o->flags & SIO_BC_LOCAL)) {
    /* As Node: the others' answers are taken for flags.timeout, then the
     * request goes. The ack object outlives it if need be: its own timer
     * holds a reference (socketio/broadcast.c). */
    sio_creq *r = req_new(s, SIO_CREQ_BCAST, timeout_ms);
    if (r) {
      r->ack = s->self->host.ack_ref(ack);
      r->count_cb = client_count;
      r->ctx = ctx;
      sio_creq_out out = {SIO_CREQ_BCAST, r->id, NULL, NULL, m->bins, m->nbins, m, o};
      s->t->send_request(s->ud, &out);
    }
  }
  s->local->ops->broadcast_with_ack(s->local, m, o, client_count, ack, ctx);
}

/* -------------------------------------------- answering the others */

/* Who an answer goes back to. */
typedef struct reply_ctx {
  sio_creq_set *s;
  char rid[ID_MAX];
  char requester[ID_MAX];
  int named; /* the request named its requester */
} reply_ctx;

/* NULL when malformed (an id too long) or out of memory. */
static reply_ctx *reply_to(sio_creq_set *s, const char *rid, const char *requester) {
  if (!rid || strlen(rid) >= ID_MAX || (requester && strlen(requester) >= ID_MAX)) return NULL;
  reply_ctx *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->s = s;
  snprintf(x->rid, sizeof x->rid, "%s", rid);
  snprintf(x->requester, sizeof x->requester, "%s", requester ? requester : "");
  x->named = requester != NULL;
  return x;
}

static void respond(reply_ctx *x, int answer, const json_t *value, sio_buf *const *bins,
                    size_t nbins) {
  x->s->t->respond(x->s->ud, x->named ? x->requester : NULL, x->rid, answer, value, bins,
                   nbins);
}

/* A client of ours answered another server's broadcast. */
static void relay_ack(void *ud, const json_t *value, sio_buf *const *bins, size_t nbins) {
  respond(ud, SIO_CREQ_ANS_ACK, value ? value : json_null(), bins, nbins);
}

static void relay_count(void *ctx, size_t n) {
  json_t *v = json_integer((json_int_t)n);
  respond(ctx, SIO_CREQ_ANS_COUNT, v, NULL, 0);
  json_decref(v);
}

static void sse_answer(void *rctx, const json_t *value, sio_buf *const *bins, size_t nbins) {
  reply_ctx *x = rctx;
  if (value) respond(x, SIO_CREQ_ANS_SSE, value, bins, nbins);
  free(x);
}

void sio_creq_on_broadcast_ack(sio_creq_set *s, const char *rid, const char *requester,
                               json_t *data, sio_buf *const *bins, size_t nbins,
                               const sio_bcast_opts *o) {
  if (!json_is_array(data) || !json_array_size(data)) return;
  reply_ctx *x = reply_to(s, rid, requester);
  if (!x) return;
  /* Our clients get it with our own ack id; one client count, then one
   * answer per client ack. The relay owns x (freed with it). */
  const sio_adapter_host *h = &s->self->host;
  void *ack = h->ack_relay(h->ctx, relay_ack, x, free, o->timeout_ms);
  if (!ack) return;
  sio_bcast_opts lo = *o;
  lo.flags &= ~(unsigned)SIO_BC_LOCAL;
  sio_msg m = {2, s->nsp, data, (sio_buf **)bins, nbins, h->next_ack_id(h->ctx), NULL, NULL,
               0};
  s->local->ops->broadcast_with_ack(s->local, &m, &lo, relay_count, ack, x);
  sio_msg_release(&m);
  h->ack_unref(ack);
}

/* The local part may answer later (the loops layer); not at all to the
 * requester when it goes first (err). */
static void on_fetch_local(void *ctx, int err, json_t *sockets) {
  reply_ctx *x = ctx;
  json_t *list = sockets ? sockets : json_array();
  if (!err) respond(x, SIO_CREQ_ANS_SOCKETS, list, NULL, 0);
  json_decref(list);
  free(x);
}

void sio_creq_on_fetch(sio_creq_set *s, const char *rid, const char *requester,
                       const sio_bcast_opts *o) {
  reply_ctx *x = reply_to(s, rid, requester);
  if (!x) return;
  s->local->ops->fetch_sockets(s->local, o, on_fetch_local, x);
}

void sio_creq_on_sse(sio_creq_set *s, const char *rid, const char *requester,
                     const json_t *data, sio_buf *const *bins, size_t nbins) {
  reply_ctx *x = rid ? reply_to(s, rid, requester) : NULL;
  const sio_adapter_host *h = &s->self->host;
  h->server_side(h->ctx, data, bins, nbins, x ? sse_answer : NULL, x);
}
