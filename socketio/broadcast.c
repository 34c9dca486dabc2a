/*
 * Broadcast operators (Node's BroadcastOperator): rooms, except, flags,
 * then one action through the namespace's adapter. A broadcast is encoded
 * once; every recipient's queue shares the same buffers.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "recovery.h"
#include "replica.h"

sio_broadcast *sio_broadcast_new(sio_namespace *nsp) {
  sio_broadcast *b = calloc(1, sizeof *b);
  if (b) b->nsp = sio_nsp_here(nsp); /* this loop's replica */
  return b;
}

static int add_name(char ***v, size_t *n, const char *name) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*v)[i], name) == 0) return 0; /* a Set in Node */
  char **nv = realloc(*v, (*n + 1) * sizeof *nv);
  if (!nv) return -1;
  *v = nv;
  if (!(nv[*n] = strdup(name))) return -1;
  (*n)++;
  return 0;
}

sio_broadcast *sio_bc_to(sio_broadcast *b, const char *room) {
  if (b) add_name(&b->rooms, &b->nrooms, room);
  return b;
}
sio_broadcast *sio_bc_except(sio_broadcast *b, const char *room) {
  if (b) add_name(&b->except, &b->nexcept, room);
  return b;
}
sio_broadcast *sio_bc_volatile(sio_broadcast *b) {
  if (b) b->flags |= SIO_BC_VOLATILE;
  return b;
}
sio_broadcast *sio_bc_local(sio_broadcast *b) {
  if (b) b->flags |= SIO_BC_LOCAL;
  return b;
}
sio_broadcast *sio_bc_compress(sio_broadcast *b, int compress) {
  if (b) {
    if (compress) b->flags &= ~(unsigned)SIO_BC_COMPRESS_OFF;
    else b->flags |= SIO_BC_COMPRESS_OFF;
  }
  return b;
}
sio_broadcast *sio_bc_timeout(sio_broadcast *b, unsigned ms) {
  if (b) b->timeout_ms = ms;
  return b;
}

sio_broadcast *sio_to(sio_namespace *nsp, const char *room) {
  return sio_bc_to(sio_broadcast_new(nsp), room);
}

sio_broadcast *sio_socket_broadcast(sio_socket *s) {
  return sio_bc_except(sio_broadcast_new(s->nsp), s->id);
}

sio_broadcast *sio_socket_to(sio_socket *s, const char *room) {
  return sio_bc_to(sio_socket_broadcast(s), room);
}

void sio_bc_free(sio_broadcast *b) {
  if (!b) return;
  for (size_t i = 0; i < b->nrooms; i++) free(b->rooms[i]);
  for (size_t i = 0; i < b->nexcept; i++) free(b->except[i]);
  free(b->rooms);
  free(b->except);
  free(b);
}

static sio_bcast_opts opts_of(const sio_broadcast *b) {
  sio_bcast_opts o = {(const char *const *)b->rooms, b->nrooms,
                      (const char *const *)b->except, b->nexcept, b->flags,
                      b->timeout_ms, 0, 0};
  return o;
}

static json_t *event_array(const char *event, const sio_args *args) {
  json_t *data = json_array();
  json_array_append_new(data, json_string(event));
  for (size_t i = 0; i < json_array_size(args->arr); i++)
    json_array_append(data, json_array_get(args->arr, i));
  return data;
}

int sio_bc_emit(sio_broadcast *b, const char *event, sio_args *args) {
  if (!args) args = sio_args_new();
  int r = SIO_OK;
  if (!b || !args) r = SIO_ERR_NOMEM;
  else if (sio_reserved_event(event)) r = SIO_ERR_RESERVED;
  else if (b->nsp->is_parent && b->nsp->srv->group) {
    sio_group_parent_emit(b, event, args); /* every loop's children */
    return r;
  } else if (b->nsp->is_parent) {
    /* A parent namespace broadcasts to each of its children. */
    for (size_t i = 0; i < b->nsp->nchildren; i++) {
      sio_broadcast *c = sio_broadcast_new(b->nsp->children[i]);
      for (size_t k = 0; c && k < b->nrooms; k++) sio_bc_to(c, b->rooms[k]);
      for (size_t k = 0; c && k < b->nexcept; k++) sio_bc_except(c, b->except[k]);
      if (c) c->flags = b->flags;
      sio_bc_emit(c, event, sio_args_ref(args));
    }
  } else {
    json_t *data = event_array(event, args);
    sio_msg m = {SIO_PACKET_EVENT, b->nsp->name, data, args->bins, args->nbins,
                 SIO_NO_ACK, NULL, NULL, 0};
    sio_bcast_opts o = opts_of(b);
    if (b->nsp->rec) sio_recovery_broadcast(b->nsp, &m, &o);
    else b->nsp->adapter->ops->broadcast(b->nsp->adapter, &m, &o);
    sio_msg_release(&m);
    json_decref(data);
  }
  sio_args_unref(args);
  sio_bc_free(b);
  return r;
}

/* ---------------------------------------------------- broadcast acks */

bc_ack *sio_bc_ack_ref(bc_ack *k) {
  k->refs++;
  return k;
}

void sio_bc_ack_unref(bc_ack *k) {
  if (--k->refs) return;
  if (k->timer) event_free(k->timer);
  if (k->relay_free) k->relay_free(k->relay_ud);
  sio_args_unref(k->responses);
  free(k);
}

/* The timer lets go of k: disarmed, unlisted, its reference dropped (k
 * may be freed: the caller holds a reference if it still needs k). */
static void bc_timer_release(bc_ack *k) {
  if (!k->timer_ref) return;
  k->timer_ref = 0;
  evtimer_del(k->timer);
  if (k->next) k->next->pprev = k->pprev;
  *k->pprev = k->next;
  k->next = NULL;
  k->pprev = NULL;
  sio_bc_ack_unref(k);
}

/* Calls back once with err, then the timer lets go. */
static void bc_finish(bc_ack *k, int err) {
  sio_bc_ack_ref(k);
  if (!k->done) {
    k->done = 1;
    k->cb(err, k->responses, k->ud);
  }
  bc_timer_release(k);
  sio_bc_ack_unref(k);
}

void sio_bc_ack_check(bc_ack *k) {
  if (k->done || k->actual_servers != k->expected_servers ||
      sio_args_count(k->responses) != k->expected_clients)
    return;
  bc_finish(k, 0);
}

void sio_bc_acks_close(sio_server *srv) {
  while (srv->bc_acks) bc_finish(srv->bc_acks, SIO_ERR_TIMEOUT);
}

void sio_bc_ack_response(bc_ack *k, sio_args *args) {
  if (k->relay) {
    json_t *first = sio_args_get(args, 0);
    k->relay(k->relay_ud, first ? first : json_null(), args->bins, args->nbins);
    return;
  }
  if (k->done) return;
  /* Node keeps the first argument of each client's ack. */
  sio_args_push_from(k->responses, sio_args_get(args, 0), args);
  sio_bc_ack_check(k);
}

static void bc_timeout_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  bc_finish(arg, SIO_ERR_TIMEOUT);
}

static void bc_server_count(void *ctx, size_t n) {
  bc_ack *k = ctx;
  k->expected_servers = n;
  sio_bc_ack_check(k);
  sio_bc_ack_unref(k); /* the reference held for this answer */
}

static void bc_client_count(void *ctx, size_t n) {
  bc_ack *k = ctx;
  k->expected_clients += n;
  k->actual_servers++;
  sio_bc_ack_check(k);
}

int sio_bc_emit_with_ack(sio_broadcast *b, const char *event, sio_args *args,
                         sio_bc_ack_fn cb, void *ud) {
  if (!args) args = sio_args_new();
  int r = SIO_OK;
  if (!b || !args) r = SIO_ERR_NOMEM;
  else if (sio_reserved_event(event)) r = SIO_ERR_RESERVED;
  else if (!b->timeout_ms || b->nsp->is_parent) r = SIO_ERR_INVALID;
  else if (b->nsp->srv->closing) r = SIO_ERR_CLOSED;
  if (r != SIO_OK) {
    sio_args_unref(args);
    sio_bc_free(b);
    return r;
  }
  sio_namespace *nsp = b->nsp;
  bc_ack *k = calloc(1, sizeof *k);
  if (!k || !(k->responses = sio_args_new()) ||
      !(k->timer = evtimer_new(nsp->srv->base, bc_timeout_cb, k))) {
    if (k) {
      sio_args_unref(k->responses);
      free(k);
    }
    sio_args_unref(args);
    sio_bc_free(b);
    return SIO_ERR_NOMEM;
  }
  k->refs = 1;
  k->cb = cb;
  k->ud = ud;
  k->expected_servers = (size_t)-1; /* until the adapter says */
  struct timeval tv = {b->timeout_ms / 1000, (b->timeout_ms % 1000) * 1000};
  /* The deadline counts from now, not from the loop turn's cached time
   * (which is behind by whatever this turn has already spent). */
  event_base_update_cache_time(event_get_base(k->timer));
  if (evtimer_add(k->timer, &tv) == 0) {
    /* The timer's reference: whoever else lets go first (the adapter's
     * request ends at the same deadline), the callback still comes. */
    k->timer_ref = 1;
    sio_bc_ack_ref(k);
    k->srv = nsp->srv;
    k->next = nsp->srv->bc_acks;
    if (k->next) k->next->pprev = &k->next;
    k->pprev = &nsp->srv->bc_acks;
    nsp->srv->bc_acks = k;
  }
  json_t *data = event_array(event, args);
  sio_msg m = {SIO_PACKET_EVENT, nsp->name, data, args->bins, args->nbins,
               nsp->ids++, NULL, NULL, 0};
  sio_bcast_opts o = opts_of(b);
  nsp->adapter->ops->broadcast_with_ack(nsp->adapter, &m, &o, bc_client_count,
                                        k, k);
  nsp->adapter->ops->server_count(nsp->adapter, bc_server_count, sio_bc_ack_ref(k));
  sio_msg_release(&m);
  json_decref(data);
  sio_bc_ack_unref(k);
  sio_args_unref(args);
  sio_bc_free(b);
  return SIO_OK;
}

/* ------------------------------------------------- server utilities */

typedef struct fetch_ctx {
  sio_fetch_fn cb;
  void *ud;
} fetch_ctx;

static void fetch_done(void *ctx, int err, json_t *sockets) {
  fetch_ctx *f = ctx;
  f->cb(err, sockets, f->ud);
  free(f);
}

void sio_bc_fetch_sockets(sio_broadcast *b, sio_fetch_fn cb, void *ud) {
  fetch_ctx *f = malloc(sizeof *f);
  if (!f) {
    cb(SIO_ERR_NOMEM, json_array(), ud);
  } else {
    f->cb = cb;
    f->ud = ud;
    sio_bcast_opts o = opts_of(b);
    b->nsp->adapter->ops->fetch_sockets(b->nsp->adapter, &o, fetch_done, f);
  }
  sio_bc_free(b);
}

void sio_bc_sockets_join(sio_broadcast *b, const char *room) {
  sio_bcast_opts o = opts_of(b);
  const char *r[1] = {room};
  b->nsp->adapter->ops->add_sockets(b->nsp->adapter, &o, r, 1);
  sio_bc_free(b);
}

void sio_bc_sockets_leave(sio_broadcast *b, const char *room) {
  sio_bcast_opts o = opts_of(b);
  const char *r[1] = {room};
  b->nsp->adapter->ops->del_sockets(b->nsp->adapter, &o, r, 1);
  sio_bc_free(b);
}

void sio_bc_disconnect_sockets(sio_broadcast *b, int close) {
  sio_bcast_opts o = opts_of(b);
  b->nsp->adapter->ops->disconnect_sockets(b->nsp->adapter, &o, close);
  sio_bc_free(b);
}

typedef struct sse_ctx {
  sio_bc_ack_fn cb;
  void *ud;
} sse_ctx;

static void sse_done(void *ctx, int err, json_t *responses, sio_buf *const *bins,
                     size_t nbins) {
  sse_ctx *x = ctx;
  sio_args *a = sio_args_wrap(responses, bins, nbins);
  if (!a) a = sio_args_new();
  if (x->cb) x->cb(err, a, x->ud);
  sio_args_unref(a);
  free(x);
}

static int server_side_emit(sio_namespace *nsp, const char *event, sio_args *args,
                            sio_bc_ack_fn cb, void *ud) {
  nsp = sio_nsp_here(nsp);
  if (!args) args = sio_args_new();
  if (!args) return SIO_ERR_NOMEM;
  int r = SIO_OK;
  if (!strcmp(event, "connect") || !strcmp(event, "connection") ||
      !strcmp(event, "new_namespace")) {
    r = SIO_ERR_RESERVED;
  } else {
    sse_ctx *x = NULL;
    if (cb && !(x = calloc(1, sizeof *x))) r = SIO_ERR_NOMEM;
    if (r == SIO_OK) {
      if (x) {
        x->cb = cb;
        x->ud = ud;
      }
      json_t *data = event_array(event, args);
      sio_msg m = {SIO_PACKET_EVENT, nsp->name, data, args->bins, args->nbins,
                   SIO_NO_ACK, NULL, NULL, 0};
      nsp->adapter->ops->server_side_emit(nsp->adapter, &m, x ? sse_done : NULL, x);
      sio_msg_release(&m);
      json_decref(data);
    }
  }
  sio_args_unref(args);
  return r;
}

int sio_server_side_emit(sio_namespace *nsp, const char *event, sio_args *args) {
  return server_side_emit(nsp, event, args, NULL, NULL);
}

int sio_server_side_emit_with_ack(sio_namespace *nsp, const char *event,
                                  sio_args *args, sio_bc_ack_fn cb, void *ud) {
  return server_side_emit(nsp, event, args, cb, ud);
}
