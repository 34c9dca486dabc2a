/*
 * The Redis streams adapter (@socket.io/redis-streams-adapter 0.3.x).
 * Plain broadcasts, SOCKETS_JOIN/LEAVE and DISCONNECT_SOCKETS are XADDed
 * to the namespace's stream and read back by every server (XREAD BLOCK on
 * a connection of their own); requests (fetchSockets, serverSideEmit,
 * broadcasts with ack) go as msgpack envelopes {type,data,uid,nsp} on
 * P#NSP#, answers on P#NSP#<uid>#. Sessions of connection state recovery
 * are SET as base64(msgpack{sid,pid,rooms,data}) with a TTL and replayed
 * from the stream on whichever server the client comes back to.
 */
#include "redis_streams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#include "base64.h"
#include "cluster_req.h"
#include "notepack.h"
#include "redis_cluster.h"
#include "redis_conn.h"
#include "redis_tls.h"
#include "sio/log.h"

#define TAG "sio:redis-streams"
/* A stream entry's data field larger than this is dropped (Node's
 * default maxHttpBufferSize is 1 MB; a cluster message is a packet). */
#define MAX_ENTRY_DATA (16u * 1024 * 1024)
#define REPLAY_COUNT "1000"  /* XRANGE page when replaying a session */
#define REPLAY_ROUNDS 100    /* as Node: at most 100 XRANGE rounds */
#define READ_RETRY_MS 100    /* after an XREAD error */
#define DRAIN_MAX_S 2        /* closing: how long the last writes may take */
#define HEARTBEAT_MS 5000    /* 0.2.x heartbeatInterval */
#define HEARTBEAT_TIMEOUT_MS 10000 /* 0.2.x heartbeatTimeout */
#define T_INITIAL_HEARTBEAT 1
#define T_HEARTBEAT 2
#define T_ADAPTER_CLOSE 13

enum { T_BROADCAST = 3, T_JOIN = 4, T_LEAVE = 5, T_DISCONNECT = 6, T_FETCH = 7,
       T_FETCH_RESPONSE = 8, T_SSE = 9, T_SSE_RESPONSE = 10, T_CLIENT_COUNT = 11,
       T_ACK = 12 };

typedef struct reader {
  sio_streams_cluster *cl;
  sio_redis *conn;
  char *key;
  char last[48];   /* last id read (or resolved at start) */
  int have_last;
  int busy;        /* a command is outstanding */
  struct event *retry;
  char host[256];  /* Redis Cluster: the master conn reads from */
  int port;
} reader;

struct sio_streams_cluster {
  struct event_base *base;
  sio_redis *pub, *sub;
  /* Redis Cluster (cluster_nodes / cluster_mode): keyed commands go to the
   * master of the key's slot, PUB/SUB and counts through sio_rc; pub and
   * sub are then NULL. */
  sio_rc *rc;
  size_t inflight;     /* keyed commands sent through rc, unanswered */
  sio_redis_tls *tls;  /* rediss://: the creator's reference, or NULL */
  reader *readers;
  unsigned nreaders;
  char *stream, *prefix, *session_prefix;
  unsigned count, max_len, read_count, block_ms, timeout_ms;
  int sharded;
  int v02;             /* speak 0.2.x: everything in the stream, heartbeats */
  int closing;
  struct event *drain; /* closing: frees pub once its last writes are done */
  sio_map by_nsp;     /* nsp -> adapter */
  sio_map by_channel; /* channel -> adapter */
};

typedef struct streams_adapter streams_adapter;

typedef struct restore restore;

struct streams_adapter {
  sio_adapter base;
  sio_adapter *local;
  sio_streams_cluster *cl;
  char uid[20];
  char *nsp;
  char *stream;           /* this namespace's stream key */
  char *ch_pub, *ch_own;  /* P#NSP#, P#NSP#<uid># */
  sio_creq_set reqs;      /* requests waiting for the other servers */
  restore *restores;
  /* 0.2.x liveness (ClusterAdapterWithHeartbeat) */
  sio_map nodes;          /* uid -> long long* last seen (ms) */
  struct event *hb, *prune;
};

/* ------------------------------------------------------------ helpers */

static char *cat(const char *a, const char *b, const char *c, const char *d) {
  char *s;
  if (asprintf(&s, "%s%s%s%s", a, b, c ? c : "", d ? d : "") < 0) return NULL;
  return s;
}

int sio_streams_index(const char *nsp, unsigned count) {
  int32_t h = 0;
  const unsigned char *p = (const unsigned char *)nsp;
  while (*p) {
    uint32_t cp;
    int n;
    if (*p < 0x80) { cp = *p; n = 1; }
    else if ((*p & 0xe0) == 0xc0) { cp = *p & 0x1f; n = 2; }
    else if ((*p & 0xf0) == 0xe0) { cp = *p & 0x0f; n = 3; }
    else { cp = *p & 0x07; n = 4; }
    for (int i = 1; i < n; i++) {
      if ((p[i] & 0xc0) != 0x80) { n = i; break; }
      cp = cp << 6 | (p[i] & 0x3f);
    }
    p += n;
    uint16_t units[2];
    int nu = 1;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units[0] = (uint16_t)(0xd800 + (cp >> 10));
      units[1] = (uint16_t)(0xdc00 + (cp & 0x3ff));
      nu = 2;
    } else {
      units[0] = (uint16_t)cp;
    }
    for (int i = 0; i < nu; i++) h = (int32_t)((uint32_t)h * 31u + units[i]);
  }
  if (!count) return 0;
  return (int)(h % (int32_t)count);
}

int sio_streams_parse_id(const char *s, size_t n, uint64_t *ms, uint64_t *seq) {
  uint64_t v[2] = {0, 0};
  int part = 0;
  size_t digits = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '-' && part == 0 && digits) {
      part = 1;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      if (v[part] > (UINT64_MAX - (uint64_t)(c - '0')) / 10) return -1;
      v[part] = v[part] * 10 + (uint64_t)(c - '0');
      digits++;
    } else {
      return -1;
    }
  }
  if (part != 1 || !digits) return -1;
  *ms = v[0];
  *seq = v[1];
  return 0;
}

/* The id right after ms-seq (Node's exclusive-range emulation). */
static void next_id(uint64_t ms, uint64_t seq, char out[48]) {
  if (seq == UINT64_MAX) snprintf(out, 48, "%llu-0", (unsigned long long)ms + 1);
  else snprintf(out, 48, "%llu-%llu", (unsigned long long)ms, (unsigned long long)seq + 1);
}

static json_t *names_json(const char *const *v, size_t n) { return sio_creq_names(v, n); }

static json_t *opts_json(const sio_bcast_opts *o) { return sio_creq_opts_encode(o, 1); }

static json_t *packet_json(const sio_msg *m) {
  json_t *p = json_pack("{s:i,s:O}", "type", 2, "data", m->data);
  return p;
}

/* msgpack of v (binary placeholders as bin); NULL on failure. */
static int pack(const json_t *v, sio_buf *const *bins, size_t nbins, msgpack_sbuffer *sb) {
  msgpack_sbuffer_init(sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  if (sio_mp_pack(&pk, v, bins, nbins) != 0) {
    msgpack_sbuffer_destroy(sb);
    return -1;
  }
  return 0;
}

/* base64(msgpack(v)), NUL-terminated, or NULL. */
static char *pack_b64(const json_t *v, sio_buf *const *bins, size_t nbins, size_t *outlen) {
  msgpack_sbuffer sb;
  if (pack(v, bins, nbins, &sb) != 0) return NULL;
  size_t n = eio_base64_encoded_len(sb.size);
  char *s = malloc(n + 1);
  if (s) {
    eio_base64_encode((const uint8_t *)sb.data, sb.size, s);
    s[n] = '\0';
    *outlen = n;
  }
  msgpack_sbuffer_destroy(&sb);
  return s;
}

/* An entry's data field: JSON when it starts with '{', else base64 of
 * msgpack (spec 3.2). */
json_t *sio_streams_decode_data(const char *s, size_t n, sio_mp_bins *bins) {
  if (n && s[0] == '{') return json_loadb(s, n, 0, NULL);
  uint8_t *raw = malloc(eio_base64_decoded_max(n) + 1);
  if (!raw) return NULL;
  long len = eio_base64_decode(s, n, raw);
  json_t *v = len < 0 ? NULL : sio_mp_decode((const char *)raw, (size_t)len, bins);
  free(raw);
  return v;
}

/* ------------------------------------------------------------ commands */

typedef struct kc {
  sio_streams_cluster *cl;
  sio_redis_reply_cb cb;
  void *ud;
} kc;

static void kc_reply(redisReply *rep, void *ud) {
  kc *k = ud;
  sio_streams_cluster *cl = k->cl;
  if (k->cb) k->cb(rep, k->ud);
  free(k);
  /* closing: the last write answered, the cluster connections may go */
  if (--cl->inflight == 0 && cl->closing && cl->rc && cl->drain) {
    struct timeval now = {0, 0};
    evtimer_add(cl->drain, &now);
  }
}

/* A command on key: the one connection, or the master of key's slot
 * (follow: redirects followed; 0 for MULTI ... EXEC). */
static void kcmd(sio_streams_cluster *cl, const char *key, int follow, sio_redis_reply_cb cb,
                 void *ud, int argc, const char **argv, const size_t *lens) {
  if (!cl->rc) {
    sio_redis_command(cl->pub, cb, ud, argc, argv, lens);
    return;
  }
  kc *k = malloc(sizeof *k);
  if (!k) {
    if (cb) cb(NULL, ud);
    return;
  }
  k->cl = cl;
  k->cb = cb;
  k->ud = ud;
  cl->inflight++;
  sio_rc_key_command(cl->rc, key, follow, kc_reply, k, argc, argv, lens);
}

/* ------------------------------------------------------------ publish */

static void publish_raw(sio_streams_cluster *cl, const char *channel, const char *payload,
                        size_t len) {
  const char *cmd = cl->sharded ? "SPUBLISH" : "PUBLISH";
  if (cl->rc) {
    sio_rc_publish(cl->rc, cmd, channel, payload, len);
    return;
  }
  const char *argv[3] = {cmd, channel, payload};
  size_t lens[3] = {strlen(cmd), strlen(channel), len};
  sio_redis_command(cl->pub, NULL, NULL, 3, argv, lens);
}

/* The envelope {type, data, uid, nsp} as msgpack on channel. data is
 * stolen. */
static void send_env(streams_adapter *a, const char *channel, int type, json_t *data,
                     sio_buf *const *bins, size_t nbins) {
  json_t *env = json_object();
  json_object_set_new(env, "type", json_integer(type));
  json_object_set_new(env, "data", data ? data : json_object());
  json_object_set_new(env, "uid", json_string(a->uid));
  json_object_set_new(env, "nsp", json_string(a->nsp));
  msgpack_sbuffer sb;
  if (pack(env, bins, nbins, &sb) == 0) {
    publish_raw(a->cl, channel, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
  }
  json_decref(env);
}

/* What to do once XADD answered: deliver or apply locally. */
enum { PEND_BROADCAST, PEND_JOIN, PEND_LEAVE, PEND_DISCONNECT };

typedef struct pend {
  streams_adapter *a;
  int kind;
  json_t *opts;         /* as written */
  json_t *data;         /* broadcast: own copy of [event, ...args] */
  sio_buf **bins;
  size_t nbins;
  int type;
  long long id;
  json_t *rooms;        /* join/leave */
  int close;
} pend;

static void pend_free(pend *p) {
  json_decref(p->opts);
  json_decref(p->data);
  json_decref(p->rooms);
  for (size_t i = 0; i < p->nbins; i++) sio_buf_unref(p->bins[i]);
  free(p->bins);
  free(p);
}

static int wants_offset(streams_adapter *a, int type, long long id, unsigned flags) {
  return a->base.host.recovery_ms && type == 2 && id < 0 && !(flags & SIO_BC_VOLATILE);
}

static void apply_local(streams_adapter *a, int kind, const sio_bcast_opts *o, json_t *data,
                        sio_buf *const *bins, size_t nbins, int type, long long id,
                        const json_t *rooms, int close, const char *offset) {
  switch (kind) {
  case PEND_BROADCAST: {
    if (offset && wants_offset(a, type, id, o->flags))
      json_array_append_new(data, json_string(offset));
    sio_msg m = {type, a->nsp, data, (sio_buf **)bins, nbins, id, NULL, NULL, 0};
    a->local->ops->broadcast(a->local, &m, o);
    sio_msg_release(&m);
    break;
  }
  case PEND_JOIN:
  case PEND_LEAVE: {
    size_t n = json_array_size(rooms);
    const char **v = calloc(n + 1, sizeof *v);
    int ok = v != NULL;
    for (size_t i = 0; ok && i < n; i++)
      ok = (v[i] = json_string_value(json_array_get(rooms, i))) != NULL;
    if (ok && kind == PEND_JOIN) a->local->ops->add_sockets(a->local, o, v, n);
    else if (ok) a->local->ops->del_sockets(a->local, o, v, n);
    free(v);
    break;
  }
  case PEND_DISCONNECT:
    a->local->ops->disconnect_sockets(a->local, o, close);
    break;
  }
}

static void xadd_reply(redisReply *rep, void *ud) {
  pend *p = ud;
  const char *offset = rep && rep->type == REDIS_REPLY_STRING ? rep->str : NULL;
  if (rep && rep->type == REDIS_REPLY_ERROR)
    sio_log(SIO_LOG_WARN, TAG, "XADD to %s failed: %s", p->a->stream, rep->str);
  sio_creq_opts ov;
  if (sio_creq_opts_decode(p->opts, 1, &ov) == 0) {
    apply_local(p->a, p->kind, &ov.o, p->data, p->bins, p->nbins, p->type, p->id, p->rooms,
                p->close, offset);
    sio_creq_opts_clear(&ov);
  }
  pend_free(p);
}

/* XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp> type <t> data <d>;
 * p (may be NULL) runs when Redis answered. */
static void xadd(streams_adapter *a, int type, json_t *obj, sio_buf *const *bins, size_t nbins,
                 pend *p) {
  char maxlen[24], t[8];
  snprintf(maxlen, sizeof maxlen, "%u", a->cl->max_len);
  snprintf(t, sizeof t, "%d", type);
  char *d;
  size_t dl = 0;
  if (!obj) {
    d = NULL;
  } else if (nbins) {
    d = pack_b64(obj, bins, nbins, &dl);
  } else {
    d = json_dumps(obj, JSON_COMPACT);
    if (d) dl = strlen(d);
  }
  if (!d && obj) {
    if (p) xadd_reply(NULL, p);
    return;
  }
  const char *argv[13] = {"XADD", a->stream, "MAXLEN", "~", maxlen, "*", "uid", a->uid,
                          "nsp", a->nsp, "type", t, "data"};
  const char *av[14];
  size_t lens[14];
  for (int i = 0; i < 13; i++) {
    av[i] = argv[i];
    lens[i] = strlen(argv[i]);
  }
  av[13] = d;
  lens[13] = dl;
  kcmd(a->cl, a->stream, 1, p ? xadd_reply : NULL, p, d ? 14 : 12, av, lens);
  free(d);
  if (a->cl->v02 && a->hb && !a->cl->closing) { /* every write re-arms the heartbeat */
    struct timeval tv = {HEARTBEAT_MS / 1000, 0};
    evtimer_add(a->hb, &tv);
  }
}

/* A message to the other servers: on PUB/SUB (0.3.x), or an entry in the
 * stream that everyone reads (0.2.x). data (may be NULL) is stolen. */
static void publish(streams_adapter *a, const char *channel, int type, json_t *data,
                    sio_buf *const *bins, size_t nbins) {
  if (a->cl->v02) {
    xadd(a, type, data, bins, nbins, NULL);
    json_decref(data);
  } else {
    send_env(a, channel, type, data, bins, nbins);
  }
}

typedef struct numsub_ctx {
  sio_count_cb cb;
  void *ctx;
} numsub_ctx;

static void numsub_reply(redisReply *rep, void *ud) {
  numsub_ctx *x = ud;
  size_t n = 1;
  if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
      rep->element[1]->type == REDIS_REPLY_INTEGER && rep->element[1]->integer > 0)
    n = (size_t)rep->element[1]->integer;
  x->cb(x->ctx, n);
  free(x);
}

static void numsub_sum(void *ud, size_t n) {
  numsub_ctx *x = ud;
  x->cb(x->ctx, n ? n : 1);
  free(x);
}

/* PUBSUB NUMSUB P#NSP# (SHARDNUMSUB when sharded): the servers, self
 * included; a server that died unsubscribed with its connection. */
static void sa_server_count(sio_adapter *base, sio_count_cb cb, void *ctx) {
  streams_adapter *a = (streams_adapter *)base;
  if (a->cl->v02) { /* 0.2.x: itself and the peers heard from lately */
    cb(ctx, 1 + a->nodes.count);
    return;
  }
  numsub_ctx *x = malloc(sizeof *x);
  if (!x) {
    cb(ctx, 1);
    return;
  }
  x->cb = cb;
  x->ctx = ctx;
  if (a->cl->rc) { /* a cluster: summed over the nodes */
    sio_rc_count(a->cl->rc, a->cl->sharded ? "SHARDNUMSUB" : "NUMSUB", a->ch_pub, numsub_sum,
                 x);
    return;
  }
  const char *argv[3] = {"PUBSUB", a->cl->sharded ? "SHARDNUMSUB" : "NUMSUB", a->ch_pub};
  sio_redis_command(a->cl->pub, numsub_reply, x, 3, argv, NULL);
}

/* ----------------------------------------------------- local operations */

static int sa_add_all(sio_adapter *b, const char *sid, const char *const *rooms, size_t n) {
  sio_adapter *l = ((streams_adapter *)b)->local;
  return l->ops->add_all(l, sid, rooms, n);
}
static void sa_del(sio_adapter *b, const char *sid, const char *room) {
  sio_adapter *l = ((streams_adapter *)b)->local;
  l->ops->del(l, sid, room);
}
static void sa_del_all(sio_adapter *b, const char *sid) {
  sio_adapter *l = ((streams_adapter *)b)->local;
  l->ops->del_all(l, sid);
}
static void sa_sockets(sio_adapter *b, const char *const *rooms, size_t n, sio_map *out) {
  sio_adapter *l = ((streams_adapter *)b)->local;
  l->ops->sockets(l, rooms, n, out);
}
static const sio_map *sa_socket_rooms(sio_adapter *b, const char *sid) {
  sio_adapter *l = ((streams_adapter *)b)->local;
  return l->ops->socket_rooms(l, sid);
}
static void sa_rooms(sio_adapter *b, sio_map *out) {
  sio_adapter *l = ((streams_adapter *)b)->local;
  l->ops->rooms(l, out);
}

/* ---------------------------------------------------------- broadcasts */

/* Node: unless local, XADD and wait for the id, then deliver locally with
 * that id as the offset (so every server's clients see the same one). */
static void sa_broadcast(sio_adapter *base, sio_msg *m, const sio_bcast_opts *o) {
  streams_adapter *a = (streams_adapter *)base;
  if (o->flags & SIO_BC_LOCAL) {
    a->local->ops->broadcast(a->local, m, o);
    return;
  }
  pend *p = calloc(1, sizeof *p);
  json_t *opts = opts_json(o);
  json_t *obj = p && opts ? json_pack("{s:o,s:O}", "packet", packet_json(m), "opts", opts)
                          : NULL;
  if (p) {
    p->a = a;
    p->kind = PEND_BROADCAST;
    p->opts = opts;
    p->data = json_deep_copy(m->data);
    p->type = m->type;
    p->id = m->id;
    if (m->nbins) p->bins = malloc(m->nbins * sizeof *p->bins);
    for (size_t i = 0; p->bins && i < m->nbins; i++) p->bins[p->nbins++] = sio_buf_ref(m->bins[i]);
  }
  if (!obj || !p->data || (m->nbins && !p->bins)) {
    json_decref(obj);
    if (p) pend_free(p);
    else json_decref(opts);
    a->local->ops->broadcast(a->local, m, o); /* at least locally */
    return;
  }
  xadd(a, T_BROADCAST, obj, m->bins, m->nbins, p);
  json_decref(obj);
}

static void sa_broadcast_with_ack(sio_adapter *base, sio_msg *m, const sio_bcast_opts *o,
                                  sio_count_cb client_count, void *ack, void *ctx) {
  streams_adapter *a = (streams_adapter *)base;
  sio_creq_broadcast_with_ack(&a->reqs, m, o, o->timeout_ms ? o->timeout_ms : a->cl->timeout_ms,
                              client_count, ack, ctx);
}

/* Room operations and disconnects: XADD, then applied here once Redis
 * answered; the others apply them when they read the entry. */
static void rooms_op(streams_adapter *a, int kind, const sio_bcast_opts *o,
                     const char *const *rooms, size_t n, int close) {
  if (o->flags & SIO_BC_LOCAL) {
    if (kind == PEND_JOIN) a->local->ops->add_sockets(a->local, o, rooms, n);
    else if (kind == PEND_LEAVE) a->local->ops->del_sockets(a->local, o, rooms, n);
    else a->local->ops->disconnect_sockets(a->local, o, close);
    return;
  }
  pend *p = calloc(1, sizeof *p);
  if (!p) return;
  p->a = a;
  p->kind = kind;
  p->opts = opts_json(o);
  p->close = close;
  json_t *obj;
  if (kind == PEND_DISCONNECT) {
    obj = json_pack("{s:O,s:b}", "opts", p->opts, "close", close);
  } else {
    p->rooms = names_json(rooms, n);
    obj = json_pack("{s:O,s:O}", "opts", p->opts, "rooms", p->rooms);
  }
  if (!obj) {
    pend_free(p);
    return;
  }
  xadd(a, kind == PEND_JOIN ? T_JOIN : kind == PEND_LEAVE ? T_LEAVE : T_DISCONNECT, obj, NULL, 0,
       p);
  json_decref(obj);
}

static void sa_add_sockets(sio_adapter *b, const sio_bcast_opts *o, const char *const *rooms,
                           size_t n) {
  rooms_op((streams_adapter *)b, PEND_JOIN, o, rooms, n, 0);
}
static void sa_del_sockets(sio_adapter *b, const sio_bcast_opts *o, const char *const *rooms,
                           size_t n) {
  rooms_op((streams_adapter *)b, PEND_LEAVE, o, rooms, n, 0);
}
static void sa_disconnect_sockets(sio_adapter *b, const sio_bcast_opts *o, int close) {
  rooms_op((streams_adapter *)b, PEND_DISCONNECT, o, NULL, 0, close);
}

/* -------------------------------------------------- cluster utilities */

/* The requests of sio_creq: envelopes on P#NSP# (0.2.x: stream entries). */
static void send_request(void *ud, const sio_creq_out *q) {
  streams_adapter *a = ud;
  if (q->kind == SIO_CREQ_FETCH)
    publish(a, a->ch_pub, T_FETCH, json_pack("{s:O,s:s}", "opts", q->opts, "requestId", q->id),
            NULL, 0);
  else if (q->kind == SIO_CREQ_SSE && q->id)
    publish(a, a->ch_pub, T_SSE, json_pack("{s:s,s:O}", "requestId", q->id, "packet", q->data),
            q->bins, q->nbins);
  else if (q->kind == SIO_CREQ_SSE)
    publish(a, a->ch_pub, T_SSE, json_pack("{s:O}", "packet", q->data), q->bins, q->nbins);
  else
    publish(a, a->ch_pub, T_BROADCAST,
            json_pack("{s:o,s:s,s:o}", "packet", packet_json(q->msg), "requestId", q->id, "opts",
                      opts_json(q->o)),
            q->bins, q->nbins);
}

static void sa_fetch_sockets(sio_adapter *base, const sio_bcast_opts *o, sio_fetch_cb cb,
                             void *ctx) {
  streams_adapter *a = (streams_adapter *)base;
  sio_creq_fetch_sockets(&a->reqs, o, opts_json(o), o->timeout_ms ? o->timeout_ms
                                                                   : a->cl->timeout_ms, cb, ctx);
}

static void sa_server_side_emit(sio_adapter *base, sio_msg *m, sio_sse_cb cb, void *ctx) {
  sio_creq_server_side_emit(&((streams_adapter *)base)->reqs, m, 5000, cb, ctx);
}

/* ------------------------------------------------------------ receiving */

/* The answers of sio_creq: an envelope on the requester's P#NSP#<uid>#
 * (0.2.x: a stream entry). */
static void respond(void *ud, const char *requester, const char *rid, int answer,
                    const json_t *value, sio_buf *const *bins, size_t nbins) {
  streams_adapter *a = ud;
  static const int types[] = {T_CLIENT_COUNT, T_ACK, T_FETCH_RESPONSE, T_SSE_RESPONSE};
  static const char *const keys[] = {"clientCount", "packet", "sockets", "packet"};
  char *ch = requester ? cat(a->ch_pub, requester, "#", NULL) : NULL;
  if (ch)
    publish(a, ch, types[answer], json_pack("{s:s,s:O}", "requestId", rid, keys[answer], value),
            bins, nbins);
  free(ch);
}

/* One message for this adapter, from the stream (offset = entry id) or
 * from PUB/SUB (offset NULL). Returns -1 when malformed. */
static int handle(streams_adapter *a, int type, json_t *data, sio_mp_bins *bins,
                  const char *uid, const char *offset) {
  if (!json_is_object(data)) return type == 1 || type == 2 || type == 13 ? 0 : -1;
  const char *rid = json_string_value(json_object_get(data, "requestId"));
  sio_creq_opts ov = {0};
  const json_t *opts = json_object_get(data, "opts");
  if (opts && sio_creq_opts_decode(opts, 1, &ov) != 0) return -1;
  int rc = 0;
  switch (type) {
  case T_BROADCAST: {
    json_t *packet = json_object_get(data, "packet");
    json_t *pd = json_object_get(packet, "data");
    if (!ov.v || !json_is_array(pd) || !json_array_size(pd)) {
      rc = -1;
      break;
    }
    ov.o.flags &= ~(unsigned)SIO_BC_LOCAL;
    if (!rid) {
      json_t *copy = json_deep_copy(pd);
      if (copy)
        apply_local(a, PEND_BROADCAST, &ov.o, copy, bins->v, bins->n, 2, -1, NULL, 0, offset);
      json_decref(copy);
      break;
    }
    if (uid) sio_creq_on_broadcast_ack(&a->reqs, rid, uid, pd, bins->v, bins->n, &ov.o);
    break;
  }
  case T_JOIN:
  case T_LEAVE: {
    json_t *rooms = json_object_get(data, "rooms");
    if (!ov.v || !json_is_array(rooms)) {
      rc = -1;
      break;
    }
    apply_local(a, type == T_JOIN ? PEND_JOIN : PEND_LEAVE, &ov.o, NULL, NULL, 0, 0, -1, rooms,
                0, NULL);
    break;
  }
  case T_DISCONNECT:
    if (!ov.v) {
      rc = -1;
      break;
    }
    a->local->ops->disconnect_sockets(a->local, &ov.o, json_is_true(json_object_get(data, "close")));
    break;
  case T_FETCH: {
    if (!rid || !ov.v || !uid) {
      rc = -1;
      break;
    }
    sio_creq_on_fetch(&a->reqs, rid, uid, &ov.o);
    break;
  }
  case T_SSE: {
    json_t *packet = json_object_get(data, "packet");
    if (!json_is_array(packet) || !json_array_size(packet)) {
      rc = -1;
      break;
    }
    sio_creq_on_sse(&a->reqs, uid ? rid : NULL, uid, packet, bins->v, bins->n);
    break;
  }
  case T_FETCH_RESPONSE:
  case T_SSE_RESPONSE:
  case T_CLIENT_COUNT:
  case T_ACK:
    sio_creq_on_response(&a->reqs, type, data, bins, uid);
    break;
  default: /* heartbeats and ADAPTER_CLOSE of 0.2.x, unknown: ignored */
    break;
  }
  sio_creq_opts_clear(&ov);
  return rc;
}

static void on_message(void *ud, const char *pattern, const char *channel, size_t chlen,
                       const char *payload, size_t len) {
  (void)pattern;
  sio_streams_cluster *cl = ud;
  char *ch = strndup(channel, chlen);
  streams_adapter *a = ch ? sio_map_get(&cl->by_channel, ch) : NULL;
  free(ch);
  if (!a) return;
  sio_mp_bins bins = {0};
  json_t *j = sio_mp_decode(payload, len, &bins);
  json_t *type = json_object_get(j, "type");
  const char *uid = json_string_value(json_object_get(j, "uid"));
  const char *nsp = json_string_value(json_object_get(j, "nsp"));
  if (!json_is_object(j) || !json_is_integer(type)) {
    sio_log(SIO_LOG_WARN, TAG, "malformed message on %.*s (%zu bytes) dropped", (int)chlen,
            channel, len);
  } else if ((!uid || strcmp(uid, a->uid)) && nsp && !strcmp(nsp, a->nsp)) {
    if (handle(a, (int)json_integer_value(type), json_object_get(j, "data"), &bins, uid, NULL))
      sio_log(SIO_LOG_WARN, TAG, "malformed message on %.*s (%zu bytes) dropped", (int)chlen,
              channel, len);
  }
  json_decref(j);
  sio_mp_bins_clear(&bins);
}

/* A stream entry: [id, [field, value, ...]]. A value with a NUL inside
 * is no string Node would match: treated as absent (data excepted, which
 * is decoded by length). */
static const redisReply *field(const redisReply *fields, const char *name) {
  for (size_t i = 0; i + 1 < fields->elements; i += 2) {
    const redisReply *k = fields->element[i], *v = fields->element[i + 1];
    if (k->type == REDIS_REPLY_STRING && k->len == strlen(name) && !strcmp(k->str, name))
      return v->type == REDIS_REPLY_STRING &&
                     (!strcmp(name, "data") || strlen(v->str) == v->len) ? v : NULL;
  }
  return NULL;
}

static int entry_shape(const redisReply *e) {
  return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
         e->element[0]->type == REDIS_REPLY_STRING && e->element[1]->type == REDIS_REPLY_ARRAY;
}

static int parse_type(const redisReply *t) {
  if (!t || !t->len || t->len > 3) return -1;
  int v = 0;
  for (size_t i = 0; i < t->len; i++) {
    if (t->str[i] < '0' || t->str[i] > '9') return -1;
    v = v * 10 + (t->str[i] - '0');
  }
  return v;
}

static long long now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A peer is gone: requests stop waiting for it. */
static void node_gone(streams_adapter *a, const char *uid) {
  free(sio_map_del(&a->nodes, uid));
  sio_creq_peer_gone(&a->reqs, uid);
}

/* 0.2.x: every message from a peer says it is alive; INITIAL_HEARTBEAT is
 * answered, ADAPTER_CLOSE removes it. 1 when the entry needs nothing else. */
static int node_seen(streams_adapter *a, const char *uid, int type) {
  if (strlen(uid) >= 64) return 1;
  if (type == T_ADAPTER_CLOSE) {
    node_gone(a, uid);
    return 1;
  }
  long long *t = sio_map_get(&a->nodes, uid);
  if (!t && (t = malloc(sizeof *t)) && sio_map_put(&a->nodes, uid, t) < 0) {
    free(t);
    t = NULL;
  }
  if (t) *t = now_ms();
  if (type == T_INITIAL_HEARTBEAT) xadd(a, T_HEARTBEAT, NULL, NULL, 0, NULL);
  return type == T_INITIAL_HEARTBEAT || type == T_HEARTBEAT;
}

static void heartbeat_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  xadd(arg, T_HEARTBEAT, NULL, NULL, 0, NULL);
}

static void prune_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  streams_adapter *a = arg;
  long long limit = now_ms() - HEARTBEAT_TIMEOUT_MS;
  for (;;) {
    const char *old = NULL;
    size_t it;
    for (sio_map_entry *e = sio_map_first(&a->nodes, &it); e && !old;
         e = sio_map_next(&a->nodes, e, &it))
      if (*(long long *)e->value < limit) old = e->key;
    if (!old) break;
    char uid[64];
    snprintf(uid, sizeof uid, "%s", old);
    sio_log(SIO_LOG_INFO, TAG, "server %s (%s) is silent: removed", uid, a->nsp);
    node_gone(a, uid);
  }
}

static void on_entry(sio_streams_cluster *cl, const redisReply *e) {
  const char *id = e->element[0]->str;
  const redisReply *f = e->element[1];
  const redisReply *nsp = field(f, "nsp"), *uid = field(f, "uid"), *data = field(f, "data");
  if (!nsp) return; /* skipped, as Node does */
  streams_adapter *a = sio_map_get(&cl->by_nsp, nsp->str);
  if (!a || (uid && !strcmp(uid->str, a->uid))) return;
  int type = parse_type(field(f, "type"));
  if (cl->v02 && uid && strcmp(uid->str, "emitter") && node_seen(a, uid->str, type) != 0)
    return;
  sio_mp_bins bins = {0};
  json_t *j = NULL;
  if (data && data->len <= MAX_ENTRY_DATA) j = sio_streams_decode_data(data->str, data->len, &bins);
  if (type < 0 || (data && !j) ||
      handle(a, type, j, &bins, uid ? uid->str : NULL, id) != 0)
    sio_log(SIO_LOG_WARN, TAG, "malformed entry %s in %s (nsp %s) dropped", id, a->stream,
            nsp->str);
  json_decref(j);
  sio_mp_bins_clear(&bins);
}

/* ------------------------------------------------------------ the reader */

static void reader_start(reader *r);

static void reader_state(void *ud, int connected);

static void reader_later(reader *r) {
  struct timeval tv = {0, READ_RETRY_MS * 1000};
  if (!r->cl->closing) evtimer_add(r->retry, &tv);
}

/* A cluster: the reader's connection goes to the master that owns the
 * stream's slot; when another master owns it (a failover, a slot moved),
 * a new connection there resumes from the last id read. Checked every
 * READ_RETRY_MS while it cannot read. */
static int reader_follow(reader *r) {
  sio_streams_cluster *cl = r->cl;
  sio_redis_url u;
  if (sio_rc_owner(cl->rc, r->key, &u) != 0) return -1;
  if (r->conn && u.port == r->port && !strcmp(u.host, r->host)) return 0;
  sio_redis *old = r->conn;
  r->conn = NULL;
  sio_redis_free(old); /* an XREAD outstanding gets NULL */
  r->busy = 0;
  snprintf(r->host, sizeof r->host, "%s", u.host);
  r->port = u.port;
  if (old)
    sio_log(SIO_LOG_INFO, TAG, "reading %s from %s:%d now, after %s", r->key, r->host, r->port,
            r->have_last ? r->last : "the start");
  r->conn = sio_redis_new(cl->base, &u, 0, NULL, reader_state, r);
  return r->conn ? 0 : -1;
}

static void reader_retry_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  reader *r = arg;
  if (r->cl->closing) return;
  if (r->cl->rc && (reader_follow(r) != 0 || !sio_redis_connected(r->conn))) {
    reader_later(r);
    return;
  }
  reader_start(r);
}

static void xread_reply(redisReply *rep, void *ud) {
  reader *r = ud;
  r->busy = 0;
  if (r->cl->closing) return;
  if (!rep) { /* the connection went: resumed on reconnection (a cluster: maybe elsewhere) */
    if (r->cl->rc) reader_later(r);
    return;
  }
  if (rep->type == REDIS_REPLY_ERROR) {
    sio_log(SIO_LOG_WARN, TAG, "XREAD %s: %s", r->key, rep->str);
    /* a cluster: MOVED (a failover, a slot moved) or the node stepping
     * down: the slot map learns it, the reader follows (reader_follow) */
    if (r->cl->rc) sio_rc_redirected(r->cl->rc, rep->str);
    reader_later(r);
    return;
  }
  if (rep->type == REDIS_REPLY_ARRAY) {
    for (size_t s = 0; s < rep->elements; s++) {
      const redisReply *st = rep->element[s];
      if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
          st->element[1]->type != REDIS_REPLY_ARRAY)
        continue;
      const redisReply *entries = st->element[1];
      for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (!entry_shape(e) || e->element[0]->len >= sizeof r->last) continue;
        snprintf(r->last, sizeof r->last, "%s", e->element[0]->str);
        on_entry(r->cl, e);
        if (r->cl->closing) return;
      }
    }
  }
  reader_start(r);
}

static void revrange_reply(redisReply *rep, void *ud) {
  reader *r = ud;
  r->busy = 0;
  if (r->cl->closing) return;
  if (!rep) {
    if (r->cl->rc) reader_later(r);
    return;
  }
  if (rep->type == REDIS_REPLY_ARRAY) {
    if (rep->elements && entry_shape(rep->element[0]) &&
        rep->element[0]->element[0]->len < sizeof r->last)
      snprintf(r->last, sizeof r->last, "%s", rep->element[0]->element[0]->str);
    else snprintf(r->last, sizeof r->last, "0-0");
    r->have_last = 1;
    reader_start(r);
  } else {
    if (rep->type == REDIS_REPLY_ERROR) {
      sio_log(SIO_LOG_WARN, TAG, "XREVRANGE %s: %s", r->key, rep->str);
      if (r->cl->rc) sio_rc_redirected(r->cl->rc, rep->str);
    }
    reader_later(r);
  }
}

/* One command at a time on the reader's own connection: first the
 * stream's current last id (so nothing added between two polls is
 * missed), then XREAD COUNT BLOCK from the last id read, forever. */
static void reader_start(reader *r) {
  if (r->busy || r->cl->closing || !sio_redis_connected(r->conn)) return;
  r->busy = 1;
  if (!r->have_last) {
    const char *argv[6] = {"XREVRANGE", r->key, "+", "-", "COUNT", "1"};
    sio_redis_command(r->conn, revrange_reply, r, 6, argv, NULL);
    return;
  }
  char count[16], block[16];
  snprintf(count, sizeof count, "%u", r->cl->read_count);
  snprintf(block, sizeof block, "%u", r->cl->block_ms);
  const char *argv[8] = {"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", r->key, r->last};
  sio_redis_command(r->conn, xread_reply, r, 8, argv, NULL);
}

static void reader_state(void *ud, int connected) {
  reader *r = ud;
  if (connected) reader_start(r);
  else if (r->cl->rc) reader_later(r); /* the owner may have changed */
}

/* ------------------------------------------------------------ sessions */

/* SET K<pid> base64(msgpack{sid,pid,rooms,data}) PX maxDisconnectionDuration */
static void sa_persist_session(sio_adapter *base, const sio_session *s) {
  streams_adapter *a = (streams_adapter *)base;
  if (!a->base.host.recovery_ms) return;
  json_t *v = json_pack("{s:s,s:s,s:o,s:O}", "sid", s->sid, "pid", s->pid, "rooms",
                        names_json(s->rooms, s->nrooms), "data",
                        s->data ? s->data : json_null());
  size_t n = 0;
  char *b64 = v ? pack_b64(v, NULL, 0, &n) : NULL;
  char *key = cat(a->cl->session_prefix, s->pid, NULL, NULL);
  char px[24];
  snprintf(px, sizeof px, "%u", a->base.host.recovery_ms);
  if (b64 && key) {
    const char *argv[5] = {"SET", key, b64, "PX", px};
    size_t lens[5] = {3, strlen(key), n, 2, strlen(px)};
    kcmd(a->cl, key, 1, NULL, NULL, 5, argv, lens);
  }
  free(key);
  free(b64);
  json_decref(v);
}

struct restore {
  restore *next;
  streams_adapter *a;
  sio_restore_cb cb;
  void *ctx;
  char *key;
  uint64_t ms, seq;
  int waiting;     /* replies still expected before replaying */
  int found;       /* the offset entry is still in the stream */
  json_t *session;
  int rounds;
  sio_restored out;
  size_t cap;
};

static void restore_finish(restore *x, int ok) {
  streams_adapter *a = x->a;
  for (restore **pp = &a->restores; *pp; pp = &(*pp)->next)
    if (*pp == x) {
      *pp = x->next;
      break;
    }
  x->cb(x->ctx, ok ? &x->out : NULL);
  json_decref(x->out.data);
  for (size_t i = 0; i < x->out.nrooms; i++) free(x->out.rooms[i]);
  free(x->out.rooms);
  for (size_t i = 0; i < x->out.npackets; i++) {
    sio_restored_packet *p = &x->out.packets[i];
    json_decref(p->data);
    for (size_t k = 0; k < p->nbins; k++) sio_buf_unref(p->bins[k]);
    free(p->bins);
  }
  free(x->out.packets);
  json_decref(x->session);
  free(x->key);
  free(x);
}

static int has_name(char **v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(v[i], name)) return 1;
  return 0;
}

/* Node's filter: (no rooms, or a session room among them) and no session
 * room among except; flags are not looked at. */
static int include(const sio_restored *s, const sio_creq_opts *ov) {
  int in = ov->o.nrooms == 0;
  for (size_t i = 0; i < ov->o.nrooms && !in; i++)
    in = has_name(s->rooms, s->nrooms, ov->o.rooms[i]);
  for (size_t i = 0; i < ov->o.nexcept; i++)
    if (has_name(s->rooms, s->nrooms, ov->o.except[i])) return 0;
  return in;
}

/* Adds a replayed entry; -1 when Node's restore would throw on it. */
static int replay_entry(restore *x, const redisReply *e) {
  const redisReply *f = e->element[1];
  const redisReply *nsp = field(f, "nsp"), *type = field(f, "type"), *data = field(f, "data");
  if (!nsp || strcmp(nsp->str, x->a->nsp) || !type || strcmp(type->str, "3")) return 0;
  if (!data || data->len > MAX_ENTRY_DATA) return -1;
  sio_mp_bins bins = {0};
  json_t *j = sio_streams_decode_data(data->str, data->len, &bins);
  json_t *pd = json_object_get(json_object_get(j, "packet"), "data");
  const json_t *opts = json_object_get(j, "opts");
  sio_creq_opts ov;
  int rc = -1;
  /* Node reads opts.rooms.length and opts.except: both must be there */
  if (json_is_array(pd) && json_is_array(json_object_get(opts, "rooms")) &&
      json_is_array(json_object_get(opts, "except")) && sio_creq_opts_decode(opts, 1, &ov) == 0) {
    rc = 0;
    if (include(&x->out, &ov)) {
      if (x->out.npackets == x->cap) {
        size_t nc = x->cap ? 2 * x->cap : 16;
        sio_restored_packet *np = realloc(x->out.packets, nc * sizeof *np);
        if (!np) rc = -1;
        else {
          x->out.packets = np;
          x->cap = nc;
        }
      }
      if (rc == 0) {
        sio_restored_packet *p = &x->out.packets[x->out.npackets++];
        p->data = json_incref(pd);
        json_array_append_new(p->data, json_string(e->element[0]->str));
        p->bins = bins.v;
        p->nbins = bins.n;
        memset(&bins, 0, sizeof bins);
      }
    }
    sio_creq_opts_clear(&ov);
  }
  sio_mp_bins_clear(&bins);
  json_decref(j);
  return rc;
}

static void restore_page(restore *x);

static void page_reply(redisReply *rep, void *ud) {
  restore *x = ud;
  if (!rep || rep->type != REDIS_REPLY_ARRAY) {
    restore_finish(x, 0);
    return;
  }
  for (size_t i = 0; i < rep->elements; i++) {
    const redisReply *e = rep->element[i];
    uint64_t ms, seq;
    if (!entry_shape(e) ||
        sio_streams_parse_id(e->element[0]->str, e->element[0]->len, &ms, &seq) != 0 ||
        replay_entry(x, e) != 0) {
      sio_log(SIO_LOG_WARN, TAG, "session %s: unreadable entry in %s, no recovery", x->key,
              x->a->stream);
      restore_finish(x, 0);
      return;
    }
    x->ms = ms;
    x->seq = seq;
  }
  if (!rep->elements || ++x->rounds >= REPLAY_ROUNDS || x->a->cl->closing) {
    restore_finish(x, 1);
    return;
  }
  restore_page(x);
}

static void restore_page(restore *x) {
  char from[48];
  next_id(x->ms, x->seq, from);
  const char *argv[6] = {"XRANGE", x->a->stream, from, "+", "COUNT", REPLAY_COUNT};
  kcmd(x->a->cl, x->a->stream, 1, page_reply, x, 6, argv, NULL);
}

/* The session value -> x->out; -1 when it is not one. */
static int decode_session(restore *x, const char *s, size_t n) {
  sio_mp_bins bins = {0};
  json_t *v = sio_streams_decode_data(s, n, &bins);
  const char *sid = json_string_value(json_object_get(v, "sid"));
  const char *pid = json_string_value(json_object_get(v, "pid"));
  json_t *rooms = json_object_get(v, "rooms");
  int rc = -1;
  if (sid && pid && strlen(sid) < sizeof x->out.sid && strlen(pid) < sizeof x->out.pid &&
      json_is_array(rooms)) {
    snprintf(x->out.sid, sizeof x->out.sid, "%s", sid);
    snprintf(x->out.pid, sizeof x->out.pid, "%s", pid);
    x->out.rooms = calloc(json_array_size(rooms) + 1, sizeof *x->out.rooms);
    rc = x->out.rooms ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < json_array_size(rooms); i++) {
      const char *r = json_string_value(json_array_get(rooms, i));
      if (!r || !(x->out.rooms[x->out.nrooms++] = strdup(r))) rc = -1;
    }
    json_t *data = json_object_get(v, "data");
    x->out.data = json_incref(data ? data : json_null());
  }
  json_decref(v);
  sio_mp_bins_clear(&bins);
  return rc;
}

static void restore_step(restore *x) {
  if (--x->waiting) return;
  if (!x->session || !x->found || x->a->cl->closing) {
    restore_finish(x, 0);
    return;
  }
  const char *s = json_string_value(x->session);
  if (decode_session(x, s, json_string_length(x->session)) != 0) {
    sio_log(SIO_LOG_WARN, TAG, "malformed session %s dropped", x->key);
    restore_finish(x, 0);
    return;
  }
  restore_page(x);
}

static void exec_reply(redisReply *rep, void *ud) {
  restore *x = ud;
  /* [GET's value, DEL's count] */
  if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
      rep->element[0]->type == REDIS_REPLY_STRING)
    x->session = json_stringn(rep->element[0]->str, rep->element[0]->len);
  restore_step(x);
}

static void check_reply(redisReply *rep, void *ud) {
  restore *x = ud;
  x->found = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0;
  restore_step(x);
}

static void ignore_reply(redisReply *rep, void *ud) {
  (void)rep;
  (void)ud;
}

/* Node's restoreSession: MULTI GET DEL EXEC (the session is consumed even
 * when the rest fails) with XRANGE offset offset; then the entries after
 * the offset, filtered. */
static void sa_restore_session(sio_adapter *base, const char *pid, const char *offset,
                               sio_restore_cb cb, void *ctx) {
  streams_adapter *a = (streams_adapter *)base;
  uint64_t ms, seq;
  restore *x = NULL;
  if (a->cl->closing || !a->base.host.recovery_ms ||
      sio_streams_parse_id(offset, strlen(offset), &ms, &seq) != 0 ||
      !(x = calloc(1, sizeof *x)) || !(x->key = cat(a->cl->session_prefix, pid, NULL, NULL))) {
    free(x);
    cb(ctx, NULL);
    return;
  }
  x->a = a;
  x->cb = cb;
  x->ctx = ctx;
  x->ms = ms;
  x->seq = seq;
  x->waiting = 2;
  x->next = a->restores;
  a->restores = x;
  const char *multi[1] = {"MULTI"}, *get[2] = {"GET", x->key}, *del[2] = {"DEL", x->key},
             *exec[1] = {"EXEC"};
  const char *xr[4] = {"XRANGE", a->stream, offset, offset};
  /* on a cluster the transaction goes, in order and without redirects,
   * to the master of the session key's slot; XRANGE to the stream's */
  kcmd(a->cl, x->key, 0, ignore_reply, NULL, 1, multi, NULL);
  kcmd(a->cl, x->key, 0, ignore_reply, NULL, 2, get, NULL);
  kcmd(a->cl, x->key, 0, ignore_reply, NULL, 2, del, NULL);
  kcmd(a->cl, x->key, 0, exec_reply, x, 1, exec, NULL);
  kcmd(a->cl, a->stream, 1, check_reply, x, 4, xr, NULL);
}

/* ------------------------------------------------------------ lifecycle */

static void free_names_of(streams_adapter *a) {
  free(a->nsp);
  free(a->stream);
  free(a->ch_pub);
  free(a->ch_own);
  free(a);
}

static void sa_free(sio_adapter *base) {
  streams_adapter *a = (streams_adapter *)base;
  sio_creq_close(&a->reqs);
  while (a->restores) restore_finish(a->restores, 0);
  if (a->hb) event_free(a->hb);
  if (a->prune) event_free(a->prune);
  size_t it;
  for (sio_map_entry *e = sio_map_first(&a->nodes, &it); e; e = sio_map_next(&a->nodes, e, &it))
    free(e->value);
  sio_map_clear(&a->nodes);
  const char *kind = a->cl->sharded ? "SSUBSCRIBE" : "SUBSCRIBE";
  if (a->cl->rc) {
    sio_rc_unsubscribe(a->cl->rc, kind, a->ch_pub);
    sio_rc_unsubscribe(a->cl->rc, kind, a->ch_own);
  }
  sio_redis_unsubscribe(a->cl->sub, kind, a->ch_pub);
  sio_redis_unsubscribe(a->cl->sub, kind, a->ch_own);
  sio_map_del(&a->cl->by_channel, a->ch_pub);
  sio_map_del(&a->cl->by_channel, a->ch_own);
  if (sio_map_get(&a->cl->by_nsp, a->nsp) == a) sio_map_del(&a->cl->by_nsp, a->nsp);
  a->local->ops->free(a->local);
  free_names_of(a);
}

static const sio_adapter_ops streams_ops = {
    sa_free,          sa_add_all,          sa_del,
    sa_del_all,       sa_broadcast,        sa_broadcast_with_ack,
    sa_sockets,       sa_socket_rooms,     sa_fetch_sockets,
    sa_add_sockets,   sa_del_sockets,      sa_disconnect_sockets,
    sa_server_side_emit, sa_server_count,  sa_rooms,
    sa_persist_session, sa_restore_session,
};

static char *stream_of(sio_streams_cluster *cl, const char *nsp) {
  if (cl->count <= 1) return strdup(cl->stream);
  char tail[24];
  snprintf(tail, sizeof tail, "-%d", sio_streams_index(nsp, cl->count));
  return cat(cl->stream, tail, NULL, NULL);
}

sio_adapter *sio_streams_adapter_new(void *clp, const char *nsp, const sio_adapter_host *host) {
  sio_streams_cluster *cl = clp;
  streams_adapter *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->base.ops = &streams_ops;
  a->base.host = *host;
  a->cl = cl;
  sio_creq_new_id(a->uid, 1);
  sio_map_init(&a->nodes);
  a->local = host->local_new ? host->local_new(host->ctx) : sio_memory_adapter_new(host);
  a->nsp = strdup(nsp);
  a->stream = stream_of(cl, nsp);
  a->ch_pub = cat(cl->prefix, "#", nsp, "#");
  a->ch_own = a->ch_pub ? cat(a->ch_pub, a->uid, "#", NULL) : NULL;
  if (!a->local || !a->nsp || !a->stream || !a->ch_pub || !a->ch_own ||
      sio_map_put(&cl->by_nsp, nsp, a) < 0) {
    if (a->local) a->local->ops->free(a->local);
    free_names_of(a);
    return NULL;
  }
  static const sio_creq_transport transport = {send_request, respond};
  sio_creq_init(&a->reqs, cl->base, &a->base, a->local, &transport, a, a->nsp, TAG, 1,
                cl->v02 ? &a->nodes : NULL);
  if (cl->count > 1 && sio_streams_index(nsp, cl->count) < 0)
    sio_log(SIO_LOG_WARN, TAG, "namespace %s maps to stream %s, which Node servers never read",
            nsp, a->stream);
  if (cl->v02) {
    /* 0.2.x: no PUB/SUB; INITIAL_HEARTBEAT now, HEARTBEAT when idle 5 s,
     * peers silent for 10 s dropped */
    a->hb = evtimer_new(cl->base, heartbeat_cb, a);
    a->prune = event_new(cl->base, -1, EV_PERSIST, prune_cb, a);
    struct timeval sec = {1, 0};
    if (a->prune) event_add(a->prune, &sec);
    xadd(a, T_INITIAL_HEARTBEAT, NULL, NULL, 0, NULL);
    sio_log(SIO_LOG_DEBUG, TAG, "0.2.x adapter for %s on stream %s, uid %s", nsp, a->stream, a->uid);
    return &a->base;
  }
  const char *kind = cl->sharded ? "SSUBSCRIBE" : "SUBSCRIBE";
  sio_map_put(&cl->by_channel, a->ch_pub, a);
  sio_map_put(&cl->by_channel, a->ch_own, a);
  if (cl->rc) {
    sio_rc_subscribe(cl->rc, kind, a->ch_pub);
    sio_rc_subscribe(cl->rc, kind, a->ch_own);
  } else {
    sio_redis_subscribe(cl->sub, kind, a->ch_pub);
    sio_redis_subscribe(cl->sub, kind, a->ch_own);
  }
  sio_log(SIO_LOG_DEBUG, TAG, "adapter for %s on stream %s, uid %s", nsp, a->stream, a->uid);
  return &a->base;
}

static void drain_cb(evutil_socket_t fd, short w, void *arg);

sio_streams_cluster *sio_streams_cluster_new(struct event_base *base, const sio_redis_options *o,
                                             char *err, size_t errlen) {
  sio_redis_url url, seeds[64];
  size_t nseeds = 0;
  int mode = SIO_RC_SINGLE;
  if (!o) {
    snprintf(err, errlen, "no options");
    return NULL;
  }
  if (o->stream_count > 1024) {
    snprintf(err, errlen, "streamCount %u is too large (at most 1024)", o->stream_count);
    return NULL;
  }
  /* a Redis Cluster: cluster_nodes (and url) as seeds, as the classic
   * adapter takes them */
  if (o->n_cluster_nodes > 64 || (o->n_cluster_nodes && !o->cluster_nodes)) {
    snprintf(err, errlen, "cluster_nodes: 1 to 64 seed URLs");
    return NULL;
  }
  for (size_t i = 0; i < o->n_cluster_nodes; i++)
    if (!o->cluster_nodes[i] || sio_redis_parse_url(o->cluster_nodes[i], &seeds[nseeds++]) != 0) {
      snprintf(err, errlen, "invalid Redis URL \"%s\" in cluster_nodes "
               "(redis://[[user]:password@]host[:port])",
               o->cluster_nodes[i] ? o->cluster_nodes[i] : "");
      return NULL;
    }
  mode = sio_rc_mode_from_option(o->cluster_mode, nseeds != 0, err, errlen);
  if (mode < 0) return NULL;
  if (o->url && sio_redis_parse_url(o->url, &url) != 0) {
    snprintf(err, errlen, "invalid Redis URL \"%s\" (redis://[[user]:password@]host[:port][/db])",
             o->url);
    return NULL;
  }
  if (!o->url) {
    if (!nseeds) {
      snprintf(err, errlen, "no Redis URL (url or cluster_nodes)");
      return NULL;
    }
    url = seeds[0];
  }
  if (mode == SIO_RC_SINGLE) nseeds = 0;
  else if (o->url && nseeds < 64) seeds[nseeds++] = url;
  /* rediss:// and the tls_* options, for every connection */
  if (sio_redis_tls_setup(&url, o, err, errlen) != 0) return NULL;
  for (size_t i = 0; i < nseeds; i++) {
    seeds[i].tls = url.tls;
    seeds[i].tls_ctx = url.tls_ctx;
    seeds[i].on_error = url.on_error;
    seeds[i].error_user_data = url.error_user_data;
  }
  sio_streams_cluster *cl = calloc(1, sizeof *cl);
  if (!cl) {
    sio_redis_tls_unref(url.tls_ctx);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  cl->tls = url.tls_ctx;
  cl->base = base;
  cl->stream = strdup(o->stream_name && *o->stream_name ? o->stream_name : "socket.io");
  cl->prefix = strdup(o->channel_prefix && *o->channel_prefix ? o->channel_prefix : "socket.io");
  cl->session_prefix = strdup(o->session_key_prefix ? o->session_key_prefix : "sio:session:");
  cl->count = o->stream_count ? o->stream_count : 1;
  cl->max_len = o->max_len ? o->max_len : 10000;
  cl->read_count = o->read_count ? o->read_count : 100;
  cl->block_ms = o->block_time_ms ? o->block_time_ms : 5000;
  cl->timeout_ms = o->requests_timeout_ms ? o->requests_timeout_ms : 5000;
  cl->sharded = o->use_sharded_pubsub;
  cl->v02 = o->streams_v02;
  if (cl->v02) cl->count = 1; /* 0.2.x has one stream */
  sio_map_init(&cl->by_nsp);
  sio_map_init(&cl->by_channel);
  cl->drain = evtimer_new(base, drain_cb, cl);
  if (nseeds) {
    sio_rc_config rcfg = {seeds, nseeds, mode, o->cluster_node_timeout_ms,
                          o->cluster_refresh_interval_ms, 0};
    cl->rc = sio_rc_new(base, &rcfg, on_message, cl);
  } else {
    cl->pub = sio_redis_new(base, &url, 0, NULL, NULL, cl);
    cl->sub = sio_redis_new(base, &url, 1, on_message, NULL, cl);
  }
  cl->readers = calloc(cl->count, sizeof *cl->readers);
  int ok = cl->stream && cl->prefix && cl->session_prefix && (cl->rc || (cl->pub && cl->sub)) &&
           cl->readers && cl->drain;
  for (unsigned i = 0; ok && i < cl->count; i++) {
    reader *r = &cl->readers[i];
    r->cl = cl;
    char tail[24];
    snprintf(tail, sizeof tail, "-%u", i);
    r->key = cl->count > 1 ? cat(cl->stream, tail, NULL, NULL) : strdup(cl->stream);
    r->retry = evtimer_new(base, reader_retry_cb, r);
    /* a cluster: connected to the stream's master once the slot map is in */
    r->conn = cl->rc ? NULL : sio_redis_new(base, &url, 0, NULL, reader_state, r);
    cl->nreaders = i + 1;
    ok = r->key && r->retry && (r->conn || cl->rc);
    if (ok && cl->rc) {
      struct timeval now = {0, 0};
      evtimer_add(r->retry, &now);
    }
  }
  if (!ok) {
    sio_streams_cluster_free(cl);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  return cl;
}

static void drain_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  sio_streams_cluster *cl = arg;
  sio_redis_free(cl->pub); /* pending commands fail: restores end */
  cl->pub = NULL;
  sio_rc *rc = cl->rc;
  cl->rc = NULL;
  sio_rc_free(rc);
}

/* Not freed here, inside the connection's own callback: on the next turn. */
static void drained(redisReply *rep, void *ud) {
  (void)rep;
  sio_streams_cluster *cl = ud;
  struct timeval now = {0, 0};
  evtimer_add(cl->drain, &now);
}

void sio_streams_cluster_close(void *clp) {
  sio_streams_cluster *cl = clp;
  if (cl->closing) return;
  cl->closing = 1;
  size_t it;
  for (sio_map_entry *e = sio_map_first(&cl->by_nsp, &it); e; e = sio_map_next(&cl->by_nsp, e, &it)) {
    streams_adapter *a = e->value;
    sio_creq_close(&a->reqs);
    if (cl->v02) {
      if (a->hb) event_del(a->hb);
      if (a->prune) event_del(a->prune);
      xadd(a, T_ADAPTER_CLOSE, NULL, NULL, 0, NULL);
    }
  }
  /* The sessions of the sockets that closed with the server were just
   * SET on pub: it closes once Redis answered a last PING (so they are
   * written), or after DRAIN_MAX_S. */
  sio_redis_free(cl->sub);
  cl->sub = NULL;
  struct timeval tv = {DRAIN_MAX_S, 0};
  if (cl->rc) {
    /* a cluster: subscriptions end now; the connections go once the
     * keyed commands in flight (sessions SET) answered, or after
     * DRAIN_MAX_S */
    const char *kind = cl->sharded ? "SSUBSCRIBE" : "SUBSCRIBE";
    for (sio_map_entry *e = sio_map_first(&cl->by_nsp, &it); e;
         e = sio_map_next(&cl->by_nsp, e, &it)) {
      streams_adapter *a = e->value;
      if (cl->v02) continue;
      sio_rc_unsubscribe(cl->rc, kind, a->ch_pub);
      sio_rc_unsubscribe(cl->rc, kind, a->ch_own);
    }
    struct timeval now = {0, 0};
    evtimer_add(cl->drain, cl->inflight ? &tv : &now);
  } else if (cl->drain && evtimer_add(cl->drain, &tv) == 0) {
    const char *argv[1] = {"PING"};
    sio_redis_command(cl->pub, drained, cl, 1, argv, NULL);
  } else {
    sio_redis_free(cl->pub);
    cl->pub = NULL;
  }
  for (unsigned i = 0; i < cl->nreaders; i++) {
    sio_redis_free(cl->readers[i].conn);
    cl->readers[i].conn = NULL;
    if (cl->readers[i].retry) evtimer_del(cl->readers[i].retry);
  }
}

void sio_streams_cluster_free(void *clp) {
  sio_streams_cluster *cl = clp;
  if (!cl) return;
  cl->closing = 1;
  sio_rc *rc = cl->rc;
  cl->rc = NULL;
  sio_rc_free(rc); /* (its pending commands' callbacks see no rc) */
  if (cl->drain) event_free(cl->drain);
  sio_redis_free(cl->pub);
  sio_redis_free(cl->sub);
  for (unsigned i = 0; i < cl->nreaders; i++) {
    sio_redis_free(cl->readers[i].conn);
    if (cl->readers[i].retry) event_free(cl->readers[i].retry);
    free(cl->readers[i].key);
  }
  free(cl->readers);
  sio_map_clear(&cl->by_nsp);
  sio_map_clear(&cl->by_channel);
  free(cl->stream);
  free(cl->prefix);
  free(cl->session_prefix);
  sio_redis_tls_unref(cl->tls);
  free(cl);
}
