/*
 * The sio_socket object: handlers, emitting, acknowledgements both ways,
 * rooms, and its disconnection (Node's lib/socket.ts).
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

/* ------------------------------------------------------------- sockets */

void sio_sock_ref(sio_socket *s) { s->refs++; }

static void free_handlers(handler *h) {
  while (h) {
    handler *n = h->next;
    free(h); /* the event name is in the same block */
    h = n;
  }
}

/* Out of line for the same reason as sio_client_unref. */
__attribute__((noinline)) void sio_sock_unref(sio_socket *s) {
  if (--s->refs) return;
  free_handlers(s->handlers);
  free_handlers(s->any);
  if (s->rare) {
    free_handlers(s->rare->any_out);
    while (s->rare->mws) {
      pmw *n = s->rare->mws->next;
      free(s->rare->mws);
      s->rare->mws = n;
    }
    free(s->rare);
  }
  json_decref(s->handshake);
  json_decref(s->auth);
  json_decref(s->data);
  if (s->id != s->id_buf) free(s->id);
  free(s);
}

const char *sio_socket_id(const sio_socket *s) { return s->id; }
sio_namespace *sio_socket_namespace(const sio_socket *s) { return s->nsp; }
int sio_socket_connected(const sio_socket *s) { return s->state == SOCK_CONNECTED; }
int sio_socket_recovered(const sio_socket *s) { return s->recovered; }
/* Built when first asked, not at connect: most servers never read it. */
const json_t *sio_socket_handshake(const sio_socket *s) {
  sio_socket *m = (sio_socket *)s;
  if (!m->handshake && m->client && m->client->conn && m->auth)
    m->handshake = sio_build_handshake(m->client, m->auth, &m->issued);
  return m->handshake;
}
const eio_request *sio_socket_request(const sio_socket *s) {
  return s->client && s->client->conn ? eio_socket_request(s->client->conn) : NULL;
}
/* socket.data is made on first use: most sockets never have any. */
json_t *sio_socket_data(const sio_socket *s) {
  sio_socket *m = (sio_socket *)s;
  if (!m->data) m->data = json_object();
  return m->data;
}
void sio_socket_set_data(sio_socket *s, json_t *data) {
  json_t *old = s->data;
  s->data = data ? data : json_object();
  sio_hook_data_set(s, old);
  json_decref(old);
}

/* One block per handler, its event name included (sockets register
 * handlers at every connect). */
static handler *handler_new(const char *event, sio_event_fn fn, void *ud) {
  size_t n = event ? strlen(event) + 1 : 0;
  handler *h = calloc(1, sizeof *h + n);
  if (!h) return NULL;
  if (event) h->event = memcpy(h + 1, event, n);
  h->fn = fn;
  h->ud = ud;
  return h;
}

/* Appends (listeners run in registration order). */
static void handler_append(handler **list, handler *h) {
  if (!h) return;
  while (*list) list = &(*list)->next;
  *list = h;
}

void sio_socket_on(sio_socket *s, const char *event, sio_event_fn fn, void *ud) {
  handler_append(&s->handlers, handler_new(event, fn, ud));
}
void sio_socket_on_any(sio_socket *s, sio_event_fn fn, void *ud) {
  handler_append(&s->any, handler_new(NULL, fn, ud));
}
/* s->rare, made on first use; NULL when out of memory. */
static sock_rare *rare(sio_socket *s) {
  if (!s->rare) s->rare = calloc(1, sizeof *s->rare);
  return s->rare;
}
void sio_socket_on_any_outgoing(sio_socket *s, sio_event_fn fn, void *ud) {
  sock_rare *r = rare(s);
  if (r) handler_append(&r->any_out, handler_new(NULL, fn, ud));
}
void sio_socket_use(sio_socket *s, sio_packet_middleware_fn fn, void *ud) {
  sock_rare *r = rare(s);
  pmw *m = r ? calloc(1, sizeof *m) : NULL;
  if (!m) return;
  m->fn = fn;
  m->ud = ud;
  pmw **pp = &r->mws;
  while (*pp) pp = &(*pp)->next;
  *pp = m;
}
void sio_socket_on_error(sio_socket *s, sio_error_fn fn, void *ud) {
  sock_rare *r = rare(s);
  if (!r) return;
  r->on_error = fn;
  r->on_error_ud = ud;
}
void sio_socket_on_disconnecting(sio_socket *s, sio_disconnect_fn fn, void *ud) {
  sock_rare *r = rare(s);
  if (!r) return;
  r->on_disconnecting = fn;
  r->on_disconnecting_ud = ud;
}
void sio_socket_on_disconnect(sio_socket *s, sio_disconnect_fn fn, void *ud) {
  s->on_disconnect = fn;
  s->on_disconnect_ud = ud;
}

/* The event name as a string: numbers too, as EventEmitter keys them. */
const char *sio_event_name(const json_t *v, char *buf, size_t n) {
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_integer(v)) {
    snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
  }
  if (json_is_real(v)) {
    sio_json_number(json_real_value(v), buf, n);
    return buf;
  }
  return "";
}

void sio_socket_notify_outgoing(sio_socket *s, const sio_msg *msg) {
  if (!s->rare || !s->rare->any_out || !json_is_array(msg->data)) return;
  char nb[40];
  const char *ev = sio_event_name(json_array_get(msg->data, 0), nb, sizeof nb);
  json_t *rest = json_array();
  for (size_t i = 1; i < json_array_size(msg->data); i++)
    json_array_append(rest, json_array_get(msg->data, i));
  sio_args *a = sio_args_wrap(rest, msg->bins, msg->nbins);
  if (!a) return;
  sio_sock_ref(s);
  for (handler *h = s->rare->any_out; h; h = h->next) h->fn(s, ev, a, NULL, h->ud);
  sio_sock_unref(s);
  sio_args_unref(a);
}

/* -------------------------------------------------------------- acks */

static void pending_free(pending_ack *a) {
  if (a->timer) event_free(a->timer);
  if (a->bc) sio_bc_ack_unref(a->bc);
  free(a);
}

static pending_ack *pending_take(sio_socket *s, long long id) {
  for (pending_ack **pp = &s->acks; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      pending_ack *a = *pp;
      *pp = a->next;
      return a;
    }
  }
  return NULL;
}

void sio_socket_add_ack(sio_socket *s, pending_ack *a) {
  a->s = s;
  a->next = s->acks;
  s->acks = a;
}

static void ack_timeout_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  pending_ack *a = arg;
  sio_socket *s = a->s;
  sio_sock_ref(s);
  pending_take(s, a->id);
  if (a->cb) a->cb(s, SIO_ERR_TIMEOUT, NULL, a->ud);
  pending_free(a);
  sio_sock_unref(s);
}

void sio_on_ack_packet(sio_socket *s, sio_packet *p) {
  pending_ack *a = pending_take(s, p->id);
  if (!a) return; /* unknown or late: ignored, as Node does */
  json_t *data = p->data ? json_incref(p->data) : json_array();
  sio_args *args = sio_args_wrap(data, p->bins, p->nbins);
  if (a->timer) evtimer_del(a->timer);
  if (args) {
    if (a->bc) sio_bc_ack_response(a->bc, args);
    else if (a->cb) {
      sio_m_observe(&sio_m.ack, a->sent_us);
      a->cb(s, 0, args, a->ud);
    }
    sio_args_unref(args);
  }
  pending_free(a);
}


int sio_ack_send(sio_ack *ack, sio_args *args) {
  sio_socket *s = ack->s;
  int r = SIO_ERR_CLOSED;
  if (!args) args = sio_args_new();
  if (ack->remote) { /* an answer to another server's serverSideEmit */
    json_t *first = args ? sio_args_get(args, 0) : NULL;
    ack->remote(ack->rctx, first ? first : json_null(), args ? args->bins : NULL,
                args ? args->nbins : 0);
    sio_args_unref(args);
    sio_nsp_forget_ack((sio_namespace *)ack->s, ack);
    free(ack);
    return SIO_OK;
  }
  if (!s) { /* orphaned: kept, and its socket went; answering frees it */
    sio_server *srv = ack->orphan_of;
    for (sio_ack **pp = &srv->orphan_acks; *pp; pp = &(*pp)->next)
      if (*pp == ack) {
        *pp = ack->next;
        break;
      }
    sio_args_unref(args);
    free(ack);
    return SIO_ERR_CLOSED;
  }
  if (s->state == SOCK_CONNECTED && args) {
    sio_send_packet(s->client, SIO_PACKET_ACK, s->nsp->name, ack->id, args->arr,
                args, 0);
    r = SIO_OK;
  }
  sio_args_unref(args);
  for (sio_ack **pp = &s->client_acks; *pp; pp = &(*pp)->next)
    if (*pp == ack) {
      *pp = ack->next;
      break;
    }
  free(ack);
  return r;
}

void sio_ack_keep(sio_ack *ack) {
  if (ack && !ack->remote) ack->kept = 1;
}

/* ------------------------------------------------------------- emitting */

static int emit_packet(sio_socket *s, const char *event, sio_args *args,
                       long long id) {
  json_t *data = json_array();
  json_array_append_new(data, json_string(event));
  for (size_t i = 0; i < json_array_size(args->arr); i++)
    json_array_append(data, json_array_get(args->arr, i));
  sio_msg m = {SIO_PACKET_EVENT, s->nsp->name, data, args->bins, args->nbins,
               id, NULL, NULL, 0};
  int r;
  if (s->nsp->rec && id < 0) {
    /* With recovery, socket.emit goes through the session-aware adapter
     * path: the packet gets an offset and is kept for replay. */
    r = sio_recovery_emit_to_socket(s, &m);
  } else {
    sio_socket_notify_outgoing(s, &m);
    r = sio_client_write(s->client, &m, 0);
  }
  sio_msg_release(&m);
  json_decref(data);
  return r ? SIO_OK : SIO_ERR_CLOSED;
}

int sio_emit(sio_socket *s, const char *event, sio_args *args) {
  if (!args) args = sio_args_new();
  if (!args) return SIO_ERR_NOMEM;
  int r;
  if (sio_reserved_event(event)) r = SIO_ERR_RESERVED;
  else if (s->state != SOCK_CONNECTED) r = SIO_ERR_CLOSED;
  else r = emit_packet(s, event, args, SIO_NO_ACK);
  sio_args_unref(args);
  return r;
}

int sio_emit_with_ack(sio_socket *s, const char *event, sio_args *args,
                      unsigned timeout_ms, sio_ack_fn cb, void *ud) {
  if (!args) args = sio_args_new();
  if (!args) return SIO_ERR_NOMEM;
  int r = SIO_OK;
  if (sio_reserved_event(event)) r = SIO_ERR_RESERVED;
  else if (s->state != SOCK_CONNECTED) r = SIO_ERR_CLOSED;
  if (r == SIO_OK) {
    pending_ack *a = calloc(1, sizeof *a);
    if (!a) {
      sio_args_unref(args);
      return SIO_ERR_NOMEM;
    }
    a->id = s->nsp->ids++;
    a->cb = cb;
    a->ud = ud;
    a->sent_us = sio_m_now_us();
    if (timeout_ms) {
      a->timer = evtimer_new(s->nsp->srv->base, ack_timeout_cb, a);
      struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
      if (a->timer) evtimer_add(a->timer, &tv);
    }
    sio_socket_add_ack(s, a);
    r = emit_packet(s, event, args, a->id);
  }
  sio_args_unref(args);
  return r;
}

/* --------------------------------------------------------------- rooms */

int sio_join(sio_socket *s, const char *room) {
  if (s->state == SOCK_GONE) return SIO_ERR_CLOSED;
  const char *r[1] = {room};
  return s->nsp->adapter->ops->add_all(s->nsp->adapter, s->id, r, 1) == 0
             ? SIO_OK
             : SIO_ERR_NOMEM;
}

int sio_leave(sio_socket *s, const char *room) {
  if (s->state == SOCK_GONE) return SIO_ERR_CLOSED;
  s->nsp->adapter->ops->del(s->nsp->adapter, s->id, room);
  return SIO_OK;
}

int sio_socket_in(const sio_socket *s, const char *room) {
  const sio_map *r = s->nsp->adapter->ops->socket_rooms(s->nsp->adapter, s->id);
  return r && sio_map_has(r, room);
}

json_t *sio_socket_rooms(const sio_socket *s) {
  json_t *out = json_array();
  const sio_map *r = s->nsp->adapter->ops->socket_rooms(s->nsp->adapter, s->id);
  size_t it;
  if (r)
    for (sio_map_entry *e = sio_map_first(r, &it); e; e = sio_map_next(r, e, &it))
      json_array_append_new(out, json_string(e->key));
  return out;
}

/* ------------------------------------------------------- disconnecting */

void sio_client_remove_socket(sio_client *c, sio_socket *s) {
  for (sio_socket **pp = &c->sockets; *pp; pp = &(*pp)->cnext)
    if (*pp == s) {
      *pp = s->cnext;
      s->cnext = NULL;
      sio_sock_unref(s); /* the client's reference */
      return;
    }
}

static void fail_acks(sio_socket *s) {
  while (s->acks) {
    pending_ack *a = s->acks;
    s->acks = a->next;
    if (a->timer) evtimer_del(a->timer);
    if (a->bc) sio_bc_ack_check(a->bc);
    else if (a->cb) a->cb(s, SIO_ERR_CLOSED, NULL, a->ud);
    pending_free(a);
  }
  sio_server *srv = s->nsp->srv;
  while (s->client_acks) {
    sio_ack *k = s->client_acks;
    s->client_acks = k->next;
    if (k->kept) { /* the application answers it later: a no-op then */
      k->s = NULL;
      k->orphan_of = srv;
      k->next = srv->orphan_acks;
      srv->orphan_acks = k;
    } else {
      free(k);
    }
  }
}

static int recoverable(const char *reason) {
  static const char *const r[] = {"transport error", "transport close",
                                  "forced close", "ping timeout",
                                  "server shutting down", "forced server close"};
  for (size_t i = 0; i < sizeof r / sizeof *r; i++)
    if (strcmp(reason, r[i]) == 0) return 1;
  return 0;
}

/* Node's socket._onclose: "disconnecting" with the rooms still known,
 * then the session is kept for recovery, the rooms are left, and
 * "disconnect" follows. */
void sio_socket_onclose(sio_socket *s, const char *reason) {
  if (s->state != SOCK_CONNECTED) return;
  sio_log(SIO_LOG_DEBUG, "sio:socket", "disconnect id=%s nsp=%s reason=\"%s\"", s->id,
          s->nsp->name, reason);
  sio_sock_ref(s);
  if (s->rare && s->rare->on_disconnecting)
    s->rare->on_disconnecting(s, reason, s->rare->on_disconnecting_ud);
  if (s->nsp->rec && !s->v3 && recoverable(reason)) sio_recovery_persist(s);
  s->state = SOCK_GONE;
  s->nsp->adapter->ops->del_all(s->nsp->adapter, s->id);
  if (sio_map_del(&s->nsp->sockets, s->id)) sio_sock_unref(s);
  if (s->client) sio_client_remove_socket(s->client, s);
  sio_hook_disconnected(s, reason);
  if (s->on_disconnect) s->on_disconnect(s, reason, s->on_disconnect_ud);
  fail_acks(s);
  s->client = NULL;
  sio_sock_unref(s);
}

void sio_disconnect(sio_socket *s, int close) {
  if (s->state != SOCK_CONNECTED) return;
  sio_client *c = s->client;
  if (close) {
    /* Every namespace of the client is told, then the connection goes. */
    c->refs++;
    while (c->sockets && c->sockets->state == SOCK_CONNECTED) {
      sio_socket *x = c->sockets;
      sio_send_packet(c, SIO_PACKET_DISCONNECT, x->nsp->name, SIO_NO_ACK, NULL,
                  NULL, 0);
      sio_socket_onclose(x, "server namespace disconnect");
    }
    sio_client_close(c, "forced server close");
    sio_client_unref(c);
    return;
  }
  sio_send_packet(c, SIO_PACKET_DISCONNECT, s->nsp->name, SIO_NO_ACK, NULL, NULL, 0);
  sio_socket_onclose(s, "server namespace disconnect");
}
