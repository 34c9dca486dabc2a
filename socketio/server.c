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
#include "replica.h"

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

/* -------------------------------------------------------------- server */

/* One replica: the whole server on one loop. eio is the engine replica of
 * a worker loop (index > 0, owned by replica 0's engine), or NULL: made
 * here (replica 0). */
sio_server *sio_replica_new(struct event_base *base, const sio_options *opts,
                            eio_server *eio, size_t index) {
  sio_server *srv = calloc(1, sizeof *srv);
  if (!srv) return NULL;
  srv->base = base;
  srv->index = index;
  if (opts) srv->o = *opts;
  else sio_options_init(&srv->o);
  if (!srv->o.eio.path) srv->o.eio.path = "/socket.io/";
  if (!srv->o.max_attachments) srv->o.max_attachments = 10;
  if (!srv->o.max_namespace_length) srv->o.max_namespace_length = 1024;
  if (!srv->o.parser) srv->o.parser = &sio_parser_default;
  sio_map_init(&srv->nsps);
  srv->empty_auth = json_object();
  srv->eio = eio ? eio : eio_server_new(base, &srv->o.eio);
  if (!srv->empty_auth || !srv->eio || !sio_of(srv, "/")) {
    sio_replica_free(srv);
    return NULL;
  }
  eio_server_on_connection(srv->eio, sio_on_eio_connection, srv);
  if (srv->o.serve_client_dir) {
    srv->serve = sio_serve_new(srv->o.serve_client_dir, srv->o.eio.path);
    if (!srv->serve) {
      sio_replica_free(srv);
      return NULL;
    }
    eio_server_on_request(srv->eio, http_request, srv);
  }
  return srv;
}

sio_server *sio_server_new(struct event_base *base, const sio_options *opts) {
  sio_server *srv = sio_replica_new(base, opts, NULL, 0);
  size_t n = srv ? eio_server_workers(srv->eio) : 0;
  if (n > 1 && sio_group_new(srv, n) != 0) {
    sio_server_free(srv);
    return NULL;
  }
  return srv;
}

static int http_request(const eio_request *req, eio_http_response *res, void *ud) {
  sio_server *srv = sio_here(ud);
  if (sio_metrics_handle(srv->group ? srv->group->reps[0] : srv, req, res)) return 1;
  if (srv->serve && sio_serve_handle(srv->serve, req, res)) return 1;
  return srv->on_request ? srv->on_request(req, res, srv->on_request_ud) : 0;
}

void sio_on_request_one(sio_server *srv, eio_request_handler cb, void *ud) {
  srv->on_request = cb;
  srv->on_request_ud = ud;
  /* The engine's handler is set on every loop at once, from replica 0's
   * thread; http_request finds the loop's replica. */
  if (srv->index == 0) eio_server_on_request(srv->eio, http_request, srv);
}

void sio_server_on_request(sio_server *srv, eio_request_handler cb, void *ud) {
  srv = sio_here(srv);
  sio_on_request_one(srv, cb, ud);
  if (sio_setup_context(srv))
    sio_setup_others(srv, SIO_SETUP_ON_REQUEST, NULL, NULL, (void (*)(void))cb, ud);
}

void sio_redis_options_init(sio_redis_options *o) {
  memset(o, 0, sizeof *o);
  o->key = "socket.io";
  o->requests_timeout_ms = 5000;
}

int sio_server_use_redis(sio_server *srv, const sio_redis_options *o, char *err,
                         size_t errlen) {
  /* Several loops: the adapter lives on loop 0, the others forward to it. */
  srv = sio_server_worker(srv, 0);
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
  if (srv->group) sio_loops_set_forward(srv->group->loops, 1);
  return SIO_OK;
}

int sio_server_listen(sio_server *srv, const char *host, uint16_t port) {
  if (srv->group) srv->group->listening = 1; /* setup calls are over */
  return eio_server_listen(srv->eio, host, port);
}
uint16_t sio_server_port(const sio_server *srv) { return eio_server_port(srv->eio); }
eio_server *sio_server_engine(sio_server *srv) { return srv->eio; }

/* This replica's part of closing: its sockets, on its loop. */
void sio_replica_close(sio_server *srv, int graceful, unsigned deadline_ms) {
  (void)graceful;
  (void)deadline_ms;
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
}

static void server_close(sio_server *srv, int graceful, unsigned deadline_ms) {
  if (srv->closing) return;
  sio_group_close(srv, graceful, deadline_ms); /* the other loops first */
  sio_replica_close(srv, graceful, deadline_ms);
  if (srv->eio && graceful) eio_server_shutdown(srv->eio, deadline_ms);
  else if (srv->eio) eio_server_close(srv->eio);
}

void sio_server_close(sio_server *srv) { server_close(srv, 0, 0); }

int sio_server_shutdown(sio_server *srv, unsigned deadline_ms) {
  server_close(srv, 1, deadline_ms);
  return SIO_OK;
}

/* What a replica frees while its loop (and base) still runs: namespaces
 * with their sockets and timers, kept acks, clients' connect timers. */
void sio_replica_teardown(sio_server *srv) {
  size_t it;
  for (sio_map_entry *e = sio_map_first(&srv->nsps, &it); e;
       e = sio_map_next(&srv->nsps, e, &it))
    sio_nsp_free(e->value);
  sio_map_clear(&srv->nsps);
  for (size_t i = 0; i < srv->nparents; i++) sio_nsp_free(srv->parents[i]);
  free(srv->parents);
  srv->parents = NULL;
  srv->nparents = 0;
  while (srv->orphan_acks) { /* kept and never answered */
    sio_ack *k = srv->orphan_acks;
    srv->orphan_acks = k->next;
    free(k);
  }
  for (sio_client *c = srv->clients; c; c = c->next)
    if (c->connect_timer) {
      event_free(c->connect_timer);
      c->connect_timer = NULL;
    }
}

/* The rest, once the engine is gone (replica 0 frees its engine). */
void sio_replica_free(sio_server *srv) {
  if (!srv) return;
  if (srv->eio && srv->index == 0) eio_server_free(srv->eio);
  sio_replica_teardown(srv);
  sio_serve_free(srv->serve);
  if (srv->adapter_free) srv->adapter_free(srv->adapter_ud);
  sio_admin_free(srv->admin);
  free(srv->metrics_path);
  json_decref(srv->empty_auth);
  free(srv);
}

void sio_server_free(sio_server *srv) {
  if (!srv) return;
  sio_server_close(srv);
  sio_group_teardown(srv); /* the other loops free theirs on their loops */
  if (srv->eio) eio_server_free(srv->eio);
  srv->eio = NULL;
  sio_replica_teardown(srv); /* before the loops layer goes */
  sio_group_free(srv);
  sio_replica_free(srv);
}
