/*
 * The server side of @socket.io/admin-ui 0.5 (its dist/index.js is the
 * reference): the admin namespace with its basic-auth middleware (bcrypt
 * through crypt(3), sessions kept in memory), the config / all_sockets
 * greeting, the admin commands (emit, join, leave, _disconnect), the
 * server_stats emitted every 2 s with the aggregated events, and in
 * development mode every socket, room and event. Everything the UI gets is
 * emitted to the admin namespace through its adapter, so with the Redis
 * adapter every server's admin namespace reaches the one UI.
 */
#include <crypt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "internal.h"
#include "metrics.h"
#include "replica.h"
#include "sio/log.h"

typedef struct agg {
  long long ts;       /* ms, truncated to the second */
  const char *type;
  char *sub;          /* NULL: no subType */
  unsigned long long count;
} agg;

typedef struct fetch_all fetch_all;

/* What every loop's admin state shares (several loops: one per replica,
 * replica 0's keeps the stats timer): the login sessions, the only state
 * an admin socket on one loop needs from another loop's login. */
typedef struct admin_shared {
  int refs;                 /* admin states holding it (atomic) */
  pthread_mutex_t mu;
  sio_map sessions;         /* session id -> NULL, under mu */
} admin_shared;

struct sio_admin {
  sio_server *srv;
  sio_namespace *nsp;
  char *username, *hash, *server_id;
  int readonly, dev, stopped;
  unsigned interval_ms;
  char hostname[256];
  uint64_t start_us;
  struct event *timer;
  admin_shared *sh;
  sio_map pending_session;  /* admin socket id -> session id to send */
  agg *aggs;
  size_t naggs, capaggs;
  long long polling;
  json_t *features;
  fetch_all *fetches;
  json_t *left;             /* room_left of a disconnecting socket, held back */
  /* Replica 0, several loops: the other loops' aggregated events and
   * polling counts, gathered (by messages) before each server_stats. */
  unsigned long long gen;   /* the gathering under way */
  size_t gather_left;
  long long gather_polling;
};

/* all_sockets for one admin socket: every namespace's fetchSockets. */
struct fetch_all {
  sio_admin *a;             /* NULL once the admin state is gone */
  char sid[24];
  size_t waiting;
  json_t *list;
  fetch_all *next;
};

void sio_admin_options_init(sio_admin_options *o) {
  memset(o, 0, sizeof *o);
  o->namespace_name = "/admin";
  o->stats_interval_ms = 2000;
}

/* ---------------------------------------------------------------- helpers */

/* JSON.stringify(new Date()): "2026-11-27T22:30:00.123Z" (a new reference). */
static json_t *now_date(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char buf[96];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           (int)(tv.tv_usec / 1000) % 1000);
  return json_string(buf);
}

/* adminNamespace.emit(event, ...args): through the adapter (the cluster). */
static void emit_all(sio_admin *a, const char *event, sio_args *args) {
  if (!args) return;
  if (a->stopped) {
    sio_args_unref(args);
    return;
  }
  sio_bc_emit(sio_broadcast_new(a->nsp), event, args);
}

static void emit_json(sio_admin *a, const char *event, json_t *array) {
  if (!array) return;
  emit_all(a, event, sio_args_from_json(array));
}

/* type: one of the static strings (compared by address). */
static void agg_add(sio_admin *a, long long ts, const char *type, const char *sub,
                    unsigned long long n) {
  for (size_t i = 0; i < a->naggs; i++) {
    agg *g = &a->aggs[i];
    if (g->ts == ts && g->type == type &&
        ((!g->sub && !sub) || (g->sub && sub && !strcmp(g->sub, sub)))) {
      g->count += n;
      return;
    }
  }
  if (a->naggs == a->capaggs) {
    size_t cap = a->capaggs ? a->capaggs * 2 : 16;
    if (cap > 4096) return; /* bounded: a burst of distinct reasons */
    agg *v = realloc(a->aggs, cap * sizeof *v);
    if (!v) return;
    a->aggs = v;
    a->capaggs = cap;
  }
  char *s = sub ? strdup(sub) : NULL;
  if (sub && !s) return;
  a->aggs[a->naggs++] = (agg){ts, type, s, n};
}

static void agg_push(sio_admin *a, const char *type, const char *sub,
                     unsigned long long n) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  agg_add(a, (long long)tv.tv_sec * 1000, type, sub, n);
}

/* io._eventBuffer.getValuesAndClear() */
static json_t *agg_take(sio_admin *a) {
  json_t *arr = json_array();
  for (size_t i = 0; i < a->naggs; i++) {
    agg *g = &a->aggs[i];
    json_t *o = json_pack("{s:I,s:s,s:I}", "timestamp", (json_int_t)g->ts, "type", g->type,
                          "count", (json_int_t)g->count);
    if (o && g->sub) json_object_set_new(o, "subType", json_string(g->sub));
    if (o) json_array_append_new(arr, o);
    free(g->sub);
  }
  a->naggs = 0;
  return arr;
}

/* data without its _admin key (a new object). */
static json_t *public_data(const json_t *data) {
  json_t *o = json_is_object(data) ? json_deep_copy(data) : json_object();
  if (o) json_object_del(o, "_admin");
  return o;
}

/* The admin-ui view of a socket, from {id, handshake, rooms, data}. */
static json_t *serialize(const char *id, const json_t *hs, json_t *rooms,
                         const json_t *data, const char *nsp) {
  json_t *out = json_object();
  if (!out) return NULL;
  json_object_set_new(out, "id", json_string(id));
  const json_t *adm = json_object_get(data, "_admin");
  const json_t *cid = json_object_get(adm, "clientId");
  const json_t *tr = json_object_get(adm, "transport");
  if (cid) json_object_set(out, "clientId", (json_t *)cid);
  if (tr) json_object_set(out, "transport", (json_t *)tr);
  json_object_set_new(out, "nsp", json_string(nsp));
  json_object_set_new(out, "data", public_data(data));
  json_t *headers = json_object_get(hs, "headers");
  json_t *addr = json_object_get(headers, "cf-connecting-ip");
  if (!json_string_length(addr)) addr = json_object_get(headers, "x-forwarded-for");
  if (!addr || !json_string_length(addr)) addr = json_object_get(hs, "address");
  json_t *h = json_object();
  if (h) {
    if (addr) json_object_set(h, "address", addr);
    static const char *const keys[] = {"headers", "query", "issued", "secure",
                                       "time", "url", "xdomain"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
      json_t *v = json_object_get(hs, keys[i]);
      if (v) json_object_set(h, keys[i], v);
    }
    json_object_set_new(out, "handshake", h);
  }
  json_object_set_new(out, "rooms", rooms ? rooms : json_array());
  return out;
}

static json_t *serialize_socket(sio_socket *s) {
  return serialize(s->id, sio_socket_handshake(s), sio_socket_rooms(s), sio_socket_data(s),
                   s->nsp->name);
}

/* ------------------------------------------------------------ server_stats */

static void nsp_gauge(const char *name, long n, void *ud) {
  json_array_append_new(ud, json_pack("{s:s,s:I}", "name", name, "socketsCount",
                                      (json_int_t)(n > 0 ? n : 0)));
}

/* polling: the clients on polling over every loop. */
static void emit_stats_with(sio_admin *a, long long polling) {
  json_t *nsps = json_array();
  size_t it;
  if (a->srv->group) /* the namespaces of every loop, their sockets summed */
    sio_group_gauges(a->srv, nsp_gauge, nsps);
  else
    for (sio_map_entry *e = sio_map_first(&a->srv->nsps, &it); e;
         e = sio_map_next(&a->srv->nsps, e, &it)) {
      sio_namespace *n = e->value;
      json_array_append_new(nsps, json_pack("{s:s,s:I}", "name", n->name, "socketsCount",
                                            (json_int_t)n->sockets.count));
    }
  double uptime = (double)(sio_m_now_us() - a->start_us) / 1e6;
  json_t *st = json_pack("{s:s,s:s,s:I,s:f,s:I,s:I,s:o,s:o}", "serverId", a->server_id,
                         "hostname", a->hostname, "pid", (json_int_t)getpid(), "uptime",
                         uptime, "clientsCount",
                         (json_int_t)eio_server_clients_count(a->srv->eio),
                         "pollingClientsCount", (json_int_t)polling,
                         "aggregatedEvents", agg_take(a), "namespaces", nsps);
  emit_json(a, "server_stats", st ? json_pack("[o]", st) : NULL);
}

static void emit_stats(sio_admin *a) { emit_stats_with(a, a->polling); }

static void flush_left(sio_admin *a);

/* Several loops: each other loop hands over its aggregated events and
 * polling count (a message there, one back); replica 0 emits the sum once
 * every loop answered. */
typedef struct gather_task {
  sio_server *r0;
  unsigned long long gen;
  agg *aggs;
  size_t naggs;
  long long polling;
} gather_task;

static void gather_free(gather_task *t) {
  for (size_t i = 0; i < t->naggs; i++) free(t->aggs[i].sub);
  free(t->aggs);
  free(t);
}

/* On replica 0's loop: one loop's part. */
static void gather_back(sio_server *srv, void *arg, int cancelled) {
  (void)srv;
  gather_task *t = arg;
  sio_admin *a = cancelled ? NULL : t->r0->admin;
  for (size_t i = 0; a && i < t->naggs; i++) /* late ones go in the next stats */
    agg_add(a, t->aggs[i].ts, t->aggs[i].type, t->aggs[i].sub, t->aggs[i].count);
  if (a && t->gen == a->gen && a->gather_left) {
    a->gather_polling += t->polling;
    if (--a->gather_left == 0 && !a->stopped) emit_stats_with(a, a->gather_polling);
  }
  gather_free(t);
}

/* On another loop: its part, taken, sent back to replica 0. */
static void gather_run(sio_server *srv, void *arg, int cancelled) {
  gather_task *t = arg;
  sio_admin *a = cancelled ? NULL : srv->admin;
  if (a) {
    flush_left(a);
    t->aggs = a->aggs;
    t->naggs = a->naggs;
    t->polling = a->polling;
    a->aggs = NULL;
    a->naggs = a->capaggs = 0;
  }
  if (cancelled || sio_server_post(t->r0, gather_back, t) != SIO_OK) gather_free(t);
}

static void stats_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  sio_admin *a = arg;
  flush_left(a);
  size_t n = sio_server_workers(a->srv);
  if (n <= 1) {
    emit_stats(a);
    return;
  }
  if (a->gather_left) /* a loop did not answer the last one: emit without it */
    emit_stats_with(a, a->gather_polling);
  a->gen++;
  a->gather_left = 1; /* this call's, until every loop is asked */
  a->gather_polling = a->polling;
  for (size_t i = 1; i < n; i++) {
    gather_task *t = calloc(1, sizeof *t);
    if (!t) continue;
    t->r0 = a->srv;
    t->gen = a->gen;
    if (sio_server_post(sio_server_worker(a->srv, i), gather_run, t) == SIO_OK)
      a->gather_left++;
    else
      free(t);
  }
  if (--a->gather_left == 0) emit_stats_with(a, a->gather_polling);
}

/* ------------------------------------------------------------------ auth */

static int valid_bcrypt(const char *h) {
  if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) ||
      h[3] != '$' || h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$')
    return 0;
  for (const char *p = h + 7; *p; p++)
    if (!strchr("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", *p))
      return 0;
  return 1;
}

static int password_ok(const char *hash, const char *password) {
  struct crypt_data *cd = calloc(1, sizeof *cd);
  if (!cd) return 0;
  const char *r = crypt_r(password, hash, cd);
  int ok = 0;
  if (r && strlen(r) == strlen(hash)) {
    unsigned char diff = 0;
    for (size_t i = 0; hash[i]; i++) diff |= (unsigned char)(r[i] ^ hash[i]);
    ok = diff == 0;
  }
  free(cd);
  return ok;
}

/* The admin state of the loop running s (the handlers were set up with
 * replica 0's). */
static sio_admin *admin_here(sio_socket *s) { return s->nsp->srv->admin; }

static int session_has(admin_shared *sh, const char *id) {
  pthread_mutex_lock(&sh->mu);
  int r = sio_map_has(&sh->sessions, id);
  pthread_mutex_unlock(&sh->mu);
  return r;
}

static int session_put(admin_shared *sh, const char *id) {
  pthread_mutex_lock(&sh->mu);
  int r = sio_map_put(&sh->sessions, id, NULL);
  pthread_mutex_unlock(&sh->mu);
  return r;
}

static void auth_mw(sio_socket *s, sio_next *next, void *ud) {
  (void)ud;
  sio_admin *a = admin_here(s);
  if (!a) {
    sio_next_error(next, "invalid credentials", NULL);
    return;
  }
  const json_t *auth = json_object_get(sio_socket_handshake(s), "auth");
  const char *sess = json_string_value(json_object_get(auth, "sessionId"));
  if (sess && session_has(a->sh, sess)) {
    sio_next_ok(next);
    return;
  }
  const char *user = json_string_value(json_object_get(auth, "username"));
  const char *pass = json_string_value(json_object_get(auth, "password"));
  if (user && pass && !strcmp(user, a->username) && password_ok(a->hash, pass)) {
    unsigned char rnd[8];
    char id[17];
    if (getrandom(rnd, sizeof rnd, 0) == (ssize_t)sizeof rnd) {
      for (int i = 0; i < 8; i++) snprintf(id + 2 * i, 3, "%02x", rnd[i]);
      if (session_put(a->sh, id) >= 0) {
        char *copy = strdup(id);
        if (copy && sio_map_put(&a->pending_session, s->id, copy) < 0) free(copy);
        else if (copy) {
          sio_next_ok(next);
          return;
        }
      }
    }
  }
  sio_next_error(next, "invalid credentials", NULL);
}

/* -------------------------------------------------------- admin commands */

static sio_broadcast *target(sio_admin *a, sio_args *args, size_t filter_at) {
  const char *nsp = json_string_value(sio_args_get(args, 0));
  if (!nsp) return NULL;
  sio_namespace *n = sio_of(a->srv, nsp);
  if (!n) return NULL;
  sio_broadcast *b = sio_broadcast_new(n);
  const char *filter = json_string_value(sio_args_get(args, filter_at));
  if (b && filter && *filter) sio_bc_to(b, filter);
  return b;
}

static void on_emit(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack, void *ud) {
  (void)ev, (void)ack;
  const char *event = json_string_value(sio_args_get(args, 2));
  if (!event) return;
  (void)ud;
  sio_admin *a = admin_here(s);
  sio_broadcast *b = a ? target(a, args, 1) : NULL;
  if (!b) return;
  sio_args *rest = sio_args_new();
  for (size_t i = 3; rest && i < sio_args_count(args); i++)
    sio_args_push(rest, sio_args_import(rest, args, sio_args_get(args, i)));
  if (rest) sio_bc_emit(b, event, rest);
  else sio_bc_free(b);
}

static void on_join_leave(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                          void *ud) {
  (void)ack, (void)ud;
  const char *room = json_string_value(sio_args_get(args, 1));
  sio_admin *a = admin_here(s);
  if (!room || !a) return;
  sio_broadcast *b = target(a, args, 2);
  if (!b) return;
  if (!strcmp(ev, "join")) sio_bc_sockets_join(b, room);
  else sio_bc_sockets_leave(b, room);
}

static void on_disconnect_cmd(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                              void *ud) {
  (void)ev, (void)ack, (void)ud;
  sio_admin *a = admin_here(s);
  sio_broadcast *b = a ? target(a, args, 2) : NULL;
  if (b) sio_bc_disconnect_sockets(b, json_is_true(sio_args_get(args, 1)));
}

/* ----------------------------------------------------------- all_sockets */

static void fetch_all_free(sio_admin *a, fetch_all *f) {
  if (a)
    for (fetch_all **pp = &a->fetches; *pp; pp = &(*pp)->next)
      if (*pp == f) {
        *pp = f->next;
        break;
      }
  json_decref(f->list);
  free(f);
}

static void fetch_done(int err, json_t *sockets, void *ud) {
  (void)err;
  fetch_all *f = ud;
  sio_admin *a = f->a;
  size_t i;
  json_t *v;
  json_array_foreach(sockets, i, v) json_array_append(f->list, v);
  json_decref(sockets);
  if (--f->waiting) return;
  if (a && !a->stopped) {
    sio_socket *s = sio_map_get(&a->nsp->sockets, f->sid);
    if (s && s->state == SOCK_CONNECTED) {
      json_t *out = json_array();
      json_array_foreach(f->list, i, v) {
        const char *nsp = json_string_value(json_object_get(v, "__nsp"));
        json_t *x = serialize(json_string_value(json_object_get(v, "id")),
                              json_object_get(v, "handshake"),
                              json_incref(json_object_get(v, "rooms")),
                              json_object_get(v, "data"), nsp ? nsp : "/");
        if (x) json_array_append_new(out, x);
      }
      sio_emit(s, "all_sockets", sio_args_from_json(json_pack("[o]", out)));
    }
  }
  fetch_all_free(a, f);
}

typedef struct fetch_one {
  fetch_all *f;
  char *nsp;
} fetch_one;

static void fetch_one_done(int err, json_t *sockets, void *ud) {
  fetch_one *o = ud;
  size_t i;
  json_t *v;
  json_array_foreach(sockets, i, v) json_object_set_new(v, "__nsp", json_string(o->nsp));
  fetch_all *f = o->f;
  free(o->nsp);
  free(o);
  fetch_done(err, sockets, f);
}

static void send_all_sockets(sio_admin *a, sio_socket *s) {
  fetch_all *f = calloc(1, sizeof *f);
  if (!f) return;
  f->a = a;
  snprintf(f->sid, sizeof f->sid, "%s", s->id);
  f->list = json_array();
  f->waiting = 1; /* released below, after every request is out */
  f->next = a->fetches;
  a->fetches = f;
  size_t it;
  for (sio_map_entry *e = sio_map_first(&a->srv->nsps, &it); e;
       e = sio_map_next(&a->srv->nsps, e, &it)) {
    sio_namespace *n = e->value;
    fetch_one *o = calloc(1, sizeof *o);
    if (!o || !(o->nsp = strdup(n->name))) {
      free(o);
      continue;
    }
    o->f = f;
    f->waiting++;
    sio_bc_fetch_sockets(sio_broadcast_new(n), fetch_one_done, o);
  }
  fetch_done(0, json_array(), f);
}

/* ------------------------------------------------------ admin connection */

static void on_admin_connection(sio_socket *s, void *ud) {
  (void)ud;
  sio_admin *a = admin_here(s);
  if (!a) return;
  if (!a->readonly) {
    sio_socket_on(s, "emit", on_emit, a);
    sio_socket_on(s, "join", on_join_leave, a);
    sio_socket_on(s, "leave", on_join_leave, a);
    sio_socket_on(s, "_disconnect", on_disconnect_cmd, a);
  }
  char *sess = sio_map_del(&a->pending_session, s->id);
  if (sess) {
    sio_args *x = sio_args_new();
    sio_args_push(x, json_string(sess));
    sio_emit(s, "session", x);
    free(sess);
  }
  sio_emit(s, "config",
           sio_args_from_json(json_pack("[{s:O}]", "supportedFeatures", a->features)));
  if (a->dev && s->state == SOCK_CONNECTED) send_all_sockets(a, s);
}

/* ------------------------------------------------------------ the hooks */

static const char *transport_name(const sio_client *c) {
  return c && c->conn && eio_socket_transport(c->conn) == EIO_TRANSPORT_WEBSOCKET
             ? "websocket"
             : "polling";
}

void sio_admin_eio_open(sio_client *c) {
  sio_admin *a = c->srv->admin;
  agg_push(a, "rawConnection", NULL, 1);
  if (eio_socket_transport(c->conn) == EIO_TRANSPORT_POLLING) a->polling++;
}

void sio_admin_eio_close(sio_client *c, const char *reason) {
  sio_admin *a = c->srv->admin;
  agg_push(a, "rawDisconnection", reason, 1);
  if (c->conn && eio_socket_transport(c->conn) == EIO_TRANSPORT_POLLING && a->polling > 0)
    a->polling--;
}

void sio_admin_eio_upgrade(sio_client *c) {
  sio_admin *a = c->srv->admin;
  if (a->polling > 0) a->polling--;
  if (!a->dev) return;
  for (sio_socket *s = c->sockets; s; s = s->cnext) {
    if (s->state != SOCK_CONNECTED) continue;
    json_t *adm = json_object_get(s->data, "_admin");
    if (json_is_object(adm)) json_object_set_new(adm, "transport", json_string("websocket"));
    emit_json(a, "socket_updated",
              json_pack("[{s:s,s:s,s:s}]", "id", s->id, "nsp", s->nsp->name, "transport",
                        "websocket"));
  }
}

void sio_admin_traffic(sio_admin *a, int out, size_t len) {
  agg_push(a, out ? "packetsOut" : "packetsIn", NULL, 1);
  agg_push(a, out ? "bytesOut" : "bytesIn", NULL, len);
}

/* event_received / event_sent: [nsp, socket id, [event, ...args], date]. */
static void report_event(sio_admin *a, const sio_socket *s, const char *ev,
                         sio_args *args, const char *name) {
  sio_args *x = sio_args_new();
  json_t *list = json_array();
  if (!x || !list) {
    sio_args_unref(x);
    json_decref(list);
    return;
  }
  json_array_append_new(list, json_string(ev));
  for (size_t i = 0; i < sio_args_count(args); i++)
    json_array_append_new(list, sio_args_import(x, args, sio_args_get(args, i)));
  sio_args_push(x, json_string(s->nsp->name));
  sio_args_push(x, json_string(s->id));
  sio_args_push(x, list);
  sio_args_push(x, now_date());
  emit_all(a, name, x);
}

static void on_any_in(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                      void *ud) {
  (void)ack;
  report_event(ud, s, ev, args, "event_received");
}

static void on_any_out(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                       void *ud) {
  (void)ack;
  report_event(ud, s, ev, args, "event_sent");
}

void sio_admin_connected(sio_socket *s) {
  sio_admin *a = s->nsp->srv->admin;
  if (!a->dev || a->stopped) return;
  char cid[13] = "";
  if (s->client && s->client->conn)
    snprintf(cid, sizeof cid, "%s", eio_socket_id(s->client->conn));
  if (!json_is_object(s->data)) sio_socket_set_data(s, json_object());
  json_object_set_new(s->data, "_admin", json_pack("{s:s,s:s}", "clientId", cid,
                                                   "transport", transport_name(s->client)));
  emit_json(a, "socket_connected", json_pack("[o,o]", serialize_socket(s), now_date()));
  if (s->nsp != a->nsp) {
    sio_socket_on_any(s, on_any_in, a);
    sio_socket_on_any_outgoing(s, on_any_out, a);
  }
}

void sio_admin_disconnected(sio_socket *s, const char *reason) {
  sio_admin *a = s->nsp->srv->admin;
  if (!a->dev) return;
  emit_json(a, "socket_disconnected",
            json_pack("[s,s,s,o]", s->nsp->name, s->id, reason, now_date()));
  flush_left(a);
}

void sio_admin_data_set(sio_socket *s, json_t *old) {
  sio_admin *a = s->nsp->srv->admin;
  if (!a->dev || s->state != SOCK_CONNECTED) return;
  json_t *adm = json_object_get(old, "_admin");
  if (adm && json_is_object(s->data) && !json_object_get(s->data, "_admin"))
    json_object_set(s->data, "_admin", adm);
  emit_json(a, "socket_updated",
            json_pack("[{s:s,s:s,s:o}]", "id", s->id, "nsp", s->nsp->name, "data",
                      public_data(s->data)));
}

/* Node emits room_left a tick later, so a disconnecting socket's rooms are
 * left after its socket_disconnected: those wait for it here. */
static void flush_left(sio_admin *a) {
  json_t *left = a->left;
  a->left = NULL;
  size_t i;
  json_t *v;
  json_array_foreach(left, i, v) emit_json(a, "room_left", json_incref(v));
  json_decref(left);
}

void sio_admin_room(sio_namespace *nsp, const char *sid, const char *room, int joined) {
  sio_admin *a = nsp->srv->admin;
  if (!a->dev) return;
  json_t *args = json_pack("[s,s,s,o]", nsp->name, room, sid, now_date());
  sio_socket *s = joined ? NULL : sio_map_get(&nsp->sockets, sid);
  if (s && s->state == SOCK_GONE) {
    if (!a->left) a->left = json_array();
    if (a->left && args && json_array_size(a->left) < 100000) {
      json_array_append_new(a->left, args);
      return;
    }
  }
  emit_json(a, joined ? "room_joined" : "room_left", args);
}

/* ------------------------------------------------------------ lifecycle */

static admin_shared *shared_new(void) {
  admin_shared *sh = calloc(1, sizeof *sh);
  if (!sh) return NULL;
  sh->refs = 1;
  pthread_mutex_init(&sh->mu, NULL);
  sio_map_init(&sh->sessions);
  return sh;
}

static void shared_unref(admin_shared *sh) {
  if (!sh || __atomic_sub_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  sio_map_clear(&sh->sessions);
  pthread_mutex_destroy(&sh->mu);
  free(sh);
}

/* Another loop's admin state: replica 0's settings, its own counters and
 * copies (nothing of a is touched from the other thread afterwards). */
typedef struct child_task {
  sio_admin *c;
  char *nsp;
} child_task;

static void child_task_free(child_task *t) {
  if (t->c) t->c->srv = NULL; /* not installed */
  sio_admin_free(t->c);
  free(t->nsp);
  free(t);
}

static void child_install(sio_server *rep, void *arg, int cancelled) {
  child_task *t = arg;
  if (!cancelled && !rep->admin && (t->c->nsp = sio_of_one(rep, t->nsp))) {
    t->c->srv = rep;
    rep->admin = t->c;
    t->c = NULL;
  }
  child_task_free(t);
}

static child_task *child_new(const sio_admin *a, const char *nsp) {
  child_task *t = calloc(1, sizeof *t);
  sio_admin *c = t ? calloc(1, sizeof *c) : NULL;
  if (!c) {
    free(t);
    return NULL;
  }
  t->c = c;
  c->readonly = a->readonly;
  c->dev = a->dev;
  c->interval_ms = a->interval_ms;
  c->start_us = a->start_us;
  memcpy(c->hostname, a->hostname, sizeof c->hostname);
  sio_map_init(&c->pending_session);
  c->sh = a->sh;
  __atomic_add_fetch(&a->sh->refs, 1, __ATOMIC_ACQ_REL);
  c->server_id = strdup(a->server_id);
  c->username = a->username ? strdup(a->username) : NULL;
  c->hash = a->hash ? strdup(a->hash) : NULL;
  c->features = json_deep_copy(a->features);
  t->nsp = strdup(nsp);
  if (!c->server_id || (a->username && (!c->username || !c->hash)) || !c->features ||
      !t->nsp) {
    child_task_free(t);
    return NULL;
  }
  return t;
}

/* Every other loop gets its admin state (on its thread once the loops run). */
static int children_new(sio_admin *a) {
  size_t n = sio_server_workers(a->srv);
  for (size_t i = 1; i < n; i++) {
    sio_server *rep = sio_server_worker(a->srv, i);
    child_task *t = child_new(a, a->nsp->name);
    if (!t) return -1;
    if (!a->srv->group->listening) child_install(rep, t, 0);
    else if (sio_server_post(rep, child_install, t) != SIO_OK) {
      child_task_free(t);
      return -1;
    }
  }
  return 0;
}

int sio_admin_instrument(sio_server *srv, const sio_admin_options *o, char *err,
                         size_t errlen) {
  sio_admin_options def;
  if (!o) {
    sio_admin_options_init(&def);
    o = &def;
  }
  if (srv->admin) {
    snprintf(err, errlen, "the server is instrumented already");
    return SIO_ERR_INVALID;
  }
  if (!o->username != !o->password_hash) {
    snprintf(err, errlen, "username and password_hash go together");
    return SIO_ERR_INVALID;
  }
  if (o->password_hash && !valid_bcrypt(o->password_hash)) {
    snprintf(err, errlen, "the `password` field must be a valid bcrypt hash");
    return SIO_ERR_INVALID;
  }
  sio_admin *a = calloc(1, sizeof *a);
  if (!a) return SIO_ERR_NOMEM;
  a->srv = srv;
  a->readonly = o->readonly;
  a->dev = !o->production;
  a->interval_ms = o->stats_interval_ms ? o->stats_interval_ms : 2000;
  a->start_us = sio_m_now_us();
  a->sh = shared_new();
  sio_map_init(&a->pending_session);
  if (gethostname(a->hostname, sizeof a->hostname - 1) != 0) strcpy(a->hostname, "localhost");
  a->server_id = strdup(o->server_id ? o->server_id : a->hostname);
  a->username = o->username ? strdup(o->username) : NULL;
  a->hash = o->password_hash ? strdup(o->password_hash) : NULL;
  a->features = json_array();
  a->nsp = sio_of(srv, o->namespace_name ? o->namespace_name : "/admin");
  a->timer = event_new(srv->base, -1, EV_PERSIST, stats_cb, a);
  if (!a->server_id || (o->username && (!a->username || !a->hash)) || !a->features ||
      !a->nsp || !a->timer || !a->sh) {
    sio_admin_free(a);
    snprintf(err, errlen, "out of memory");
    return SIO_ERR_NOMEM;
  }
  if (!a->readonly) {
    static const char *const f[] = {"EMIT", "JOIN", "LEAVE", "DISCONNECT",
                                    "MJOIN", "MLEAVE", "MDISCONNECT"};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
      json_array_append_new(a->features, json_string(f[i]));
  }
  json_array_append_new(a->features, json_string("AGGREGATED_EVENTS"));
  if (a->dev) json_array_append_new(a->features, json_string("ALL_EVENTS"));
  /* Several loops: one admin state per loop (before the handlers below,
   * which find it through their socket's replica). */
  if (children_new(a) != 0) {
    sio_admin_free(a);
    snprintf(err, errlen, "out of memory");
    return SIO_ERR_NOMEM;
  }
  if (a->username) sio_use(a->nsp, auth_mw, a);
  sio_on_connection(a->nsp, on_admin_connection, a);
  srv->admin = a;
  struct timeval tv = {a->interval_ms / 1000, (a->interval_ms % 1000) * 1000};
  event_add(a->timer, &tv);
  emit_stats(a);
  return SIO_OK;
}

void sio_admin_stop(sio_admin *a) {
  if (!a) return;
  a->stopped = 1;
  if (a->timer) event_del(a->timer);
}

void sio_admin_free(sio_admin *a) {
  if (!a) return;
  if (a->srv && a->srv->admin == a) a->srv->admin = NULL;
  if (a->timer) event_free(a->timer);
  while (a->fetches) {
    fetch_all *f = a->fetches;
    a->fetches = f->next;
    f->a = NULL; /* freed by its last callback */
  }
  shared_unref(a->sh);
  size_t it;
  for (sio_map_entry *e = sio_map_first(&a->pending_session, &it); e;
       e = sio_map_next(&a->pending_session, e, &it))
    free(e->value);
  sio_map_clear(&a->pending_session);
  for (size_t i = 0; i < a->naggs; i++) free(a->aggs[i].sub);
  free(a->aggs);
  json_decref(a->features);
  json_decref(a->left);
  free(a->server_id);
  free(a->username);
  free(a->hash);
  free(a);
}
