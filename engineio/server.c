/*
 * The Engine.IO server's lifetime, one replica per loop: options, a new
 * replica, listening and accepting, closing and teardown. The requests its
 * connections read go to route.c; sessions live in session.c.
 *
 * Reference behaviour: Node engine.io 6.6 (../shared/spec/engineio-v4.md).
 */
#include "srv_internal.h"

#include "base64.h"
#include "buf.h"
#include "packet.h"
#include "packet_v3.h"
#include "polling_v3.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

/* ---------------------------------------------------------------- options */

void eio_options_init(eio_options *o) {
  memset(o, 0, sizeof *o);
  o->path = "/engine.io/";
  o->ping_interval_ms = 25000;
  o->ping_timeout_ms = 20000;
  o->upgrade_timeout_ms = 10000;
  o->max_http_buffer_size = 1000000;
  o->transports = EIO_TRANSPORT_POLLING | EIO_TRANSPORT_WEBSOCKET;
  o->allow_upgrades = 1;
  o->max_header_bytes = 16384;
  o->max_headers = 100;
  o->http_headers_timeout_ms = 60000;
  o->http_request_timeout_ms = 300000;
  o->http_keepalive_timeout_ms = 5000;
  o->max_output_bytes = DEFAULT_MAX_OUTPUT;
  o->http_compression = 1;
  o->http_compression_threshold = 1024;
}

static char *xstrdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

/* Keeps an owned copy of s in srv->cors_strings; returns it. */
static const char *keep_string(eio_server *srv, const char *s) {
  if (!s) return NULL;
  char **v = realloc(srv->cors_strings,
                     (srv->n_cors_strings + 1) * sizeof *srv->cors_strings);
  if (!v) return NULL;
  srv->cors_strings = v;
  char *d = xstrdup(s);
  if (!d) return NULL;
  v[srv->n_cors_strings++] = d;
  return d;
}

static __thread char last_error[256];
const char *eio_last_error(void) { return last_error; }

eio_server *eio_rep_new(struct event_base *base, const eio_options *opts) {
  eio_server *srv = calloc(1, sizeof *srv);
  if (!srv) return NULL;
  srv->base = base;
  eio_conn_set_events(srv, &eio_srv_conn_events, srv);
  if (opts) srv->o = *opts;
  else eio_options_init(&srv->o);
  eio_options *o = &srv->o;
  if (!o->transports)
    o->transports = EIO_TRANSPORT_POLLING | EIO_TRANSPORT_WEBSOCKET;
  if (!o->max_output_bytes) o->max_output_bytes = DEFAULT_MAX_OUTPUT;
  if (!o->max_headers) o->max_headers = 100;
  if (o->max_header_bytes < 64) o->max_header_bytes = 64;
  const char *path = o->path ? o->path : "/engine.io/";
  size_t pl = strlen(path);
  srv->path = malloc(pl + 2);
  if (!srv->path) goto fail;
  memcpy(srv->path, path, pl + 1);
  if (pl == 0 || path[pl - 1] != '/') {
    srv->path[pl] = '/';
    srv->path[pl + 1] = '\0';
  }
  o->path = srv->path;
  if (o->cors) {
    srv->cors = *o->cors;
    srv->cors_on = 1;
    if (srv->cors.num_origins) {
      const char **v = calloc(srv->cors.num_origins, sizeof *v);
      if (!v) goto fail;
      for (size_t i = 0; i < srv->cors.num_origins; i++)
        v[i] = keep_string(srv, o->cors->origins[i]);
      srv->cors.origins = v;
    }
    srv->cors.methods = keep_string(srv, o->cors->methods);
    srv->cors.allowed_headers = keep_string(srv, o->cors->allowed_headers);
    srv->cors.exposed_headers = keep_string(srv, o->cors->exposed_headers);
    o->cors = &srv->cors;
  }
  if (o->cookie) {
    srv->cookie = *o->cookie;
    srv->cookie_on = 1;
    srv->cookie.name = keep_string(srv, o->cookie->name ? o->cookie->name : "io");
    srv->cookie.path = keep_string(srv, o->cookie->path ? o->cookie->path : "/");
    srv->cookie.same_site =
        keep_string(srv, o->cookie->same_site ? o->cookie->same_site : "Lax");
    o->cookie = &srv->cookie;
  }
  if (o->per_message_deflate) {
    srv->pmd_opts = *o->per_message_deflate;
    o->per_message_deflate = &srv->pmd_opts;
  }
  last_error[0] = '\0';
  if (o->tls) {
    srv->tls_opts.cert_file = keep_string(srv, o->tls->cert_file);
    srv->tls_opts.key_file = keep_string(srv, o->tls->key_file);
    srv->tls_opts.key_password = keep_string(srv, o->tls->key_password);
    srv->tls_opts.min_version = o->tls->min_version;
    o->tls = &srv->tls_opts;
    srv->tls = eio_tls_ctx_new(&srv->tls_opts, last_error, sizeof last_error);
    if (!srv->tls) goto fail;
  }
  sio_map_init(&srv->sessions);
  if (eio_timers_init(&srv->timers, base) != 0 || eio_budget_init(srv) != 0 || eio_guard_init(srv) != 0) goto fail;
  if (!o->http_headers_timeout_ms ||
      o->http_headers_timeout_ms > o->http_request_timeout_ms)
    o->http_headers_timeout_ms = o->http_request_timeout_ms;
  return srv;
fail:
  eio_rep_teardown(srv);
  eio_rep_release(srv);
  return NULL;
}

/* -------------------------------------------------------------- server */

void eio_accept_here(eio_server *srv, evutil_socket_t fd,
                     const struct sockaddr *sa, int salen,
                     eio_server *admitted_by) {
  eio_conn *c = eio_conn_new(srv, fd, sa, salen);
  if (admitted_by) { /* counted by the acceptor's loop */
    if (c) {
      c->admitted = 1;
      c->admit_srv = admitted_by;
    }
    return;
  }
  if (!c) return;
  if (eio_guard_admit(srv, c->remote_addr) != 0) eio_conn_abort(c);
  else c->admitted = 1;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg) {
  (void)l;
  eio_server *srv = arg;
  if (srv->closing) {
    evutil_closesocket(fd);
    return;
  }
  /* As Node's http server (noDelay: true): a small frame written after a
   * pause (EIO_SEND_ALONE) must not wait for the peer's delayed ACK. */
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (eio_accept_elsewhere(srv, fd, sa, salen)) return; /* single acceptor */
  eio_conn *c = eio_conn_new(srv, fd, sa, salen);
  if (!c) return;
  if (eio_guard_admit(srv, c->remote_addr) != 0) eio_conn_abort(c);
  else c->admitted = 1;
}

static void accept_error_cb(struct evconnlistener *l, void *arg) {
  (void)l;
  eio_guard_accept_error(arg); /* EMFILE and friends: back off */
}

int eio_rep_listen(eio_server *srv, const char *host, uint16_t port,
                   int reuseport) {
  struct sockaddr_storage ss;
  int sl;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    sl = sizeof *in4;
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    sl = sizeof *in6;
  } else {
    return EIO_ERR_INVALID;
  }
  srv->listener = evconnlistener_new_bind(
      srv->base, accept_cb, srv,
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
          (reuseport ? LEV_OPT_REUSEABLE_PORT : 0),
      -1,
      (struct sockaddr *)&ss, sl);
  if (!srv->listener) return EIO_ERR_SYSTEM;
  evconnlistener_set_error_cb(srv->listener, accept_error_cb);
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  if (getsockname(evconnlistener_get_fd(srv->listener),
                  (struct sockaddr *)&bound, &bl) == 0) {
    if (bound.ss_family == AF_INET)
      srv->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    else
      srv->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
  }
  return EIO_OK;
}

int eio_rep_tls_load(eio_server *srv, eio_tls_ctx **out) {
  last_error[0] = '\0';
  if (!srv->tls) {
    snprintf(last_error, sizeof last_error, "this server has no TLS");
    return EIO_ERR_INVALID;
  }
  *out = eio_tls_ctx_new(&srv->tls_opts, last_error, sizeof last_error);
  return *out ? EIO_OK : EIO_ERR_INVALID;
}

void eio_rep_close(eio_server *srv) {
  srv->closing = 1;
  if (srv->budget.sweep) evtimer_del(srv->budget.sweep);
  if (srv->listener) {
    evconnlistener_free(srv->listener);
    srv->listener = NULL;
  }
  /* Every session ends now (Node: close(true), discarding the transport);
   * each leaves the table as it closes. */
  size_t it;
  sio_map_entry *e;
  while ((e = sio_map_first(&srv->sessions, &it))) {
    eio_socket *s = e->value;
    if (s->ready == SOCK_CLOSED) { /* not expected: never leave it listed */
      table_del(srv, s);
      sock_unref(s);
      continue;
    }
    sock_on_close(s, "forced close", NULL);
  }
  /* Idle HTTP connections go; busy ones finish writing and then close. */
  for (eio_conn *c = srv->conns; c; c = c->next) {
    if (c->state == CONN_DEAD || c->close_after_write) continue;
    if (c->state == CONN_WS) {
      eio_conn_ws_close(c, 0);
    } else {
      c->keep_alive = 0;
      if (c->state == CONN_HEAD)
        eio_conn_write_raw_close(c, "", 0);
    }
  }
}

void eio_rep_teardown(eio_server *srv) {
  eio_rep_close(srv);
  eio_conn_free_all(srv);
  sio_map_clear(&srv->sessions);
  eio_budget_free(srv);
  eio_guard_free(srv);
  eio_shutdown_free(srv);
  eio_timers_free(&srv->timers);
  eio_deflater_free(srv->deflater_http);
  eio_deflater_free(srv->deflater_ws);
  srv->deflater_http = srv->deflater_ws = NULL;
}

void eio_rep_release(eio_server *srv) {
  free(srv->path);
  eio_tls_ctx_unref(srv->tls);
  free((void *)srv->cors.origins);
  for (size_t i = 0; i < srv->n_cors_strings; i++) free(srv->cors_strings[i]);
  free(srv->cors_strings);
  free(srv);
}
