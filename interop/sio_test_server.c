/*
 * Socket.IO test server driven by interop/socketio.test.js; its Node twin
 * interop/sio_ref_server.js has the same handlers, so each test runs
 * against both. usage: sio_test_server '<options JSON>' with Node option
 * names: pingInterval, pingTimeout, connectTimeout, maxHttpBufferSize,
 * connectionStateRecovery (bool), sioParser ("msgpack"), allowRequestDelay
 * (ms: an allowRequest answering later, refusing when the query has deny).
 * stdout: one JSON line per event (listening, connection, disconnecting,
 * disconnect, error).
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio/admin.h"
#include "sio/metrics.h"
#include "sio/redis.h"
#include "sio/socketio.h"
#include "test_opts.h"

static struct event_base *base;
static sio_server *srv;
static char server_name[64] = "c";

/* The base of the loop running this handler (with SIO_WORKERS > 1 each
 * loop has its own; a timer for a socket must run on the socket's loop). */
static struct event_base *here(void) {
  eio_server *e = srv ? eio_server_current(sio_server_engine(srv)) : NULL;
  return e ? eio_server_base(e) : base;
}

/* Rooms of a socket as a sorted JSON array. */
static int cmp_json_str(const void *a, const void *b) {
  return strcmp(json_string_value(*(json_t *const *)a),
                json_string_value(*(json_t *const *)b));
}
static void on_redis_error(void *ud, const char *reason) {
  (void)ud;
  topt_line(json_pack("{s:s, s:s}", "event", "redis-error", "message", reason));
}

static json_t *sorted(json_t *arr) {
  size_t n = json_array_size(arr);
  json_t **v = malloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = json_array_get(arr, i);
  qsort(v, n, sizeof *v, cmp_json_str);
  json_t *out = json_array();
  for (size_t i = 0; i < n; i++) json_array_append(out, v[i]);
  free(v);
  json_decref(arr);
  return out;
}

static sio_args *one(json_t *v) {
  sio_args *a = sio_args_new();
  sio_args_push(a, v);
  return a;
}

/* args[from..] as a new sio_args (binary carried over). */
static sio_args *rest(sio_args *args, size_t from) {
  sio_args *a = sio_args_copy(args);
  json_t *arr = sio_args_json(a);
  for (size_t i = 0; i < from && json_array_size(arr); i++) json_array_remove(arr, 0);
  return a;
}

static sio_namespace *g_dyn; /* the dynamic parent ^/dyn-[0-9]+$ */

static void ack_or(sio_ack *ack, sio_args *a);

/* "to-dyn": an emit through the dynamic parent (every child namespace). */
static void on_to_dyn(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack, void *ud) {
  (void)s, (void)ev, (void)ud;
  sio_bc_emit(sio_broadcast_new(g_dyn), json_string_value(sio_args_get(args, 0)), rest(args, 1));
  ack_or(ack, sio_args_new());
}

static void ack_or(sio_ack *ack, sio_args *a) {
  if (ack) sio_ack_send(ack, a);
  else sio_args_unref(a);
}

static void on_echo(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                    void *ud) {
  (void)ud;
  if (ack) sio_ack_send(ack, sio_args_ref(args));
  else sio_emit(s, ev, sio_args_ref(args));
}

static void on_try_emit(sio_socket *s, const char *ev, sio_args *args,
                        sio_ack *ack, void *ud) {
  (void)ev;
  (void)ud;
  int r = sio_emit(s, json_string_value(sio_args_get(args, 0)), NULL);
  ack_or(ack, one(json_pack("{s:b}", "ok", r == SIO_OK)));
}

/* [v0, v1, ...] of src as a JSON array of out (binaries carried). */
static json_t *import_all(sio_args *out, sio_args *src) {
  json_t *arr = json_array();
  for (size_t i = 0; i < sio_args_count(src); i++)
    json_array_append_new(arr, sio_args_import(out, src, sio_args_get(src, i)));
  return arr;
}

static void server_ack_done(sio_socket *s, int err, sio_args *args, void *ud) {
  (void)s;
  sio_ack *ack = ud;
  if (err == SIO_ERR_CLOSED) { /* the socket went: answering only frees it */
    sio_ack_send(ack, NULL);
    return;
  }
  sio_args *out = sio_args_new();
  if (err)
    sio_args_push(out, json_pack("{s:s}", "err", "operation has timed out"));
  else
    sio_args_push(out, json_pack("{s:n,s:o}", "err", "args", import_all(out, args)));
  sio_ack_send(ack, out);
}

static void on_request_ack(sio_socket *s, const char *ev, sio_args *args,
                           sio_ack *ack, void *ud) {
  (void)ev;
  (void)ud;
  unsigned t = (unsigned)json_integer_value(sio_args_get(args, 0));
  sio_ack_keep(ack); /* answered from server_ack_done, maybe after the socket went */
  sio_emit_with_ack(s, "server-ack", rest(args, 1), t, server_ack_done, ack);
}

static void on_join(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                    void *ud) {
  (void)ud;
  const char *room = json_string_value(sio_args_get(args, 0));
  if (strcmp(ev, "join") == 0) sio_join(s, room);
  else sio_leave(s, room);
  ack_or(ack, one(sorted(sio_socket_rooms(s))));
}

static sio_broadcast *targets(sio_namespace *nsp, sio_broadcast *b, json_t *o) {
  size_t i;
  json_t *v;
  if (!b) b = sio_broadcast_new(nsp);
  json_array_foreach(json_object_get(o, "rooms"), i, v) sio_bc_to(b, json_string_value(v));
  json_array_foreach(json_object_get(o, "except"), i, v) sio_bc_except(b, json_string_value(v));
  if (json_is_true(json_object_get(o, "volatile"))) sio_bc_volatile(b);
  if (json_is_true(json_object_get(o, "local"))) sio_bc_local(b);
  if (json_is_false(json_object_get(o, "compress"))) sio_bc_compress(b, 0);
  if (json_object_get(o, "timeout"))
    sio_bc_timeout(b, (unsigned)json_integer_value(json_object_get(o, "timeout")));
  return b;
}

static void on_to(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                  void *ud) {
  (void)ev;
  (void)ud;
  sio_broadcast *b = targets(sio_socket_namespace(s), NULL, sio_args_get(args, 0));
  sio_bc_emit(b, json_string_value(sio_args_get(args, 1)), rest(args, 2));
  ack_or(ack, sio_args_new());
}

static void on_broadcast(sio_socket *s, const char *ev, sio_args *args,
                         sio_ack *ack, void *ud) {
  (void)ev;
  (void)ud;
  sio_broadcast *b = targets(sio_socket_namespace(s), sio_socket_broadcast(s),
                             sio_args_get(args, 0));
  sio_bc_emit(b, json_string_value(sio_args_get(args, 1)), rest(args, 2));
  ack_or(ack, sio_args_new());
}

static void bc_ack_done(int err, sio_args *responses, void *ud) {
  sio_ack *ack = ud;
  sio_args *out = sio_args_new();
  sio_args_push(out, json_pack("{s:s?,s:o}", "err",
                               err ? "operation has timed out" : NULL, "responses",
                               import_all(out, responses)));
  sio_ack_send(ack, out);
}

static void on_broadcast_ack(sio_socket *s, const char *ev, sio_args *args,
                             sio_ack *ack, void *ud) {
  (void)ev;
  (void)ud;
  sio_broadcast *b = targets(sio_socket_namespace(s), NULL, sio_args_get(args, 0));
  sio_ack_keep(ack);
  sio_bc_emit_with_ack(b, json_string_value(sio_args_get(args, 1)), rest(args, 2),
                       bc_ack_done, ack);
}

static int cmp_by_id(const void *a, const void *b) {
  return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
                json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

static void fetch_done(int err, json_t *sockets, void *ud) {
  (void)err;
  sio_ack *ack = ud;
  size_t n = json_array_size(sockets);
  json_t **v = malloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = json_array_get(sockets, i);
  qsort(v, n, sizeof *v, cmp_by_id);
  json_t *out = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(out, json_pack("{s:O,s:o,s:O,s:O}", "id", json_object_get(v[i], "id"),
                                         "rooms", sorted(json_deep_copy(json_object_get(v[i], "rooms"))),
                                         "data", json_object_get(v[i], "data"),
                                         "handshake", json_object_get(v[i], "handshake")));
  free(v);
  json_decref(sockets);
  sio_ack_send(ack, one(out));
}

static void on_utility(sio_socket *s, const char *ev, sio_args *args,
                       sio_ack *ack, void *ud) {
  (void)ud;
  sio_broadcast *b = targets(sio_socket_namespace(s), NULL, sio_args_get(args, 0));
  const char *room = json_string_value(sio_args_get(args, 1));
  if (!strcmp(ev, "fetch")) {
    sio_ack_keep(ack); /* fetch_done answers, maybe after the socket went */
    sio_bc_fetch_sockets(b, fetch_done, ack);
    return;
  }
  if (!strcmp(ev, "sockets-join")) sio_bc_sockets_join(b, room);
  else if (!strcmp(ev, "sockets-leave")) sio_bc_sockets_leave(b, room);
  else sio_bc_disconnect_sockets(b, json_is_true(sio_args_get(args, 1)));
  ack_or(ack, sio_args_new());
}

/* io.of("/").adapter.serverCount() */
static void count_done(void *ud, size_t n) { sio_ack_send(ud, one(json_integer((json_int_t)n))); }
static void on_server_count(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                            void *ud) {
  (void)ev;
  (void)args;
  (void)ud;
  if (ack) sio_server_count(sio_socket_namespace(s), count_done, ack);
}

/* "loop": the index of the event loop serving this socket (0 with one
 * loop; the Node twin answers 0), so tests can see clients spread. */
static void on_loop(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack, void *ud) {
  (void)s, (void)ev, (void)args, (void)ud;
  eio_server *e = eio_server_current(sio_server_engine(srv));
  ack_or(ack, one(json_integer(e ? (json_int_t)eio_server_worker_index(e) : -1)));
}

static void on_set_data(sio_socket *s, const char *ev, sio_args *args,
                        sio_ack *ack, void *ud) {
  (void)ev;
  (void)ud;
  sio_socket_set_data(s, json_deep_copy(sio_args_get(args, 0)));
  ack_or(ack, sio_args_new());
}

static void on_disconnect_me(sio_socket *s, const char *ev, sio_args *args,
                             sio_ack *ack, void *ud) {
  (void)ev;
  (void)ud;
  (void)ack;
  sio_disconnect(s, json_is_true(sio_args_get(args, 0)));
}

static void on_handshake(sio_socket *s, const char *ev, sio_args *args,
                         sio_ack *ack, void *ud) {
  (void)ev;
  (void)args;
  (void)ud;
  const json_t *h = sio_socket_handshake(s);
  json_t *headers = json_object_get(h, "headers");
  ack_or(ack, one(json_pack(
      "{s:O,s:O,s:O,s:O,s:O,s:O,s:b,s:b,s:b,s:b}", "auth", json_object_get(h, "auth"),
      "query", json_object_get(h, "query"), "url", json_object_get(h, "url"),
      "address", json_object_get(h, "address"), "xdomain", json_object_get(h, "xdomain"),
      "secure", json_object_get(h, "secure"), "hasHost",
      json_is_string(json_object_get(headers, "host")), "issuedIsNumber",
      json_is_number(json_object_get(h, "issued")), "timeIsString",
      json_is_string(json_object_get(h, "time")), "recovered", sio_socket_recovered(s))));
}

static void on_server_side_emit(sio_socket *s, const char *ev, sio_args *args,
                                sio_ack *ack, void *ud) {
  (void)ev;
  (void)args;
  (void)ud;
  int ok = sio_server_side_emit(sio_socket_namespace(s), "x", NULL) == SIO_OK;
  int refused = sio_server_side_emit(sio_socket_namespace(s), "connection", NULL) ==
                SIO_ERR_RESERVED;
  ack_or(ack, one(json_pack("{s:b,s:b}", "ok", ok, "reservedRefused", refused)));
}

/* serverSideEmit from other servers: io.on("sse", (...args, cb) => ...) */
static void on_sse(sio_namespace *nsp, const char *ev, sio_args *args, sio_ack *ack,
                   void *ud) {
  (void)nsp;
  (void)ud;
  topt_line(json_pack("{s:s,s:s,s:O}", "event", "sse", "name", ev, "args", sio_args_json(args)));
  if (ack) {
    char reply[96];
    snprintf(reply, sizeof reply, "%s-reply", server_name);
    sio_ack_send(ack, one(json_string(reply)));
  }
}

static void sse_done(int err, sio_args *responses, void *ud) {
  sio_ack *ack = ud;
  sio_ack_send(ack, one(json_pack("{s:s?,s:O}", "err", err ? "timeout reached" : NULL,
                                  "responses", sio_args_json(responses))));
}

static void on_sse_send(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                        void *ud) {
  (void)ev;
  (void)ud;
  if (ack) {
    sio_ack_keep(ack);
    sio_server_side_emit_with_ack(sio_socket_namespace(s), "sse", sio_args_copy(args),
                                  sse_done, ack);
  }
  else
    sio_server_side_emit(sio_socket_namespace(s), "sse", sio_args_copy(args));
}

static _Thread_local char last_outgoing[128]; /* per loop: asked on the same socket */
static void on_any_out(sio_socket *s, const char *ev, sio_args *args,
                       sio_ack *ack, void *ud) {
  (void)s;
  (void)args;
  (void)ack;
  (void)ud;
  snprintf(last_outgoing, sizeof last_outgoing, "%s", ev);
}

static void on_last_outgoing(sio_socket *s, const char *ev, sio_args *args,
                             sio_ack *ack, void *ud) {
  (void)s;
  (void)ev;
  (void)args;
  (void)ud;
  ack_or(ack, one(json_string(last_outgoing)));
}

static void on_any(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                   void *ud) {
  (void)ack;
  (void)ud;
  if (!strcmp(ev, "any-probe"))
    sio_emit(s, "any-seen", one(json_pack("[s,i]", ev, (int)sio_args_count(args))));
}

static void packet_mw(sio_socket *s, const char *ev, sio_args *args,
                      sio_next *next, void *ud) {
  (void)s;
  (void)args;
  (void)ud;
  if (!strcmp(ev, "forbidden"))
    sio_next_error(next, "forbidden event", json_pack("{s:s}", "why", "test"));
  else
    sio_next_ok(next);
}

static void on_error(sio_socket *s, const char *message, const json_t *data,
                     void *ud) {
  (void)ud;
  topt_line(json_pack("{s:s,s:s,s:s,s:s}", "event", "error", "nsp",
                 sio_namespace_name(sio_socket_namespace(s)), "id", sio_socket_id(s),
                 "message", message));
  if (sio_socket_connected(s))
    sio_emit(s, "middleware-error", one(json_pack("{s:s,s:O?}", "message", message,
                                                  "data", (json_t *)data)));
}

static void on_disconnecting(sio_socket *s, const char *reason, void *ud) {
  (void)ud;
  topt_line(json_pack("{s:s,s:s,s:s,s:s,s:o}", "event", "disconnecting", "nsp",
                 sio_namespace_name(sio_socket_namespace(s)), "id", sio_socket_id(s),
                 "reason", reason, "rooms", sorted(sio_socket_rooms(s))));
}

static void on_disconnect(sio_socket *s, const char *reason, void *ud) {
  (void)ud;
  topt_line(json_pack("{s:s,s:s,s:s,s:s}", "event", "disconnect", "nsp",
                 sio_namespace_name(sio_socket_namespace(s)), "id", sio_socket_id(s),
                 "reason", reason));
}

static void common(sio_socket *s) {
  sio_socket_on_disconnecting(s, on_disconnecting, NULL);
  sio_socket_on_disconnect(s, on_disconnect, NULL);
  sio_socket_on_error(s, on_error, NULL);
  sio_socket_on(s, "echo", on_echo, NULL);
  topt_line(json_pack("{s:s,s:s,s:s,s:b,s:O}", "event", "connection", "nsp",
                 sio_namespace_name(sio_socket_namespace(s)), "id", sio_socket_id(s),
                 "recovered", sio_socket_recovered(s), "auth",
                 json_object_get(sio_socket_handshake(s), "auth")));
}

static void on_main_connection(sio_socket *s, void *ud) {
  (void)ud;
  common(s);
  sio_socket_use(s, packet_mw, NULL);
  sio_socket_on_any(s, on_any, NULL);
  sio_socket_on_any_outgoing(s, on_any_out, NULL);
  sio_socket_on(s, "try-emit", on_try_emit, NULL);
  sio_socket_on(s, "request-ack", on_request_ack, NULL);
  sio_socket_on(s, "join", on_join, NULL);
  sio_socket_on(s, "leave", on_join, NULL);
  sio_socket_on(s, "to", on_to, NULL);
  sio_socket_on(s, "broadcast", on_broadcast, NULL);
  sio_socket_on(s, "broadcast-ack", on_broadcast_ack, NULL);
  sio_socket_on(s, "fetch", on_utility, NULL);
  sio_socket_on(s, "server-count", on_server_count, NULL);
  sio_socket_on(s, "sockets-join", on_utility, NULL);
  sio_socket_on(s, "sockets-leave", on_utility, NULL);
  sio_socket_on(s, "disconnect-sockets", on_utility, NULL);
  sio_socket_on(s, "set-data", on_set_data, NULL);
  sio_socket_on(s, "loop", on_loop, NULL);
  sio_socket_on(s, "to-dyn", on_to_dyn, NULL);
  sio_socket_on(s, "disconnect-me", on_disconnect_me, NULL);
  sio_socket_on(s, "handshake", on_handshake, NULL);
  sio_socket_on(s, "server-side-emit", on_server_side_emit, NULL);
  sio_socket_on(s, "last-outgoing", on_last_outgoing, NULL);
  sio_socket_on(s, "sse-send", on_sse_send, NULL);
  sio_emit(s, "auth", one(json_deep_copy(json_object_get(sio_socket_handshake(s), "auth"))));
}

static void on_hello_connection(sio_socket *s, void *ud) {
  (void)ud;
  common(s);
  sio_emit(s, "hello", one(json_string(sio_namespace_name(sio_socket_namespace(s)))));
}

static void auth_mw(sio_socket *s, sio_next *next, void *ud) {
  (void)ud;
  const char *token = json_string_value(
      json_object_get(json_object_get(sio_socket_handshake(s), "auth"), "token"));
  if (token && !strcmp(token, "secret")) sio_next_ok(next);
  else if (token && !strcmp(token, "nodata")) sio_next_error(next, "Not authorized", NULL);
  else sio_next_error(next, "Not authorized", json_pack("{s:s}", "reason", "bad token"));
}

static void slow_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  sio_next_ok(arg);
}

static void slow_mw(sio_socket *s, sio_next *next, void *ud) {
  (void)s;
  (void)ud;
  struct timeval tv = {0, 50000};
  event_base_once(here(), -1, EV_TIMEOUT, slow_cb, next, &tv);
}

static void deny_later_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  sio_next_error(arg, "Not authorized later", json_pack("{s:b}", "later", 1));
}

static void slow_deny_mw(sio_socket *s, sio_next *next, void *ud) {
  (void)s;
  (void)ud;
  struct timeval tv = {0, 50000};
  event_base_once(here(), -1, EV_TIMEOUT, deny_later_cb, next, &tv);
}

static void slower_mw(sio_socket *s, sio_next *next, void *ud) {
  (void)s;
  (void)ud;
  struct timeval tv = {0, 600000};
  event_base_once(here(), -1, EV_TIMEOUT, slow_cb, next, &tv);
}

/* allowRequest: (req, cb) => setTimeout(() => cb(deny ? "denied later" :
 * null, !deny), allowRequestDelay), deny when the query has deny=1. */
static unsigned allow_delay_ms;
typedef struct allow_ctx {
  eio_allow *allow;
  int deny;
} allow_ctx;

static void allow_later_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  allow_ctx x = *(allow_ctx *)arg;
  free(arg);
  if (x.deny) eio_allow_refuse(x.allow, "denied later");
  else eio_allow_accept(x.allow);
}

static void allow_async(const eio_request *req, eio_allow *a, void *ud) {
  (void)ud;
  char v[8];
  allow_ctx *x = malloc(sizeof *x);
  if (!x) {
    eio_allow_refuse(a, NULL);
    return;
  }
  x->allow = a;
  x->deny = eio_request_query(req, "deny", v, sizeof v) != -1;
  struct timeval tv = {allow_delay_ms / 1000, (allow_delay_ms % 1000) * 1000};
  event_base_once(here(), -1, EV_TIMEOUT, allow_later_cb, x, &tv);
}

/* io.of((name, auth, next) => next(null, name.startsWith("/fn-") && auth.ok)) */
static int match_fn(const char *name, const json_t *auth, void *ud) {
  (void)ud;
  return strncmp(name, "/fn-", 4) == 0 && json_is_true(json_object_get(auth, "ok"));
}

static void on_signal(void *arg) {
  (void)arg;
  sio_server_close(srv);
}

/* cors: true -> {origin: true, credentials: true}; admin: {username,
 * passwordHash, serverId, readonly, mode} -> instrument(); metrics: path. */
static int allow_any_origin(const char *origin, void *ud) {
  (void)origin, (void)ud;
  return 1;
}

static int ops_setup(sio_server *s, json_t *cfg) {
  json_t *a = json_object_get(cfg, "admin");
  char err[256];
  if (a) {
    sio_admin_options ao;
    sio_admin_options_init(&ao);
    ao.username = json_string_value(json_object_get(a, "username"));
    ao.password_hash = json_string_value(json_object_get(a, "passwordHash"));
    ao.server_id = json_string_value(json_object_get(a, "serverId"));
    ao.readonly = json_is_true(json_object_get(a, "readonly"));
    const char *mode = json_string_value(json_object_get(a, "mode"));
    ao.production = mode && !strcmp(mode, "production");
    if (sio_admin_instrument(s, &ao, err, sizeof err) != SIO_OK) {
      fprintf(stderr, "admin: %s\n", err);
      return -1;
    }
  }
  const char *m = json_string_value(json_object_get(cfg, "metrics"));
  if (m && sio_server_serve_metrics(s, m) != SIO_OK) return -1;
  return 0;
}

int main(int argc, char **argv) {
  json_t *cfg = topt_load(argc, argv);
  if (!cfg) return 2;
  sio_options o;
  sio_options_init(&o);
  json_t *v;
  const topt_num nums[] = {
      {"pingInterval", TOPT_UINT, &o.eio.ping_interval_ms},
      {"pingTimeout", TOPT_UINT, &o.eio.ping_timeout_ms},
      {"maxHttpBufferSize", TOPT_SIZE, &o.eio.max_http_buffer_size},
      {"connectTimeout", TOPT_UINT, &o.connect_timeout_ms},
      {"maxDisconnectionDuration", TOPT_UINT, &o.recovery_max_disconnection_ms},
      {"aloneWaitMs", TOPT_INT, &o.eio.alone_wait_ms},
  };
  topt_nums(cfg, nums, sizeof nums / sizeof nums[0]);
  if (json_is_true(json_object_get(cfg, "connectionStateRecovery"))) o.recovery = 1;
  static eio_per_message_deflate pmd; /* perMessageDeflate: true (Node's defaults) */
  if (json_is_true(json_object_get(cfg, "perMessageDeflate"))) {
    eio_per_message_deflate_init(&pmd);
    o.eio.per_message_deflate = &pmd;
  }
  if (json_is_false(json_object_get(cfg, "httpCompression"))) o.eio.http_compression = 0;
  if (json_is_true(json_object_get(cfg, "allowEIO3"))) o.eio.allow_eio3 = 1;
  if ((v = json_object_get(cfg, "allowRequestDelay"))) {
    allow_delay_ms = (unsigned)json_integer_value(v);
    o.eio.allow_request_async = allow_async;
  }
  const char *parser_name = json_string_value(json_object_get(cfg, "sioParser"));
  if (parser_name && !strcmp(parser_name, "msgpack")) o.parser = &sio_parser_msgpack;
  if (json_object_get(cfg, "name")) topt_str(cfg, "name", server_name, sizeof server_name);
  static char redis_url[512];
  topt_str(cfg, "redis", redis_url, sizeof redis_url);
  unsigned requests_timeout = (unsigned)json_integer_value(json_object_get(cfg, "requestsTimeout"));
  json_t *cfg_keep = json_incref(cfg);
  static eio_tls_options tls;
  if (topt_tls(cfg, &tls)) o.eio.tls = &tls;
  /* serveClient is on by default in Node: serve the same bundle here. */
  static char client_dir[4096];
  topt_str(cfg, "clientDir", client_dir, sizeof client_dir);
  if (client_dir[0]) o.serve_client_dir = client_dir;
  static const eio_cors any_origin = {.origin_fn = allow_any_origin, .credentials = 1, .max_age = -1};
  if (json_is_true(json_object_get(cfg, "cors"))) o.eio.cors = &any_origin;
  json_decref(cfg);

  int status = topt_sio_start(&base, &srv, &o);
  if (status) return status;
  /* redisCluster: seed URLs of a Redis Cluster */
  static char seed_buf[8][512];
  static const char *seeds[8];
  size_t n_seeds = 0;
  json_t *rc_seeds = json_object_get(cfg_keep, "redisCluster");
  for (size_t i = 0; i < json_array_size(rc_seeds) && n_seeds < 8; i++) {
    const char *seed = json_string_value(json_array_get(rc_seeds, i));
    snprintf(seed_buf[n_seeds], sizeof seed_buf[0], "%s", seed ? seed : "");
    seeds[n_seeds] = seed_buf[n_seeds];
    n_seeds++;
  }
  if (redis_url[0] || n_seeds) {
    sio_redis_options ro;
    sio_redis_options_init(&ro);
    ro.url = redis_url[0] ? redis_url : NULL;
    ro.cluster_nodes = n_seeds ? seeds : NULL;
    ro.n_cluster_nodes = n_seeds;
    if ((v = json_object_get(cfg_keep, "redisNodeTimeout"))) ro.cluster_node_timeout_ms = (unsigned)json_integer_value(v);
    /* redisMode: "single", "cluster" or "detect" (default: by the keys given) */
    const char *rmode = json_string_value(json_object_get(cfg_keep, "redisMode"));
    if (rmode && !strcmp(rmode, "single")) ro.cluster_mode = SIO_REDIS_MODE_SINGLE;
    else if (rmode && !strcmp(rmode, "cluster")) ro.cluster_mode = SIO_REDIS_MODE_CLUSTER;
    else if (rmode && !strcmp(rmode, "detect")) ro.cluster_mode = SIO_REDIS_MODE_DETECT;
    if (requests_timeout) ro.requests_timeout_ms = requests_timeout;
    const char *parser = json_string_value(json_object_get(cfg_keep, "parser"));
    ro.json_parser = parser && !strcmp(parser, "json");
    ro.publish_on_specific_response_channel = json_is_true(json_object_get(cfg_keep, "specificResponse"));
    static char mode[32];
    if (json_is_true(json_object_get(cfg_keep, "sharded"))) {
      ro.sharded = 1;
      if (!*topt_str(cfg_keep, "subscriptionMode", mode, sizeof mode))
        snprintf(mode, sizeof mode, "dynamic");
      ro.subscription_mode = mode;
    }
    /* adapter: "streams" with Node's option names */
    const char *adapter = json_string_value(json_object_get(cfg_keep, "adapter"));
    static char stream_name[128], channel_prefix[128], session_prefix[128];
    if (adapter && !strcmp(adapter, "streams")) {
      ro.streams = 1;
      const char *sv;
      if ((sv = json_string_value(json_object_get(cfg_keep, "streamName"))))
        ro.stream_name = strncpy(stream_name, sv, sizeof stream_name - 1);
      if ((sv = json_string_value(json_object_get(cfg_keep, "channelPrefix"))))
        ro.channel_prefix = strncpy(channel_prefix, sv, sizeof channel_prefix - 1);
      if ((sv = json_string_value(json_object_get(cfg_keep, "sessionKeyPrefix"))))
        ro.session_key_prefix = strncpy(session_prefix, sv, sizeof session_prefix - 1);
      ro.stream_count = (unsigned)json_integer_value(json_object_get(cfg_keep, "streamCount"));
      ro.max_len = (unsigned)json_integer_value(json_object_get(cfg_keep, "maxLen"));
      ro.read_count = (unsigned)json_integer_value(json_object_get(cfg_keep, "readCount"));
      ro.block_time_ms = (unsigned)json_integer_value(json_object_get(cfg_keep, "blockTimeInMs"));
      ro.use_sharded_pubsub = json_is_true(json_object_get(cfg_keep, "useShardedPubSub"));
      sv = json_string_value(json_object_get(cfg_keep, "streamsVersion"));
      ro.streams_v02 = sv && !strcmp(sv, "0.2");
    }
    /* redisTls: {ca, cert, key, serverName} (files), as the Node twin's */
    static char tls_f[4][4096];
    json_t *rt = json_object_get(cfg_keep, "redisTls");
    const char **tls_o[4] = {&ro.tls_ca_file, &ro.tls_cert_file, &ro.tls_key_file, &ro.tls_server_name};
    const char *tls_k[4] = {"ca", "cert", "key", "serverName"};
    for (int i = 0; rt && i < 4; i++)
      if (json_string_value(json_object_get(rt, tls_k[i]))) {
        snprintf(tls_f[i], sizeof tls_f[i], "%s", json_string_value(json_object_get(rt, tls_k[i])));
        *tls_o[i] = tls_f[i];
      }
    ro.on_error = on_redis_error;
    char err[256];
    if (sio_server_use_redis(srv, &ro, err, sizeof err) != SIO_OK) {
      fprintf(stderr, "cannot use Redis: %s\n", err);
      return 1;
    }
  }
  if (ops_setup(srv, cfg_keep) != 0) return 1;
  json_decref(cfg_keep);
  sio_on_connection(sio_of(srv, "/"), on_main_connection, NULL);
  sio_on_server_side(sio_of(srv, "/"), "sse", on_sse, NULL);
  sio_on_connection(sio_of(srv, "/custom"), on_hello_connection, NULL);
  sio_namespace *auth = sio_of(srv, "/auth");
  sio_use(auth, auth_mw, NULL);
  sio_on_connection(auth, on_hello_connection, NULL);
  sio_namespace *slow = sio_of(srv, "slow"); /* normalised to "/slow" */
  sio_use(slow, slow_mw, NULL);
  sio_on_connection(slow, on_hello_connection, NULL);
  sio_namespace *slow_deny = sio_of(srv, "/slow-deny");
  sio_use(slow_deny, slow_deny_mw, NULL);
  sio_on_connection(slow_deny, on_hello_connection, NULL);
  sio_namespace *slower = sio_of(srv, "/slower");
  sio_use(slower, slower_mw, NULL);
  sio_on_connection(slower, on_hello_connection, NULL);
  sio_namespace *dyn = sio_of_regex(srv, "^/dyn-[0-9]+$");
  g_dyn = dyn;
  sio_on_connection(dyn, on_hello_connection, NULL);
  sio_on_connection(sio_of_match(srv, match_fn, NULL), on_hello_connection, NULL);

  topt_signals(base, on_signal, NULL);
  topt_line(json_pack("{s:s,s:i}", "event", "listening", "port", sio_server_port(srv)));
  event_base_dispatch(base);
  sio_server_free(srv);
  topt_signals_free();
  event_base_free(base);
  libevent_global_shutdown();
  return 0;
}
