/*
 * Namespaces: creation (static, dynamic parents and children), the
 * adapter host callbacks, server-side events (Node's lib/namespace.ts and
 * lib/parent-namespace.ts).
 * Split out of server.c; see internal.h for what the files share.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "http.h"
#include "hooks.h"
#include "recovery.h"
#include "sio/log.h"
#include "replica.h"

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
  SIO_M_ADD(sio_m.broadcast_deliveries, w);
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

void sio_on_server_side_one(sio_namespace *nsp, const char *event,
                            sio_server_side_fn fn, void *ud) {
  if (!nsp) return;
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

void sio_on_server_side(sio_namespace *nsp, const char *event,
                        sio_server_side_fn fn, void *ud) {
  nsp = sio_nsp_here(nsp);
  sio_on_server_side_one(nsp, event, fn, ud);
  if (sio_setup_context(nsp->srv))
    sio_setup_others(nsp->srv, SIO_SETUP_ON_SERVER_SIDE, nsp, event, (void (*)(void))fn, ud);
}

void sio_server_count(sio_namespace *nsp, sio_server_count_fn cb, void *ud) {
  nsp = sio_nsp_here(nsp);
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

static sio_adapter *host_local_new(void *ctx);

sio_adapter_host sio_nsp_host(sio_namespace *nsp) {
  sio_adapter_host host = {nsp, host_deliver, host_describe, host_disconnect,
                           host_ack_ref, host_ack_unref, host_ack_remote,
                           host_ack_relay, host_next_ack_id, host_server_side,
                           nsp->srv->o.recovery ? nsp->srv->o.recovery_max_disconnection_ms : 0,
                           host_room_changed, host_local_new};
  return host;
}

/* A cluster adapter's local part: with several loops, the loops layer
 * (the cluster adapter lives on loop 0 and sees the whole process). */
static sio_adapter *host_local_new(void *ctx) {
  sio_namespace *nsp = ctx;
  sio_adapter_host host = sio_nsp_host(nsp);
  return sio_group_adapter(nsp->srv, nsp->name, sio_memory_adapter_new(&host));
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
  if (!srv->adapter_new) /* several loops (a cluster adapter wraps its own) */
    nsp->adapter = sio_group_adapter(srv, name, nsp->adapter);
  sio_group_gauge(srv, name, 0);
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
  srv = sio_here(srv);
  size_t had = srv->nsps.count;
  sio_namespace *nsp = sio_of_one(srv, name);
  /* A new one with several loops: every replica gets its twin. */
  if (nsp && srv->nsps.count != had && sio_setup_context(srv))
    sio_setup_others(srv, SIO_SETUP_OF, nsp, NULL, NULL, NULL);
  return nsp;
}

sio_namespace *sio_of_one(sio_server *srv, const char *name) {
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

sio_namespace *sio_of_match_one(sio_server *srv, sio_nsp_match_fn match, void *ud) {
  sio_namespace *p = parent_new(srv);
  if (p) {
    p->match = match;
    p->match_ud = ud;
  }
  return p;
}

/* Parents are made on every replica during setup (the same index on
 * each), else on the current loop's. */
sio_namespace *sio_of_match(sio_server *srv, sio_nsp_match_fn match, void *ud) {
  srv = sio_here(srv);
  sio_namespace *p = sio_of_match_one(srv, match, ud);
  if (p && sio_setup_context(srv))
    sio_setup_others(srv, SIO_SETUP_MATCH, NULL, NULL, (void (*)(void))match, ud);
  return p;
}

sio_namespace *sio_of_regex_one(sio_server *srv, const char *pattern) {
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

sio_namespace *sio_of_regex(sio_server *srv, const char *pattern) {
  srv = sio_here(srv);
  sio_namespace *p = sio_of_regex_one(srv, pattern);
  if (p && sio_setup_context(srv)) sio_setup_others(srv, SIO_SETUP_REGEX, NULL, pattern, NULL, NULL);
  return p;
}

const char *sio_namespace_name(const sio_namespace *nsp) { return nsp->name; }
sio_server *sio_namespace_server(const sio_namespace *nsp) { return nsp->srv; }
