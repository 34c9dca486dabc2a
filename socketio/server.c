/*
 * The Socket.IO v5 server: one sio_client per Engine.IO session, one
 * sio_socket per (client, namespace), namespaces with their middlewares
 * and adapter, events and acknowledgements both ways.
 * Reference behaviour: Node socket.io 4.8 (../shared/spec/socketio-v5.md).
 *
 * Memory: sockets and clients are reference-counted; a handler may
 * disconnect its own socket or close the client, and the objects are freed
 * only once the stack that uses them has unwound.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "http.h" /* the query-string decoder of the layer below */
#include "hooks.h"
#include "recovery.h"
#include "serve.h"
#include "sio/log.h"
#include "sio/redis.h"
#include "redis_adapter.h"
#include "redis_streams.h"

static int http_request(const eio_request *req, eio_http_response *res, void *ud);

/* ------------------------------------------------------------- options */

void sio_options_init(sio_options *o) {
  memset(o, 0, sizeof *o);
  eio_options_init(&o->eio);
  o->eio.path = "/socket.io/";
  o->connect_timeout_ms = 45000;
  o->max_attachments = 10;
  o->max_namespace_length = 1024;
  o->recovery_max_disconnection_ms = 120000;
  o->recovery_skip_middlewares = 1;
}

/* ------------------------------------------------------ packet output */

/* Encodes msg with the server's parser, once: every later recipient
 * shares the same buffers. */
int sio_msg_encode(sio_msg *msg, const sio_parser *parser) {
  if (msg->enc_text || msg->enc_natt) return 0;
  sio_packet p = {msg->type, (char *)msg->nsp, msg->id, msg->data, 0,
                  msg->bins, msg->nbins};
  sio_encoded e = {0};
  if (parser->encode(parser, &p, &e) != 0 || !e.head) {
    sio_encoded_clear(&e);
    return -1;
  }
  /* The cache holds an optional text message, then binary ones: a binary
   * head (msgpack) becomes the first of them. */
  if (e.head_binary) {
    sio_buf **v = realloc(e.att, (e.natt + 1) * sizeof *v);
    if (!v) {
      sio_encoded_clear(&e);
      return -1;
    }
    memmove(v + 1, v, e.natt * sizeof *v);
    v[0] = e.head;
    msg->enc_att = v;
    msg->enc_natt = e.natt + 1;
  } else {
    msg->enc_text = e.head;
    msg->enc_att = e.att;
    msg->enc_natt = e.natt;
  }
  return 0;
}

/* Node's client.writeToEngine: the encoded packet (shared buffers) and its
 * attachments; volatile packets are dropped while the transport cannot
 * take them. Returns 1 when written. */
int sio_client_write(sio_client *c, sio_msg *msg, unsigned flags) {
  if (!c->conn || c->closed) return 0;
  if ((flags & SIO_BC_VOLATILE) && !eio_socket_writable(c->conn)) return 0;
  if (sio_msg_encode(msg, c->srv->o.parser) != 0) return 0;
  unsigned ef = flags & SIO_BC_COMPRESS_OFF ? EIO_SEND_NO_COMPRESS : 0;
  unsigned alone = (flags & SIO_WRITE_ALONE) ? EIO_SEND_ALONE : 0;
  int ok = 1;
  /* An output limit may close the client during a send: keep it alive. */
  c->refs++;
  /* A parser may encode a packet as binary messages only (msgpack). */
  if (msg->enc_text) {
    if (eio_socket_send_buf_flags(c->conn, msg->enc_text, 0,
                                  ef | (msg->enc_natt ? 0 : alone)) == EIO_OK)
      sio_hook_packet_out(c, sio_buf_len(msg->enc_text));
    else
      ok = 0;
  }
  for (size_t i = 0; ok && i < msg->enc_natt && c->conn; i++) {
    if (eio_socket_send_buf_flags(c->conn, msg->enc_att[i], 1,
                                  ef | (i + 1 == msg->enc_natt ? alone : 0)) == EIO_OK)
      sio_hook_packet_out(c, sio_buf_len(msg->enc_att[i]));
    else if (i == 0 && !msg->enc_text)
      ok = 0;
  }
  sio_client_unref(c);
  return ok;
  return 1;
}

/* Sends one packet to one client (not through the adapter). */
int sio_send_packet(sio_client *c, int type, const char *nsp, long long id,
                       json_t *data, const sio_args *args, unsigned flags) {
  sio_msg m = {type, nsp, data, args ? args->bins : NULL,
               args ? args->nbins : 0, id, NULL, NULL, 0};
  int r = sio_client_write(c, &m, flags);
  sio_msg_release(&m);
  return r;
}

/* ---------------------------------------------------------- namespaces */

static int host_deliver(void *ctx, const char *sid, sio_msg *msg,
                        unsigned flags, void *ack) {
  sio_namespace *nsp = ctx;
  sio_socket *s = sio_map_get(&nsp->sockets, sid);
  if (!s || s->state != SOCK_CONNECTED) return 0;
  if (ack) {
    pending_ack *a = calloc(1, sizeof *a);
    if (!a) return 0;
    a->id = msg->id;
    a->bc = sio_bc_ack_ref(ack);
    sio_socket_add_ack(s, a);
  }
  sio_socket_notify_outgoing(s, msg);
  int w = s->client ? sio_client_write(s->client, msg, flags) : 0;
  sio_m.broadcast_deliveries += (uint64_t)w;
  return w;
}

static json_t *host_describe(void *ctx, const char *sid) {
  sio_namespace *nsp = ctx;
  sio_socket *s = sio_map_get(&nsp->sockets, sid);
  if (!s) return NULL;
  const json_t *h = sio_socket_handshake(s);
  return json_pack("{s:s,s:O,s:o,s:O}", "id", s->id, "handshake",
                   h ? (json_t *)h : json_null(),
                   "rooms", sio_socket_rooms(s), "data", sio_socket_data(s));
}

static void host_disconnect(void *ctx, const char *sid, int close) {
  sio_namespace *nsp = ctx;
  sio_socket *s = sio_map_get(&nsp->sockets, sid);
  if (s) sio_disconnect(s, close);
}

static void *host_ack_ref(void *ack) { return sio_bc_ack_ref(ack); }
static void host_ack_unref(void *ack) { sio_bc_ack_unref(ack); }

static void host_ack_remote(void *ack, const json_t *value, sio_buf *const *bins,
                            size_t nbins) {
  sio_args *a = sio_args_wrap(json_pack("[O]", value), bins, nbins);
  if (a) {
    sio_bc_ack_response(ack, a);
    sio_args_unref(a);
  }
}

static void *host_ack_relay(void *ctx, void (*fn)(void *, const json_t *, sio_buf *const *, size_t),
                            void *ud, void (*ud_free)(void *), unsigned timeout_ms) {
  (void)ctx;
  (void)timeout_ms; /* sockets drop their pending ack when they go */
  bc_ack *k = calloc(1, sizeof *k);
  if (!k) {
    ud_free(ud);
    return NULL;
  }
  k->refs = 1;
  k->relay = fn;
  k->relay_ud = ud;
  k->relay_free = ud_free;
  k->done = 1; /* never completes: each answer is relayed */
  return k;
}

typedef struct ss_handler {
  struct ss_handler *next;
  char *event;
  sio_server_side_fn fn;
  void *ud;
} ss_handler;

/* Acks handed to server-side handlers and not answered yet, per
 * namespace: released (without an answer) when the server goes. */
typedef struct ss_ack_list {
  sio_ack *head;
} ss_ack_list;

void sio_on_server_side(sio_namespace *nsp, const char *event,
                        sio_server_side_fn fn, void *ud) {
  ss_handler *h = calloc(1, sizeof *h);
  if (!h || !(h->event = strdup(event))) {
    free(h);
    return;
  }
  h->fn = fn;
  h->ud = ud;
  ss_handler **pp = &nsp->ss;
  while (*pp) pp = &(*pp)->next;
  *pp = h;
}

void sio_server_count(sio_namespace *nsp, sio_server_count_fn cb, void *ud) {
  nsp->adapter->ops->server_count(nsp->adapter, cb, ud);
}

static sio_ack *ss_acks_of(sio_namespace *nsp) { return &nsp->ss_acks; }

void sio_nsp_forget_ack(sio_namespace *nsp, sio_ack *ack) {
  for (sio_ack **pp = &ss_acks_of(nsp)->next; *pp; pp = &(*pp)->next)
    if (*pp == ack) {
      *pp = ack->next;
      return;
    }
}

static void host_server_side(void *ctx, const json_t *data, sio_buf *const *bins,
                             size_t nbins,
                             void (*reply)(void *, const json_t *, sio_buf *const *, size_t),
                             void *rctx) {
  sio_namespace *nsp = ctx;
  char nb[40];
  const char *event = sio_event_name(json_array_get(data, 0), nb, sizeof nb);
  json_t *rest = json_array();
  for (size_t i = 1; i < json_array_size(data); i++)
    json_array_append(rest, json_array_get(data, i));
  sio_args *args = sio_args_wrap(rest, bins, nbins);
  sio_ack *ack = NULL;
  int handled = 0;
  if (reply) {
    ack = calloc(1, sizeof *ack);
    if (ack) {
      ack->remote = reply;
      ack->rctx = rctx;
      ack->s = (sio_socket *)nsp; /* the namespace, for bookkeeping */
      ack->next = ss_acks_of(nsp)->next;
      ss_acks_of(nsp)->next = ack;
    }
  }
  for (ss_handler *h = nsp->ss; h && args; h = h->next)
    if (!strcmp(h->event, event)) {
      h->fn(nsp, event, args, ack, h->ud);
      handled = 1;
      break; /* the first handler owns the ack */
    }
  if (reply && (!ack || !handled)) {
    if (ack) {
      sio_nsp_forget_ack(nsp, ack);
      free(ack);
    }
    reply(rctx, NULL, NULL, 0); /* released unanswered */
  }
  sio_args_unref(args);
}

static long long host_next_ack_id(void *ctx) {
  return ((sio_namespace *)ctx)->ids++;
}

static void host_room_changed(void *ctx, const char *sid, const char *room, int joined) {
  sio_namespace *nsp = ctx;
  if (nsp->srv->admin) sio_admin_room(nsp, sid, room, joined);
}

sio_adapter_host sio_nsp_host(sio_namespace *nsp) {
  sio_adapter_host host = {nsp, host_deliver, host_describe, host_disconnect,
                           host_ack_ref, host_ack_unref, host_ack_remote,
                           host_ack_relay, host_next_ack_id, host_server_side,
                           nsp->srv->o.recovery ? nsp->srv->o.recovery_max_disconnection_ms : 0,
                           host_room_changed};
  return host;
}

sio_namespace *sio_nsp_create(sio_server *srv, const char *name) {
  sio_namespace *nsp = calloc(1, sizeof *nsp);
  if (!nsp) return NULL;
  nsp->srv = srv;
  nsp->name = strdup(name);
  sio_map_init(&nsp->sockets);
  sio_adapter_host host = sio_nsp_host(nsp);
  nsp->adapter = srv->adapter_new ? srv->adapter_new(srv->adapter_ud, name, &host)
                                  : sio_memory_adapter_new(&host);
  if (srv->o.recovery) nsp->rec = sio_nsp_recovery_new(nsp);
  if (!nsp->name || !nsp->adapter || (srv->o.recovery && !nsp->rec) ||
      sio_map_put(&srv->nsps, name, nsp) < 0) {
    if (nsp->adapter) nsp->adapter->ops->free(nsp->adapter);
    sio_nsp_recovery_free(nsp->rec);
    free(nsp->name);
    free(nsp);
    return NULL;
  }
  return nsp;
}

void sio_nsp_free(sio_namespace *nsp) {
  while (nsp->ss_acks.next) { /* unanswered server-side acks */
    sio_ack *a = nsp->ss_acks.next;
    nsp->ss_acks.next = a->next;
    a->remote(a->rctx, NULL, NULL, 0);
    free(a);
  }
  while (nsp->ss) {
    ss_handler *h = nsp->ss;
    nsp->ss = h->next;
    free(h->event);
    free(h);
  }
  if (nsp->adapter) nsp->adapter->ops->free(nsp->adapter);
  size_t it;
  for (sio_map_entry *e = sio_map_first(&nsp->sockets, &it); e;
       e = sio_map_next(&nsp->sockets, e, &it))
    sio_sock_unref(e->value);
  sio_map_clear(&nsp->sockets);
  sio_nsp_recovery_free(nsp->rec);
  if (nsp->has_re) regfree(&nsp->re);
  free(nsp->mws);
  free(nsp->conns);
  free(nsp->children);
  free(nsp->name);
  free(nsp);
}

sio_namespace *sio_of(sio_server *srv, const char *name) {
  char *norm = NULL;
  if (name[0] != '/') {
    if (asprintf(&norm, "/%s", name) < 0) return NULL;
    name = norm;
  }
  sio_namespace *nsp = sio_map_get(&srv->nsps, name);
  if (!nsp) nsp = sio_nsp_create(srv, name);
  free(norm);
  return nsp;
}

static sio_namespace *parent_new(sio_server *srv) {
  sio_namespace *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (asprintf(&p->name, "/_%zu", srv->nparents) < 0) {
    free(p);
    return NULL;
  }
  sio_namespace **v = realloc(srv->parents, (srv->nparents + 1) * sizeof *v);
  if (!v) {
    free(p->name);
    free(p);
    return NULL;
  }
  srv->parents = v;
  v[srv->nparents++] = p;
  p->srv = srv;
  p->is_parent = 1;
  sio_map_init(&p->sockets);
  return p;
}

sio_namespace *sio_of_match(sio_server *srv, sio_nsp_match_fn match, void *ud) {
  sio_namespace *p = parent_new(srv);
  if (p) {
    p->match = match;
    p->match_ud = ud;
  }
  return p;
}

sio_namespace *sio_of_regex(sio_server *srv, const char *pattern) {
  regex_t re;
  if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) return NULL;
  sio_namespace *p = parent_new(srv);
  if (!p) {
    regfree(&re);
    return NULL;
  }
  p->re = re;
  p->has_re = 1;
  return p;
}

const char *sio_namespace_name(const sio_namespace *nsp) { return nsp->name; }
sio_server *sio_namespace_server(const sio_namespace *nsp) { return nsp->srv; }

/* -------------------------------------------------------------- server */

sio_server *sio_server_new(struct event_base *base, const sio_options *opts) {
  sio_server *srv = calloc(1, sizeof *srv);
  if (!srv) return NULL;
  srv->base = base;
  if (opts) srv->o = *opts;
  else sio_options_init(&srv->o);
  if (!srv->o.eio.path) srv->o.eio.path = "/socket.io/";
  if (!srv->o.max_attachments) srv->o.max_attachments = 10;
  if (!srv->o.max_namespace_length) srv->o.max_namespace_length = 1024;
  if (!srv->o.parser) srv->o.parser = &sio_parser_default;
  sio_map_init(&srv->nsps);
  srv->empty_auth = json_object();
  srv->eio = eio_server_new(base, &srv->o.eio);
  if (!srv->empty_auth || !srv->eio || !sio_of(srv, "/")) {
    sio_server_free(srv);
    return NULL;
  }
  eio_server_on_connection(srv->eio, sio_on_eio_connection, srv);
  if (srv->o.serve_client_dir) {
    srv->serve = sio_serve_new(srv->o.serve_client_dir, srv->o.eio.path);
    if (!srv->serve) {
      sio_server_free(srv);
      return NULL;
    }
    eio_server_on_request(srv->eio, http_request, srv);
  }
  return srv;
}

static int http_request(const eio_request *req, eio_http_response *res, void *ud) {
  sio_server *srv = ud;
  if (sio_metrics_handle(srv, req, res)) return 1;
  if (srv->serve && sio_serve_handle(srv->serve, req, res)) return 1;
  return srv->on_request ? srv->on_request(req, res, srv->on_request_ud) : 0;
}

void sio_server_on_request(sio_server *srv, eio_request_handler cb, void *ud) {
  srv->on_request = cb;
  srv->on_request_ud = ud;
  eio_server_on_request(srv->eio, http_request, srv);
}

void sio_redis_options_init(sio_redis_options *o) {
  memset(o, 0, sizeof *o);
  o->key = "socket.io";
  o->requests_timeout_ms = 5000;
}

int sio_server_use_redis(sio_server *srv, const sio_redis_options *o, char *err,
                         size_t errlen) {
  void *cl = o && o->streams ? (void *)sio_streams_cluster_new(srv->base, o, err, errlen)
                             : (void *)sio_redis_cluster_new(srv->base, o, err, errlen);
  if (!cl) return SIO_ERR_INVALID;
  if (srv->adapter_free) srv->adapter_free(srv->adapter_ud);
  srv->adapter_new = o->streams ? sio_streams_adapter_new : sio_redis_adapter_new;
  srv->adapter_free = o->streams ? sio_streams_cluster_free : sio_redis_cluster_free;
  srv->adapter_close = o->streams ? sio_streams_cluster_close : sio_redis_cluster_close;
  srv->adapter_ud = cl;
  /* Namespaces made before (the main one) switch now: they have no
   * sockets yet when this is called at start-up. */
  size_t it;
  for (sio_map_entry *e = sio_map_first(&srv->nsps, &it); e;
       e = sio_map_next(&srv->nsps, e, &it)) {
    sio_namespace *nsp = e->value;
    if (nsp->sockets.count) continue;
    sio_adapter_host host = sio_nsp_host(nsp);
    sio_adapter *a = srv->adapter_new(cl, nsp->name, &host);
    if (!a) continue;
    nsp->adapter->ops->free(nsp->adapter);
    nsp->adapter = a;
  }
  return SIO_OK;
}

int sio_server_listen(sio_server *srv, const char *host, uint16_t port) {
  return eio_server_listen(srv->eio, host, port);
}
uint16_t sio_server_port(const sio_server *srv) { return eio_server_port(srv->eio); }
eio_server *sio_server_engine(sio_server *srv) { return srv->eio; }

static void server_close(sio_server *srv, int graceful, unsigned deadline_ms) {
  if (srv->closing) return;
  srv->closing = 1;
  sio_admin_stop(srv->admin);
  /* Node's io.close(): every socket closes "server shutting down", then
   * the engine closes the connections. */
  for (sio_client *c = srv->clients; c; c = c->next)
    while (c->sockets && c->sockets->state == SOCK_CONNECTED)
      sio_socket_onclose(c->sockets, "server shutting down");
  size_t it;
  for (sio_map_entry *e = sio_map_first(&srv->nsps, &it); e;
       e = sio_map_next(&srv->nsps, e, &it))
    sio_nsp_recovery_stop(((sio_namespace *)e->value)->rec);
  if (srv->adapter_close) srv->adapter_close(srv->adapter_ud);
  sio_bc_acks_close(srv); /* after the adapter let go of them */
  if (srv->eio && graceful) eio_server_shutdown(srv->eio, deadline_ms);
  else if (srv->eio) eio_server_close(srv->eio);
}

void sio_server_close(sio_server *srv) { server_close(srv, 0, 0); }

int sio_server_shutdown(sio_server *srv, unsigned deadline_ms) {
  server_close(srv, 1, deadline_ms);
  return SIO_OK;
}

void sio_server_free(sio_server *srv) {
  if (!srv) return;
  sio_server_close(srv);
  if (srv->eio) eio_server_free(srv->eio);
  size_t it;
  for (sio_map_entry *e = sio_map_first(&srv->nsps, &it); e;
       e = sio_map_next(&srv->nsps, e, &it))
    sio_nsp_free(e->value);
  sio_map_clear(&srv->nsps);
  for (size_t i = 0; i < srv->nparents; i++) sio_nsp_free(srv->parents[i]);
  free(srv->parents);
  sio_serve_free(srv->serve);
  if (srv->adapter_free) srv->adapter_free(srv->adapter_ud);
  sio_admin_free(srv->admin);
  free(srv->metrics_path);
  while (srv->orphan_acks) { /* kept and never answered */
    sio_ack *k = srv->orphan_acks;
    srv->orphan_acks = k->next;
    free(k);
  }
  json_decref(srv->empty_auth);
  free(srv);
}
