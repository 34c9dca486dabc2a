/*
 * The sio_client object, one per Engine.IO session: decodes its messages,
 * dispatches packets to its sockets, closes them with the session
 * (Node's lib/client.ts).
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

/* ------------------------------------------------------ incoming packets */

void sio_raise_error(sio_socket *s, const char *message, const json_t *data) {
  if (s->rare && s->rare->on_error) s->rare->on_error(s, message, data, s->rare->on_error_ud);
}

void sio_dispatch_event(sio_socket *s, const char *event, sio_args *args,
                           sio_ack *ack) {
  sio_sock_ref(s);
  for (handler *h = s->handlers; h && s->state == SOCK_CONNECTED; h = h->next)
    if (strcmp(h->event, event) == 0) h->fn(s, event, args, ack, h->ud);
  sio_sock_unref(s);
}

static void on_event_packet(sio_socket *s, sio_packet *p) {
  char nb[40];
  json_t *data = p->data ? p->data : NULL;
  /* The arguments are the packet's own array without its first element
   * (the name, kept alive by name_ref while used): no copy of the rest. */
  json_t *name_ref = data ? json_incref(json_array_get(data, 0)) : NULL;
  const char *event = data ? sio_event_name(name_ref, nb, sizeof nb) : "";
  json_t *rest;
  if (data && json_array_remove(data, 0) == 0) rest = json_incref(data);
  else rest = json_array();
  sio_args *args = sio_args_wrap(rest, p->bins, p->nbins);
  if (!args) {
    json_decref(name_ref);
    return;
  }
  sio_ack *ack = NULL;
  if (p->id != SIO_NO_ACK) {
    ack = calloc(1, sizeof *ack);
    if (ack) {
      ack->s = s;
      ack->id = p->id;
      ack->next = s->client_acks;
      s->client_acks = ack;
    }
  }
  sio_sock_ref(s);
  /* onAny listeners see the event before the packet middlewares. */
  for (handler *h = s->any; h && s->state == SOCK_CONNECTED; h = h->next)
    h->fn(s, event, args, ack, h->ud);
  if (s->state == SOCK_CONNECTED && !(s->rare && s->rare->mws)) {
    sio_dispatch_event(s, event, args, ack); /* packet_run without middlewares */
  } else if (s->state == SOCK_CONNECTED) {
    sio_mw_packet(s, event, args, ack);
  }
  sio_sock_unref(s);
  sio_args_unref(args);
  json_decref(name_ref);
}

static sio_socket *client_socket(sio_client *c, const char *nsp) {
  for (sio_socket *s = c->sockets; s; s = s->cnext)
    if (strcmp(s->nsp->name, nsp) == 0) return s;
  return NULL;
}

/* Node's client._parseNamespace for v3 clients: "/nsp?k=v" is the
 * namespace "/nsp" with the auth {k: "v"} (the last value of a key). */
static json_t *v3_namespace(sio_packet *p) {
  char *q = strchr(p->nsp, '?');
  if (!q) return json_object();
  *q = '\0';
  json_t *o = sio_query_object(q + 1);
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    if (json_is_array(v))
      json_object_set(o, k, json_array_get(v, json_array_size(v) - 1));
  }
  return o;
}

/* Node's client.ondecoded. */
static void client_packet(sio_client *c, sio_packet *p) {
  json_t *v3_auth = NULL;
  if (c->conn && eio_socket_protocol(c->conn) == 3) v3_auth = v3_namespace(p);
  sio_socket *s = client_socket(c, p->nsp);
  if (!s && p->type == SIO_PACKET_CONNECT) {
    sio_client_connect(c, p->nsp, v3_auth ? v3_auth : p->data);
    json_decref(v3_auth);
    return;
  }
  json_decref(v3_auth);
  if (s && p->type != SIO_PACKET_CONNECT && p->type != SIO_PACKET_CONNECT_ERROR) {
    if (s->state != SOCK_CONNECTED) return; /* middleware still running */
    switch (p->type) {
    case SIO_PACKET_EVENT:
    case SIO_PACKET_BINARY_EVENT:
      on_event_packet(s, p);
      break;
    case SIO_PACKET_ACK:
    case SIO_PACKET_BINARY_ACK:
      sio_on_ack_packet(s, p);
      break;
    case SIO_PACKET_DISCONNECT:
      sio_socket_onclose(s, "client namespace disconnect");
      break;
    }
    return;
  }
  /* A second CONNECT, a CONNECT_ERROR, or a packet for a namespace the
   * client never joined: the whole connection goes. */
  sio_client_close(c, "forced server close");
}

/* ------------------------------------------------------------- clients */

/* Out of line: once inlined into a caller that holds its own reference,
 * GCC 12's -Wuse-after-free cannot see that the count stays above zero. */
__attribute__((noinline)) void sio_client_unref(sio_client *c) {
  if (--c->refs) return;
  if (c->connect_timer) event_free(c->connect_timer);
  if (c->decoder) c->srv->o.parser->decoder_free(c->decoder);
  free(c);
}

/* The Engine.IO session ended (or the client was closed): every socket
 * disconnects with the reason; the client leaves the server. */
static void client_onclose(sio_client *c, const char *reason) {
  c->refs++;
  c->closed = 1;
  if (c->connect_timer) evtimer_del(c->connect_timer);
  while (c->sockets) {
    sio_socket *s = c->sockets;
    if (s->state == SOCK_CONNECTED) {
      sio_socket_onclose(s, reason);
    } else { /* its middleware chain is still running */
      s->state = SOCK_GONE;
      s->client = NULL; /* a late sio_next_ok / _error is then a no-op */
      sio_client_remove_socket(c, s);
    }
  }
  sio_client_unref(c);
}

/* Node's client.close(): the Engine.IO session is closed first. Over
 * WebSocket that ends it at once and the sockets hear "forced close"; over
 * polling the close waits for the next GET, so they hear this reason. */
void sio_client_close(sio_client *c, const char *reason) {
  if (c->closed) return;
  c->refs++;
  if (c->conn) eio_socket_close(c->conn);
  if (!c->closed) client_onclose(c, reason);
  sio_client_unref(c);
}

/* Node's client.onerror: the decode error reaches each socket's error
 * handler, then the Engine.IO session is closed ("forced close"). */
static void client_decode_error(sio_client *c, const char *err) {
  c->refs++;
  sio_log(SIO_LOG_DEBUG, "sio:client", "decode error on %s: %s",
          c->conn ? eio_socket_id(c->conn) : "?", err);
  for (sio_socket *s = c->sockets; s; s = s->cnext)
    if (s->state == SOCK_CONNECTED) sio_raise_error(s, err, NULL);
  if (c->conn && !c->closed) eio_socket_close(c->conn);
  sio_client_unref(c);
}

static void on_eio_message(eio_socket *conn, const uint8_t *data, size_t len,
                           int binary, void *ud) {
  (void)conn;
  sio_client *c = ud;
  if (c->closed) return;
  c->refs++;
  sio_hook_packet_in(c, len);
  const sio_parser *parser = c->srv->o.parser;
  const char *err = "out of memory";
  sio_packet p;
  memset(&p, 0, sizeof p);
  int r = -1;
  if (!c->decoder && parser == &sio_parser_default) {
    /* The default parser keeps state only while a binary packet awaits its
     * attachments: a client gets a decoder when its first one starts, so
     * idle clients hold none. Same results and errors as its decoder. */
    sio_parser_limits lim = {c->srv->o.max_attachments, c->srv->o.max_namespace_length};
    if (!binary && len && (data[0] == '0' + SIO_PACKET_BINARY_EVENT ||
                           data[0] == '0' + SIO_PACKET_BINARY_ACK)) {
      c->decoder = parser->decoder_new(parser, &lim);
    } else if (binary) {
      err = "got binary data when not reconstructing a packet";
    } else if (sio_packet_decode((const char *)data, len, &lim, &p, &err) == 0) {
      r = 1;
    }
  }
  if (c->decoder) r = parser->decode(c->decoder, data, len, binary, &p, &err);
  if (r < 0) {
    client_decode_error(c, err ? err : "decode error");
  } else if (r == 1) {
    client_packet(c, &p);
  }
  sio_packet_clear(&p);
  sio_client_unref(c);
}

static void on_eio_close(eio_socket *conn, const char *reason,
                         const char *desc, void *ud) {
  (void)conn;
  (void)desc;
  sio_client *c = ud;
  sio_server *srv = c->srv;
  c->refs++;
  sio_hook_eio_close(c, reason, desc);
  if (!c->closed) client_onclose(c, reason);
  c->conn = NULL; /* the Engine.IO socket is gone after this callback */
  if (c->prev) c->prev->next = c->next;
  else srv->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  c->refs--; /* the server list's; ours keeps c alive */
  sio_client_unref(c);
}

static void on_eio_upgrade(eio_socket *conn, void *ud) {
  (void)conn;
  sio_hook_eio_upgrade(ud);
}

static void connect_timeout_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  sio_client *c = arg;
  for (sio_socket *s = c->sockets; s; s = s->cnext)
    if (s->state == SOCK_CONNECTED) return;
  sio_client_close(c, "forced server close");
}

void sio_on_eio_connection(eio_server *eio, eio_socket *conn, void *ud) {
  sio_server *srv = ud;
  /* With several loops: the replica of the loop the session lives on. */
  if (srv->group) srv = sio_server_worker(srv, eio_server_worker_index(eio));
  sio_client *c = calloc(1, sizeof *c);
  if (!c) {
    eio_socket_close(conn);
    return;
  }
  c->srv = srv;
  c->conn = conn;
  c->refs = 1; /* the server list's */
  if (sio_log_enabled(SIO_LOG_DEBUG, "sio:client")) /* the request view is built on first use */
    sio_log(SIO_LOG_DEBUG, "sio:client", "engine connection %s from %s",
            eio_socket_id(conn), eio_socket_request(conn)->remote_address);
  c->next = srv->clients;
  if (c->next) c->next->prev = c;
  srv->clients = c;
  sio_parser_limits lim = {srv->o.max_attachments, srv->o.max_namespace_length};
  if (srv->o.parser != &sio_parser_default) /* see on_eio_message */
    c->decoder = srv->o.parser->decoder_new(srv->o.parser, &lim);
  static const eio_socket_handlers h = {on_eio_message, on_eio_close, NULL, on_eio_upgrade};
  eio_socket_set_handlers(conn, &h, c);
  sio_hook_eio_open(c);
  c->connect_timer = evtimer_new(srv->base, connect_timeout_cb, c);
  if (c->connect_timer) {
    struct timeval tv = {srv->o.connect_timeout_ms / 1000,
                         (srv->o.connect_timeout_ms % 1000) * 1000};
    evtimer_add(c->connect_timer, &tv);
  }
  /* Node: a v3 client (Socket.IO protocol v4) joins "/" without asking. */
  if (eio_socket_protocol(conn) == 3) {
    c->refs++;
    sio_client_connect(c, "/", NULL);
    sio_client_unref(c);
  }
}
