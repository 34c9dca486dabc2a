/*
 * The classic Redis adapter (@socket.io/redis-adapter's createAdapter).
 * Local work goes to an in-memory adapter; what other servers must see is
 * published: broadcasts as msgpack [uid, packet, opts] on P#NSP# (or the
 * room channel), requests as JSON (broadcast-with-ack as msgpack) on
 * P-request#NSP#, answers on P-response#NSP#[<uid>#].
 */
#include "redis_adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cluster_req.h"
#include "notepack.h"
#include "redis_cluster.h"
#include "redis_conn.h"
#include "redis_tls.h"
#include "sio/log.h"

enum { REQ_SOCKETS = 0, REQ_ALL_ROOMS = 1, REQ_JOIN = 2, REQ_LEAVE = 3,
       REQ_DISCONNECT = 4, REQ_FETCH = 5, REQ_SSE = 6, REQ_BCAST = 7,
       RESP_COUNT = 8, RESP_ACK = 9 };

enum { MODE_STATIC, MODE_DYNAMIC, MODE_DYNAMIC_PRIVATE };

/* Sharded MessageType codes (a different numbering from the classic one). */
enum { S_BROADCAST = 3, S_SOCKETS_JOIN = 4, S_SOCKETS_LEAVE = 5, S_DISCONNECT = 6,
       S_FETCH = 7, S_FETCH_RESPONSE = 8, S_SSE = 9, S_SSE_RESPONSE = 10,
       S_CLIENT_COUNT = 11, S_ACK = 12 };

struct sio_redis_cluster {
  struct event_base *base;
  sio_rc *rc; /* one Redis server or a Redis Cluster */
  char *key;
  unsigned timeout_ms;
  int specific;
  int sharded;
  int mode;
  int json_parser;
  sio_map by_channel; /* channel or pattern -> redis_adapter */
  sio_redis_tls *tls; /* rediss://: shared by every connection, or NULL */
};

typedef struct redis_adapter redis_adapter;

struct redis_adapter {
  sio_adapter base;
  sio_adapter *local;
  sio_redis_cluster *cl;
  char uid[20];
  char *nsp;
  char *ch_main, *pattern, *ch_req, *ch_resp, *ch_resp_own;
  sio_creq_set reqs; /* requests waiting for the other servers */
};

/* ------------------------------------------------------------ helpers */

static char *cat(const char *a, const char *b, const char *c, const char *d) {
  char *s;
  if (asprintf(&s, "%s%s%s%s", a, b, c ? c : "", d ? d : "") < 0) return NULL;
  return s;
}

/* cmd: PUBLISH (classic) or SPUBLISH (sharded). */
static void publish_cmd(redis_adapter *a, const char *cmd, const char *channel,
                        const char *payload, size_t len) {
  sio_rc_publish(a->cl->rc, cmd, channel, payload, len);
}

/* msg as msgpack (binary placeholders as bin) or as JSON text (binary as
 * JSON.stringify writes a Buffer), published with cmd. */
static json_t *json_form(const json_t *v, sio_buf *const *bins, size_t nbins);
static void publish_encoded(redis_adapter *a, const char *cmd, const char *channel,
                            const json_t *msg, sio_buf *const *bins, size_t nbins,
                            int as_msgpack) {
  if (!as_msgpack) {
    json_t *j = nbins ? json_form(msg, bins, nbins) : json_incref((json_t *)msg);
    char *txt = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (txt) publish_cmd(a, cmd, channel, txt, strlen(txt));
    free(txt);
    json_decref(j);
    return;
  }
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  sio_mp_pack(&pk, msg, bins, nbins);
  publish_cmd(a, cmd, channel, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

static void publish_json(redis_adapter *a, const char *channel, json_t *j) {
  publish_encoded(a, "PUBLISH", channel, j, NULL, 0, 0);
  json_decref(j);
}

static const char *resp_channel(redis_adapter *a, const char *requester) {
  static char buf[1024];
  if (!a->cl->specific || !requester) return a->ch_resp;
  snprintf(buf, sizeof buf, "%s%s#", a->ch_resp, requester);
  return buf;
}

static json_t *names_json(const char *const *v, size_t n) { return sio_creq_names(v, n); }

static json_t *opts_json(const sio_bcast_opts *o) { return sio_creq_opts_encode(o, 0); }

/* v with every binary placeholder written as JSON.stringify writes a
 * Buffer: {"type":"Buffer","data":[bytes]} (a new reference). */
static json_t *json_form(const json_t *v, sio_buf *const *bins, size_t nbins) {
  if (json_is_object(v) && json_is_true(json_object_get(v, "_placeholder"))) {
    json_t *n = json_object_get(v, "num");
    if (json_is_integer(n) && json_integer_value(n) >= 0 && (size_t)json_integer_value(n) < nbins) {
      sio_buf *b = bins[json_integer_value(n)];
      json_t *bytes = json_array();
      for (size_t i = 0; i < sio_buf_len(b); i++)
        json_array_append_new(bytes, json_integer(sio_buf_data(b)[i]));
      return json_pack("{s:s,s:o}", "type", "Buffer", "data", bytes);
    }
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    for (size_t i = 0; i < json_array_size(v); i++)
      json_array_append_new(a, json_form(json_array_get(v, i), bins, nbins));
    return a;
  }
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) json_object_set_new(o, k, json_form(x, bins, nbins));
    return o;
  }
  return json_deep_copy(v);
}

/* The configured parser for what Node runs through it: the broadcast
 * message, BROADCAST requests and BROADCAST_ACK answers. */
static void publish_parsed(redis_adapter *a, const char *channel, const json_t *msg,
                           sio_buf *const *bins, size_t nbins) {
  publish_encoded(a, "PUBLISH", channel, msg, bins, nbins, !a->cl->json_parser);
}

/* JSON when the payload starts with '{', msgpack otherwise (spec 1.3). */
static json_t *decode_payload(const char *payload, size_t len, sio_mp_bins *bins) {
  return len && payload[0] == '{' ? json_loadb(payload, len, 0, NULL)
                                  : sio_mp_decode(payload, len, bins);
}

/* PUBSUB NUMSUB P-request#NSP#: the servers of the cluster, self included. */
typedef struct numsub_ctx {
  sio_count_cb cb;
  void *ctx;
} numsub_ctx;

static void numsub_reply(void *ud, size_t n) {
  numsub_ctx *x = ud;
  x->cb(x->ctx, n ? n : 1);
  free(x);
}

static void ra_server_count(sio_adapter *base, sio_count_cb cb, void *ctx) {
  redis_adapter *a = (redis_adapter *)base;
  numsub_ctx *x = malloc(sizeof *x);
  if (!x) {
    cb(ctx, 1);
    return;
  }
  x->cb = cb;
  x->ctx = ctx;
  sio_rc_count(a->cl->rc, a->cl->sharded ? "SHARDNUMSUB" : "NUMSUB",
               a->cl->sharded ? a->ch_main : a->ch_req, numsub_reply, x);
}


/* -------------------------------------------------------------- sharded */

/* The envelope {type, data, uid, nsp}: msgpack when data carries binary,
 * else JSON (as Node's encode()). data is stolen. */
static void s_send(redis_adapter *a, const char *channel, int type, json_t *data,
                   sio_buf *const *bins, size_t nbins) {
  json_t *env = json_object();
  json_object_set_new(env, "type", json_integer(type));
  if (data) json_object_set_new(env, "data", data);
  json_object_set_new(env, "uid", json_string(a->uid));
  json_object_set_new(env, "nsp", json_string(a->nsp));
  publish_encoded(a, "SPUBLISH", channel, env, bins, nbins, nbins > 0);
  json_decref(env);
}

static json_t *s_opts_json(const sio_bcast_opts *o) { return sio_creq_opts_encode(o, 1); }

static char *response_channel_of(redis_adapter *a, const char *uid) {
  return cat(a->ch_main, uid, "#", NULL);
}

/* Node's computeChannel: a room channel only for a broadcast without ack
 * to exactly one room that has its own channel in this mode. */
static char *s_channel(redis_adapter *a, const sio_bcast_opts *o, int with_ack) {
  if (!with_ack && o->nrooms == 1 &&
      ((a->cl->mode == MODE_DYNAMIC && strlen(o->rooms[0]) != 20) ||
       a->cl->mode == MODE_DYNAMIC_PRIVATE))
    return cat(a->ch_main, o->rooms[0], "#", NULL);
  return strdup(a->ch_main);
}

/* The classic packet object {type, data, nsp} (spec 1.4). */
static json_t *c_packet(redis_adapter *a, const sio_msg *m) {
  return json_pack("{s:i,s:O,s:s}", "type", 2, "data", m->data, "nsp", a->nsp);
}

static json_t *s_packet(const sio_msg *m) {
  return json_pack("{s:i,s:O}", "type", 2, "data", m->data);
}

/* Dynamic modes: a room gets its own channel while it has local sockets. */
static int separate_channel(redis_adapter *a, const char *room, int room_is_sid) {
  return (a->cl->mode == MODE_DYNAMIC && !room_is_sid) || a->cl->mode == MODE_DYNAMIC_PRIVATE;
}

static int room_size(redis_adapter *a, const char *room) {
  return (int)sio_adapter_room_size(a->local, room);
}

static void room_channel(redis_adapter *a, const char *room, int on) {
  char *ch = cat(a->ch_main, room, "#", NULL);
  if (!ch) return;
  if (on) {
    sio_map_put(&a->cl->by_channel, ch, a);
    sio_rc_subscribe(a->cl->rc, "SSUBSCRIBE", ch);
  } else {
    sio_rc_unsubscribe(a->cl->rc, "SSUBSCRIBE", ch);
    sio_map_del(&a->cl->by_channel, ch);
  }
  free(ch);
}

/* ----------------------------------------------------- local operations */

static int dynamic(redis_adapter *a) {
  return a->cl->sharded && a->cl->mode != MODE_STATIC;
}

static int ra_add_all(sio_adapter *b, const char *sid, const char *const *rooms, size_t n) {
  redis_adapter *a = (redis_adapter *)b;
  sio_adapter *l = a->local;
  if (!dynamic(a)) return l->ops->add_all(l, sid, rooms, n);
  int *fresh = calloc(n + 1, sizeof *fresh);
  for (size_t i = 0; fresh && i < n; i++) fresh[i] = room_size(a, rooms[i]) == 0;
  int r = l->ops->add_all(l, sid, rooms, n);
  /* Node's "create-room": the socket is already known, so its own-id room
   * counts as a socket id here. */
  for (size_t i = 0; fresh && i < n; i++)
    if (fresh[i] && separate_channel(a, rooms[i], l->ops->socket_rooms(l, rooms[i]) != NULL))
      room_channel(a, rooms[i], 1);
  free(fresh);
  return r;
}

static void ra_del(sio_adapter *b, const char *sid, const char *room) {
  redis_adapter *a = (redis_adapter *)b;
  sio_adapter *l = a->local;
  int is_sid = l->ops->socket_rooms(l, room) != NULL;
  int had = dynamic(a) && room_size(a, room) > 0;
  l->ops->del(l, sid, room);
  if (had && room_size(a, room) == 0 && separate_channel(a, room, is_sid))
    room_channel(a, room, 0);
}

/* A room's sockets came or went on another loop of this process. */
static void ra_room_sync(sio_adapter *b, const char *room, int is_sid) {
  redis_adapter *a = (redis_adapter *)b;
  if (!dynamic(a) || !separate_channel(a, room, is_sid)) return;
  char *ch = cat(a->ch_main, room, "#", NULL);
  if (!ch) return;
  int subscribed = sio_map_get(&a->cl->by_channel, ch) == a;
  free(ch);
  int want = room_size(a, room) > 0;
  if (want != subscribed) room_channel(a, room, want);
}

static void ra_del_all(sio_adapter *b, const char *sid) {
  redis_adapter *a = (redis_adapter *)b;
  sio_adapter *l = a->local;
  if (!dynamic(a)) {
    l->ops->del_all(l, sid);
    return;
  }
  const sio_map *mine = l->ops->socket_rooms(l, sid);
  size_t n = mine ? mine->count : 0, k = 0, it;
  char **rooms = calloc(n + 1, sizeof *rooms);
  int *is_sid = calloc(n + 1, sizeof *is_sid);
  if (mine && rooms && is_sid)
    for (sio_map_entry *e = sio_map_first(mine, &it); e; e = sio_map_next(mine, e, &it)) {
      is_sid[k] = l->ops->socket_rooms(l, e->key) != NULL;
      rooms[k++] = strdup(e->key);
    }
  l->ops->del_all(l, sid);
  for (size_t i = 0; i < k; i++) {
    if (rooms[i] && room_size(a, rooms[i]) == 0 && separate_channel(a, rooms[i], is_sid[i]))
      room_channel(a, rooms[i], 0);
    free(rooms[i]);
  }
  free(rooms);
  free(is_sid);
}
static void ra_sockets(sio_adapter *b, const char *const *rooms, size_t n, sio_map *out) {
  sio_adapter *l = ((redis_adapter *)b)->local;
  l->ops->sockets(l, rooms, n, out);
}
static const sio_map *ra_socket_rooms(sio_adapter *b, const char *sid) {
  sio_adapter *l = ((redis_adapter *)b)->local;
  return l->ops->socket_rooms(l, sid);
}
static void ra_rooms(sio_adapter *b, sio_map *out) {
  sio_adapter *l = ((redis_adapter *)b)->local;
  l->ops->rooms(l, out);
}

/* ---------------------------------------------------------- broadcasts */

static void ra_broadcast(sio_adapter *base, sio_msg *m, const sio_bcast_opts *o) {
  redis_adapter *a = (redis_adapter *)base;
  if (a->cl->sharded && !(o->flags & SIO_BC_LOCAL)) {
    char *ch = s_channel(a, o, 0);
    if (ch)
      s_send(a, ch, S_BROADCAST,
             json_pack("{s:o,s:o}", "packet", s_packet(m), "opts", s_opts_json(o)), m->bins,
             m->nbins);
    free(ch);
  } else if (!(o->flags & SIO_BC_LOCAL)) {
    /* [uid, packet, opts] on the room channel for exactly one room */
    json_t *msg = json_pack("[s,o,o]", a->uid, c_packet(a, m), s_opts_json(o));
    char *ch = o->nrooms == 1 ? cat(a->ch_main, o->rooms[0], "#", NULL) : NULL;
    publish_parsed(a, ch ? ch : a->ch_main, msg, m->bins, m->nbins);
    free(ch);
    json_decref(msg);
  }
  a->local->ops->broadcast(a->local, m, o);
}

static void ra_broadcast_with_ack(sio_adapter *base, sio_msg *m, const sio_bcast_opts *o,
                                  sio_count_cb client_count, void *ack, void *ctx) {
  redis_adapter *a = (redis_adapter *)base;
  sio_creq_broadcast_with_ack(&a->reqs, m, o, o->timeout_ms ? o->timeout_ms : a->cl->timeout_ms,
                              client_count, ack, ctx);
}

/* -------------------------------------------------- cluster utilities */

/* The requests of sio_creq: JSON on P-request#NSP# (a broadcast with ack
 * through the configured parser), or sharded envelopes on P#NSP#. */
static void send_request(void *ud, const sio_creq_out *q) {
  redis_adapter *a = ud;
  json_t *msg;
  if (q->kind == SIO_CREQ_FETCH && a->cl->sharded) {
    s_send(a, a->ch_main, S_FETCH, json_pack("{s:O,s:s}", "opts", q->opts, "requestId", q->id),
           NULL, 0);
  } else if (q->kind == SIO_CREQ_FETCH) {
    publish_json(a, a->ch_req, json_pack("{s:s,s:s,s:i,s:O}", "uid", a->uid, "requestId", q->id,
                                         "type", REQ_FETCH, "opts", q->opts));
  } else if (q->kind == SIO_CREQ_SSE && a->cl->sharded) {
    /* with a requestId the packet goes without its binary attachments */
    msg = q->id ? json_pack("{s:s,s:O}", "requestId", q->id, "packet", q->data)
                : json_pack("{s:O}", "packet", q->data);
    s_send(a, a->ch_main, S_SSE, msg, q->id ? NULL : q->bins, q->id ? 0 : q->nbins);
  } else if (q->kind == SIO_CREQ_SSE) {
    msg = q->id ? json_pack("{s:s,s:s,s:i,s:O}", "uid", a->uid, "requestId", q->id, "type",
                            REQ_SSE, "data", q->data)
                : json_pack("{s:s,s:i,s:O}", "uid", a->uid, "type", REQ_SSE, "data", q->data);
    publish_json(a, a->ch_req, msg);
  } else if (a->cl->sharded) {
    s_send(a, a->ch_main, S_BROADCAST,
           json_pack("{s:o,s:s,s:o}", "packet", s_packet(q->msg), "requestId", q->id, "opts",
                     s_opts_json(q->o)),
           q->bins, q->nbins);
  } else {
    msg = json_pack("{s:s,s:s,s:i,s:o,s:o}", "uid", a->uid, "requestId", q->id, "type",
                    REQ_BCAST, "packet", c_packet(a, q->msg), "opts", s_opts_json(q->o));
    publish_parsed(a, a->ch_req, msg, q->bins, q->nbins);
    json_decref(msg);
  }
}

static void ra_fetch_sockets(sio_adapter *base, const sio_bcast_opts *o, sio_fetch_cb cb,
                             void *ctx) {
  redis_adapter *a = (redis_adapter *)base;
  unsigned t = a->cl->sharded ? (o->timeout_ms ? o->timeout_ms : 5000) : a->cl->timeout_ms;
  sio_creq_fetch_sockets(&a->reqs, o, a->cl->sharded ? s_opts_json(o) : opts_json(o), t, cb,
                         ctx);
}

/* socketsJoin / socketsLeave in the dynamic modes: a room that gains its
 * first local socket gets its channel, one that loses its last loses it
 * (as ra_add_all / ra_del do for a single socket). */
static void rooms_op_local(redis_adapter *a, const sio_bcast_opts *o, const char *const *rooms,
                           size_t n, int join) {
  sio_adapter *l = a->local;
  int *had = dynamic(a) ? calloc(n + 1, sizeof *had) : NULL;
  for (size_t i = 0; had && i < n; i++) had[i] = room_size(a, rooms[i]) > 0;
  if (join) l->ops->add_sockets(l, o, rooms, n);
  else l->ops->del_sockets(l, o, rooms, n);
  for (size_t i = 0; had && i < n; i++) {
    int has = room_size(a, rooms[i]) > 0;
    if (has != had[i] &&
        separate_channel(a, rooms[i], l->ops->socket_rooms(l, rooms[i]) != NULL))
      room_channel(a, rooms[i], has);
  }
  free(had);
}
static void ra_add_sockets_local(redis_adapter *a, const sio_bcast_opts *o,
                                 const char *const *rooms, size_t n) {
  rooms_op_local(a, o, rooms, n, 1);
}
static void ra_del_sockets_local(redis_adapter *a, const sio_bcast_opts *o,
                                 const char *const *rooms, size_t n) {
  rooms_op_local(a, o, rooms, n, 0);
}

static void publish_rooms_op(redis_adapter *a, int type, const sio_bcast_opts *o,
                             const char *const *rooms, size_t n) {
  if (a->cl->sharded) {
    s_send(a, a->ch_main, type == REQ_JOIN ? S_SOCKETS_JOIN : S_SOCKETS_LEAVE,
           json_pack("{s:o,s:o}", "opts", s_opts_json(o), "rooms", names_json(rooms, n)),
           NULL, 0);
    return;
  }
  publish_json(a, a->ch_req, json_pack("{s:s,s:i,s:o,s:o}", "uid", a->uid, "type", type,
                                       "opts", opts_json(o), "rooms", names_json(rooms, n)));
}

/* Applied here at once, and published for the others (our own echo is
 * skipped by uid), so each server applies it exactly once. */
static void ra_add_sockets(sio_adapter *base, const sio_bcast_opts *o,
                           const char *const *rooms, size_t n) {
  redis_adapter *a = (redis_adapter *)base;
  ra_add_sockets_local(a, o, rooms, n);
  if (!(o->flags & SIO_BC_LOCAL)) publish_rooms_op(a, REQ_JOIN, o, rooms, n);
}

static void ra_del_sockets(sio_adapter *base, const sio_bcast_opts *o,
                           const char *const *rooms, size_t n) {
  redis_adapter *a = (redis_adapter *)base;
  ra_del_sockets_local(a, o, rooms, n);
  if (!(o->flags & SIO_BC_LOCAL)) publish_rooms_op(a, REQ_LEAVE, o, rooms, n);
}

static void ra_disconnect_sockets(sio_adapter *base, const sio_bcast_opts *o, int close) {
  redis_adapter *a = (redis_adapter *)base;
  if (!(o->flags & SIO_BC_LOCAL) && a->cl->sharded)
    s_send(a, a->ch_main, S_DISCONNECT,
           json_pack("{s:o,s:b}", "opts", s_opts_json(o), "close", close), NULL, 0);
  else if (!(o->flags & SIO_BC_LOCAL))
    publish_json(a, a->ch_req, json_pack("{s:s,s:i,s:o,s:b}", "uid", a->uid, "type",
                                         REQ_DISCONNECT, "opts", opts_json(o), "close", close));
  a->local->ops->disconnect_sockets(a->local, o, close);
}

static void ra_server_side_emit(sio_adapter *base, sio_msg *m, sio_sse_cb cb, void *ctx) {
  redis_adapter *a = (redis_adapter *)base;
  sio_creq_server_side_emit(&a->reqs, m, a->cl->sharded ? 5000 : a->cl->timeout_ms, cb, ctx);
}

/* ------------------------------------------------------------ receiving */

/* P#NSP#* : a broadcast from another server or the emitter. */
static void on_broadcast(redis_adapter *a, const char *channel, size_t chlen,
                         const char *payload, size_t len) {
  size_t pl = strlen(a->ch_main);
  if (chlen > pl) { /* a room channel: P#NSP#<room># */
    if (channel[chlen - 1] != '#') return;
    char *room = strndup(channel + pl, chlen - pl - 1);
    /* over every loop of the process (the loops layer) */
    size_t have = room ? sio_adapter_room_size(a->local, room) : 0;
    free(room);
    if (!have) return; /* no local socket there: not decoded at all */
  }
  sio_mp_bins bins = {0};
  /* broadcasts always go through the configured parser, never sniffed */
  json_t *v = a->cl->json_parser ? json_loadb(payload, len, 0, NULL)
                                 : sio_mp_decode(payload, len, &bins);
  const char *uid = json_string_value(json_array_get(v, 0));
  json_t *packet = json_array_get(v, 1), *opts = json_array_get(v, 2);
  json_t *data = json_object_get(packet, "data");
  const char *nsp = json_string_value(json_object_get(packet, "nsp"));
  sio_creq_opts ov = {0};
  if (!json_is_array(v) || json_array_size(v) != 3 || !uid || !json_is_object(packet) ||
      !json_is_array(data) || json_array_size(data) == 0 || !json_is_object(opts) ||
      sio_creq_opts_decode(opts, 1, &ov) != 0) {
    sio_log(SIO_LOG_WARN, "sio:redis", "malformed broadcast on %.*s (%zu bytes) dropped",
            (int)chlen, channel, len);
  } else if (strcmp(uid, a->uid) != 0 && !strcmp(nsp ? nsp : "/", a->nsp)) {
    ov.o.flags &= ~(unsigned)SIO_BC_LOCAL;
    sio_msg m = {2, a->nsp, data, bins.v, bins.n, -1, NULL, NULL, 0};
    a->local->ops->broadcast(a->local, &m, &ov.o);
    sio_msg_release(&m);
  }
  sio_creq_opts_clear(&ov);
  json_decref(v);
  sio_mp_bins_clear(&bins);
}

/* The answers of sio_creq: sharded envelopes on the requester's channel
 * P#NSP#<uid>#, or JSON on P-response#NSP#[<uid>#] (a client's ack
 * through the configured parser, serverSideEmit answers always on the
 * generic channel, as Node does). */
static void respond(void *ud, const char *requester, const char *rid, int answer,
                    const json_t *value, sio_buf *const *bins, size_t nbins) {
  redis_adapter *a = ud;
  if (a->cl->sharded) {
    static const int types[] = {S_CLIENT_COUNT, S_ACK, S_FETCH_RESPONSE, S_SSE_RESPONSE};
    static const char *const keys[] = {"clientCount", "packet", "sockets", "packet"};
    char *ch = requester ? response_channel_of(a, requester) : NULL;
    if (ch)
      s_send(a, ch, types[answer], json_pack("{s:s,s:O}", "requestId", rid, keys[answer], value),
             bins, nbins);
    free(ch);
    return;
  }
  const char *ch = resp_channel(a, requester);
  switch (answer) {
  case SIO_CREQ_ANS_COUNT:
    publish_json(a, ch, json_pack("{s:i,s:s,s:O}", "type", RESP_COUNT, "requestId", rid,
                                  "clientCount", value));
    break;
  case SIO_CREQ_ANS_ACK: {
    json_t *msg = json_pack("{s:i,s:s,s:O}", "type", RESP_ACK, "requestId", rid, "packet", value);
    publish_parsed(a, ch, msg, bins, nbins);
    json_decref(msg);
    break;
  }
  case SIO_CREQ_ANS_SOCKETS:
    publish_json(a, ch, json_pack("{s:s,s:O}", "requestId", rid, "sockets", value));
    break;
  default:
    publish_json(a, a->ch_resp, json_pack("{s:i,s:s,s:O}", "type", REQ_SSE, "requestId", rid,
                                          "data", value));
  }
}

/* A SOCKETS request answered from every loop's sockets (several loops:
 * fetch_sockets reaches them all, as for REMOTE_FETCH; one loop: at once). */
typedef struct ids_ctx {
  redis_adapter *a;
  char *ch, *rid;
} ids_ctx;

static void ids_fetched(void *ctx, int err, json_t *sockets) {
  ids_ctx *x = ctx;
  if (!err) { /* err: the adapter is going */
    json_t *list = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(sockets, i, v) {
      json_t *id = json_object_get(v, "id");
      if (json_is_string(id)) json_array_append(list, id);
    }
    publish_json(x->a, x->ch, json_pack("{s:s,s:o}", "requestId", x->rid, "sockets", list));
  }
  json_decref(sockets);
  free(x->ch);
  free(x->rid);
  free(x);
}

static void answer_sockets(redis_adapter *a, const char *uid, const char *rid,
                           const char *const *rooms, size_t n) {
  ids_ctx *x = calloc(1, sizeof *x);
  if (!x || !(x->ch = strdup(resp_channel(a, uid))) || !(x->rid = strdup(rid))) {
    if (x) free(x->ch);
    free(x);
    return;
  }
  x->a = a;
  sio_bcast_opts o = {rooms, n, NULL, 0, 0, 0, 0, 0};
  a->local->ops->fetch_sockets(a->local, &o, ids_fetched, x);
}

static void on_request(redis_adapter *a, const char *payload, size_t len) {
  sio_mp_bins bins = {0};
  json_t *j = decode_payload(payload, len, &bins);
  json_t *type_j = json_object_get(j, "type");
  if (!json_is_object(j) || !json_is_integer(type_j)) {
    sio_log(SIO_LOG_WARN, "sio:redis", "malformed request on %s (%zu bytes) dropped",
            a->ch_req, len);
    goto out;
  }
  int type = (int)json_integer_value(type_j);
  const char *uid = json_string_value(json_object_get(j, "uid"));
  const char *rid = json_string_value(json_object_get(j, "requestId"));
  int own = uid && !strcmp(uid, a->uid);
  sio_creq_opts ov = {0};
  if (json_object_get(j, "opts") && sio_creq_opts_decode(json_object_get(j, "opts"), 0, &ov)) {
    sio_log(SIO_LOG_WARN, "sio:redis", "request with malformed opts dropped");
    goto out;
  }
  switch (type) {
  case REQ_SOCKETS:
  case REQ_ALL_ROOMS: {
    if (!rid || sio_creq_is_pending(&a->reqs, rid)) break;
    sio_map set;
    sio_map_init(&set);
    json_t *rooms = json_object_get(j, "rooms");
    size_t n = json_array_size(rooms);
    const char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) v[i] = json_string_value(json_array_get(rooms, i));
    int ok = v != NULL;
    for (size_t i = 0; v && i < n; i++) ok &= v[i] != NULL;
    if (type == REQ_SOCKETS && ok) {
      answer_sockets(a, uid, rid, v, n);
      free(v);
      break;
    }
    if (type == REQ_SOCKETS) a->local->ops->sockets(a->local, v, v ? n : 0, &set);
    else a->local->ops->rooms(a->local, &set);
    free(v);
    json_t *list = json_array();
    size_t it;
    for (sio_map_entry *e = sio_map_first(&set, &it); e; e = sio_map_next(&set, e, &it))
      json_array_append_new(list, json_string(e->key));
    sio_map_clear(&set);
    publish_json(a, resp_channel(a, uid), json_pack("{s:s,s:o}", "requestId", rid,
                                                    type == REQ_SOCKETS ? "sockets" : "rooms", list));
    break;
  }
  case REQ_JOIN:
  case REQ_LEAVE:
  case REQ_DISCONNECT: {
    const char *sid = json_string_value(json_object_get(j, "sid"));
    if (sid) { /* legacy v7 form: only the owner acts and answers */
      if (!a->local->ops->socket_rooms(a->local, sid) || !rid) break;
      if (type == REQ_DISCONNECT) {
        a->base.host.disconnect(a->base.host.ctx, sid,
                                json_is_true(json_object_get(j, "close")));
      } else {
        const char *room = json_string_value(json_object_get(j, "room"));
        if (room && type == REQ_JOIN) a->local->ops->add_all(a->local, sid, &room, 1);
        else if (room) a->local->ops->del(a->local, sid, room);
      }
      publish_json(a, resp_channel(a, uid), json_pack("{s:s}", "requestId", rid));
      break;
    }
    if (own || !ov.v) break; /* applied when we sent it */
    if (type == REQ_DISCONNECT) {
      a->local->ops->disconnect_sockets(a->local, &ov.o,
                                        json_is_true(json_object_get(j, "close")));
    } else {
      json_t *rooms = json_object_get(j, "rooms");
      size_t n = json_array_size(rooms);
      const char **v = calloc(n + 1, sizeof *v);
      for (size_t i = 0; v && i < n; i++) v[i] = json_string_value(json_array_get(rooms, i));
      int ok = v != NULL;
      for (size_t i = 0; v && i < n; i++) ok &= v[i] != NULL;
      if (ok && type == REQ_JOIN) a->local->ops->add_sockets(a->local, &ov.o, v, n);
      else if (ok) a->local->ops->del_sockets(a->local, &ov.o, v, n);
      free(v);
    }
    break;
  }
  case REQ_FETCH:
    if (!rid || own || sio_creq_is_pending(&a->reqs, rid) || !ov.v) break;
    sio_creq_on_fetch(&a->reqs, rid, uid, &ov.o);
    break;
  case REQ_SSE: {
    if (own) break;
    json_t *data = json_object_get(j, "data");
    if (!json_is_array(data) || !json_array_size(data)) break;
    sio_creq_on_sse(&a->reqs, rid, uid, data, bins.v, bins.n);
    break;
  }
  case REQ_BCAST:
    if (!rid || own || sio_creq_is_pending(&a->reqs, rid) || !ov.v) break;
    sio_creq_on_broadcast_ack(&a->reqs, rid, uid,
                              json_object_get(json_object_get(j, "packet"), "data"), bins.v,
                              bins.n, &ov.o);
    break;
  default:
    break;
  }
  sio_creq_opts_clear(&ov);
out:
  json_decref(j);
  sio_mp_bins_clear(&bins);
}

static void on_response(redis_adapter *a, const char *payload, size_t len) {
  sio_mp_bins bins = {0};
  json_t *j = decode_payload(payload, len, &bins);
  const char *rid = json_string_value(json_object_get(j, "requestId"));
  if (!json_is_object(j)) {
    sio_log(SIO_LOG_WARN, "sio:redis", "malformed response (%zu bytes) dropped", len);
  } else if (rid) {
    json_t *type_j = json_object_get(j, "type");
    int type = json_is_integer(type_j) ? (int)json_integer_value(type_j) : -1;
    if (type == RESP_COUNT)
      sio_creq_answer(&a->reqs, rid, SIO_CREQ_ANS_COUNT, json_object_get(j, "clientCount"),
                      &bins, NULL);
    else if (type == RESP_ACK)
      sio_creq_answer(&a->reqs, rid, SIO_CREQ_ANS_ACK, json_object_get(j, "packet"), &bins,
                      NULL);
    else if (type == REQ_SSE)
      sio_creq_answer(&a->reqs, rid, SIO_CREQ_ANS_SSE, json_object_get(j, "data"), &bins, NULL);
    else /* answers to fetch carry no type */
      sio_creq_answer(&a->reqs, rid, SIO_CREQ_ANS_SOCKETS, json_object_get(j, "sockets"), &bins,
                      NULL);
  }
  json_decref(j);
  sio_mp_bins_clear(&bins);
}


/* A sharded message: the envelope {type, data, uid, nsp}. Responses may
 * come on the main channel too (Node's onMessage forwards them). */
static void s_on_message(redis_adapter *a, const char *payload, size_t len) {
  sio_mp_bins bins = {0};
  json_t *j = decode_payload(payload, len, &bins);
  json_t *type_j = json_object_get(j, "type");
  json_t *data = json_object_get(j, "data");
  const char *uid = json_string_value(json_object_get(j, "uid"));
  const char *nsp = json_string_value(json_object_get(j, "nsp"));
  sio_creq_opts ov = {0};
  if (!json_is_object(j) || !json_is_integer(type_j) ||
      (data && !json_is_object(data)) ||
      (json_object_get(data, "opts") &&
       sio_creq_opts_decode(json_object_get(data, "opts"), 0, &ov))) {
    sio_log(SIO_LOG_WARN, "sio:redis", "malformed sharded message on %s (%zu bytes) dropped",
            a->ch_main, len);
    goto out;
  }
  int type = (int)json_integer_value(type_j);
  if ((uid && !strcmp(uid, a->uid)) || !nsp || strcmp(nsp, a->nsp)) goto out;
  const char *rid = json_string_value(json_object_get(data, "requestId"));
  switch (type) {
  case S_BROADCAST: {
    json_t *pd = json_object_get(json_object_get(data, "packet"), "data");
    if (!ov.v || !json_is_array(pd) || !json_array_size(pd)) break;
    ov.o.flags &= ~(unsigned)SIO_BC_LOCAL;
    if (!rid) {
      sio_msg m = {2, a->nsp, pd, bins.v, bins.n, -1, NULL, NULL, 0};
      a->local->ops->broadcast(a->local, &m, &ov.o);
      sio_msg_release(&m);
      break;
    }
    if (uid) sio_creq_on_broadcast_ack(&a->reqs, rid, uid, pd, bins.v, bins.n, &ov.o);
    break;
  }
  case S_SOCKETS_JOIN:
  case S_SOCKETS_LEAVE: {
    json_t *rooms = json_object_get(data, "rooms");
    size_t n = json_array_size(rooms);
    const char **v = calloc(n + 1, sizeof *v);
    int ok = v && ov.v;
    for (size_t i = 0; ok && i < n; i++) ok = (v[i] = json_string_value(json_array_get(rooms, i))) != NULL;
    if (ok && type == S_SOCKETS_JOIN) ra_add_sockets_local(a, &ov.o, v, n);
    else if (ok) ra_del_sockets_local(a, &ov.o, v, n);
    free(v);
    break;
  }
  case S_DISCONNECT:
    if (ov.v)
      a->local->ops->disconnect_sockets(a->local, &ov.o,
                                        json_is_true(json_object_get(data, "close")));
    break;
  case S_FETCH:
    if (rid && ov.v && uid) sio_creq_on_fetch(&a->reqs, rid, uid, &ov.o);
    break;
  case S_SSE: {
    json_t *packet = json_object_get(data, "packet");
    if (!json_is_array(packet) || !json_array_size(packet)) break;
    sio_creq_on_sse(&a->reqs, uid ? rid : NULL, uid, packet, bins.v, bins.n);
    break;
  }
  case S_FETCH_RESPONSE:
  case S_SSE_RESPONSE:
  case S_CLIENT_COUNT:
  case S_ACK:
    sio_creq_on_response(&a->reqs, type, data, &bins, NULL);
    break;
  default: /* heartbeats, ADAPTER_CLOSE, unknown: ignored, as Node does */
    break;
  }
out:
  sio_creq_opts_clear(&ov);
  json_decref(j);
  sio_mp_bins_clear(&bins);
}

static void on_message(void *ud, const char *pattern, const char *channel, size_t chlen,
                       const char *payload, size_t len) {
  sio_redis_cluster *cl = ud;
  char *ch = strndup(channel, chlen);
  if (!ch) return;
  redis_adapter *a = sio_map_get(&cl->by_channel, pattern ? pattern : ch);
  if (a && cl->sharded) {
    s_on_message(a, payload, len);
  } else if (a) {
    if (pattern) on_broadcast(a, channel, chlen, payload, len);
    else if (!strcmp(ch, a->ch_req)) on_request(a, payload, len);
    else on_response(a, payload, len);
  }
  free(ch);
}

/* ------------------------------------------------------------ lifecycle */

/* The adapter's strings and the adapter itself. */
static void free_names_of(redis_adapter *a) {
  free(a->nsp);
  free(a->ch_main);
  free(a->pattern);
  free(a->ch_req);
  free(a->ch_resp);
  free(a->ch_resp_own);
  free(a);
}

static void ra_free(sio_adapter *base) {
  redis_adapter *a = (redis_adapter *)base;
  sio_creq_close(&a->reqs);
  sio_rc *sub = a->cl->rc;
  if (a->cl->sharded) {
    sio_map rooms;
    sio_map_init(&rooms);
    a->local->ops->rooms(a->local, &rooms);
    size_t it;
    for (sio_map_entry *e = sio_map_first(&rooms, &it); e; e = sio_map_next(&rooms, e, &it))
      if (dynamic(a)) room_channel(a, e->key, 0);
    sio_map_clear(&rooms);
    sio_rc_unsubscribe(sub, "SSUBSCRIBE", a->ch_main);
    sio_rc_unsubscribe(sub, "SSUBSCRIBE", a->ch_resp_own);
    sio_map_del(&a->cl->by_channel, a->ch_main);
    sio_map_del(&a->cl->by_channel, a->ch_resp_own);
    a->local->ops->free(a->local);
    goto strings;
  }
  const char *chans[] = {a->ch_req, a->ch_resp, a->ch_resp_own};
  sio_rc_unsubscribe(sub, "PSUBSCRIBE", a->pattern);
  sio_map_del(&a->cl->by_channel, a->pattern);
  for (int i = 0; i < 3; i++) {
    sio_rc_unsubscribe(sub, "SUBSCRIBE", chans[i]);
    sio_map_del(&a->cl->by_channel, chans[i]);
  }
  a->local->ops->free(a->local);
strings:
  free_names_of(a);
}

static const sio_adapter_ops redis_ops = {
    ra_free,          ra_add_all,          ra_del,
    ra_del_all,       ra_broadcast,        ra_broadcast_with_ack,
    ra_sockets,       ra_socket_rooms,     ra_fetch_sockets,
    ra_add_sockets,   ra_del_sockets,      ra_disconnect_sockets,
    ra_server_side_emit, ra_server_count,  ra_rooms,
    NULL,             NULL, /* sessions: kept by the Socket.IO layer */
    NULL,             ra_room_sync,
};

/* The pattern is the namespace with glob characters escaped, so a name
 * like "/a*" cannot subscribe to other namespaces' traffic. */
static char *escaped_pattern(const char *key, const char *nsp) {
  size_t n = strlen(nsp);
  char *esc = malloc(2 * n + 1), *o = esc;
  if (!esc) return NULL;
  for (const char *p = nsp; *p; p++) {
    if (strchr("*?[]\\", *p)) *o++ = '\\';
    *o++ = *p;
  }
  *o = '\0';
  char *pat = cat(key, "#", esc, "#*");
  free(esc);
  return pat;
}

sio_adapter *sio_redis_adapter_new(void *clp, const char *nsp, const sio_adapter_host *host) {
  sio_redis_cluster *cl = clp;
  redis_adapter *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->base.ops = &redis_ops;
  a->base.host = *host;
  a->cl = cl;
  sio_creq_new_id(a->uid, cl->sharded);
  a->local = host->local_new ? host->local_new(host->ctx) : sio_memory_adapter_new(host);
  a->nsp = strdup(nsp);
  a->ch_main = cat(cl->key, "#", nsp, "#");
  a->pattern = escaped_pattern(cl->key, nsp);
  a->ch_req = cat(cl->key, "-request#", nsp, "#");
  a->ch_resp = cat(cl->key, "-response#", nsp, "#");
  char tail[32];
  snprintf(tail, sizeof tail, "%s#", a->uid);
  /* sharded: responses come on P#NSP#<uid># */
  a->ch_resp_own = cl->sharded ? (a->ch_main ? cat(a->ch_main, tail, NULL, NULL) : NULL)
                   : (a->ch_resp ? cat(a->ch_resp, tail, NULL, NULL) : NULL);
  if (!a->local || !a->nsp || !a->ch_main || !a->pattern || !a->ch_req || !a->ch_resp ||
      !a->ch_resp_own) {
    if (a->local) a->local->ops->free(a->local);
    free_names_of(a);
    return NULL;
  }
  static const sio_creq_transport transport = {send_request, respond};
  sio_creq_init(&a->reqs, cl->base, &a->base, a->local, &transport, a, a->nsp, "sio:redis",
                cl->sharded, NULL);
  if (cl->sharded) {
    sio_map_put(&cl->by_channel, a->ch_main, a);
    sio_map_put(&cl->by_channel, a->ch_resp_own, a);
    sio_rc_subscribe(cl->rc, "SSUBSCRIBE", a->ch_main);
    sio_rc_subscribe(cl->rc, "SSUBSCRIBE", a->ch_resp_own);
    sio_log(SIO_LOG_DEBUG, "sio:redis", "sharded adapter for %s, uid %s", nsp, a->uid);
    return &a->base;
  }
  sio_map_put(&cl->by_channel, a->pattern, a);
  sio_map_put(&cl->by_channel, a->ch_req, a);
  sio_map_put(&cl->by_channel, a->ch_resp, a);
  sio_map_put(&cl->by_channel, a->ch_resp_own, a);
  /* Node's order: the pattern, then the three channels. */
  sio_rc_subscribe(cl->rc, "PSUBSCRIBE", a->pattern);
  sio_rc_subscribe(cl->rc, "SUBSCRIBE", a->ch_req);
  sio_rc_subscribe(cl->rc, "SUBSCRIBE", a->ch_resp);
  sio_rc_subscribe(cl->rc, "SUBSCRIBE", a->ch_resp_own);
  sio_log(SIO_LOG_DEBUG, "sio:redis", "adapter for %s, uid %s", nsp, a->uid);
  return &a->base;
}

sio_redis_cluster *sio_redis_cluster_new(struct event_base *base, const sio_redis_options *o,
                                         char *err, size_t errlen) {
  sio_redis_url seeds[64];
  size_t n = 0;
  int mode = SIO_RC_SINGLE;
  if (!o) {
    snprintf(err, errlen, "no options");
    return NULL;
  }
  if (o->n_cluster_nodes > 64 || (o->n_cluster_nodes && !o->cluster_nodes)) {
    snprintf(err, errlen, "cluster_nodes: 1 to 64 seed URLs");
    return NULL;
  }
  for (size_t i = 0; i < o->n_cluster_nodes; i++) {
    if (!o->cluster_nodes[i] || sio_redis_parse_url(o->cluster_nodes[i], &seeds[n]) != 0) {
      snprintf(err, errlen, "invalid Redis URL \"%s\" in cluster_nodes "
               "(redis://[[user]:password@]host[:port])",
               o->cluster_nodes[i] ? o->cluster_nodes[i] : "");
      return NULL;
    }
    n++;
  }
  if (o->url) {
    sio_redis_url *u = n ? &seeds[63] : &seeds[0];
    if (sio_redis_parse_url(o->url, u) != 0) {
      snprintf(err, errlen, "invalid Redis URL \"%s\" (redis://[[user]:password@]host[:port][/db])",
               o->url);
      return NULL;
    }
    if (!n) n = 1;
    else if (o->cluster_mode == SIO_REDIS_MODE_SINGLE) seeds[0] = seeds[63];
  }
  if (!n) {
    snprintf(err, errlen, "no Redis URL (url or cluster_nodes)");
    return NULL;
  }
  mode = sio_rc_mode_from_option(o->cluster_mode, o->n_cluster_nodes != 0, err, errlen);
  if (mode < 0) return NULL;
  /* one TLS configuration (and error callback) for every seed and node */
  if (sio_redis_tls_setup(&seeds[0], o, err, errlen) != 0) return NULL;
  for (size_t i = 1; i < n; i++) {
    seeds[i].tls = seeds[0].tls;
    seeds[i].tls_ctx = seeds[0].tls_ctx;
    seeds[i].on_error = seeds[0].on_error;
    seeds[i].error_user_data = seeds[0].error_user_data;
  }
  sio_redis_cluster *cl = calloc(1, sizeof *cl);
  if (!cl) {
    sio_redis_tls_unref(seeds[0].tls_ctx);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  cl->tls = seeds[0].tls_ctx;
  cl->base = base;
  cl->key = strdup(o->key ? o->key : "socket.io");
  cl->timeout_ms = o->requests_timeout_ms ? o->requests_timeout_ms : 5000;
  cl->specific = o->publish_on_specific_response_channel;
  cl->sharded = o->sharded;
  cl->json_parser = o->json_parser;
  cl->mode = MODE_DYNAMIC;
  if (o->subscription_mode) {
    if (!strcmp(o->subscription_mode, "static")) cl->mode = MODE_STATIC;
    else if (!strcmp(o->subscription_mode, "dynamic-private")) cl->mode = MODE_DYNAMIC_PRIVATE;
    else if (strcmp(o->subscription_mode, "dynamic")) {
      snprintf(err, errlen, "unknown subscription mode \"%s\" (static, dynamic, dynamic-private)",
               o->subscription_mode);
      free(cl->key);
      sio_redis_tls_unref(cl->tls);
      free(cl);
      return NULL;
    }
  }
  sio_map_init(&cl->by_channel);
  sio_rc_config rcfg = {seeds, n, mode, o->cluster_node_timeout_ms,
                        o->cluster_refresh_interval_ms, 0};
  cl->rc = sio_rc_new(base, &rcfg, on_message, cl);
  if (!cl->key || !cl->rc) {
    sio_redis_cluster_free(cl);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  return cl;
}

void sio_redis_cluster_close(void *clp) {
  sio_redis_cluster *cl = clp;
  size_t it;
  for (sio_map_entry *e = sio_map_first(&cl->by_channel, &it); e;
       e = sio_map_next(&cl->by_channel, e, &it)) {
    redis_adapter *a = e->value;
    sio_creq_close(&a->reqs);
  }
  sio_rc_free(cl->rc);
  cl->rc = NULL;
}

void sio_redis_cluster_free(void *clp) {
  sio_redis_cluster *cl = clp;
  if (!cl) return;
  sio_rc_free(cl->rc);
  sio_map_clear(&cl->by_channel);
  free(cl->key);
  sio_redis_tls_unref(cl->tls);
  free(cl);
}
