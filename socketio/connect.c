/*
 * Connecting a client to a namespace: the handshake object, the socket,
 * connection state recovery lookup, the CONNECT reply.
 * Split out of server.c; see internal.h for what the files share.
 */
#include "internal.h"
#include "replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "http.h"
#include "hooks.h"
#include "recovery.h"
#include "sio/log.h"

/* ---------------------------------------------------------- connecting */

json_t *sio_query_object(const char *q) {
  json_t *o = json_object();
  size_t len = strlen(q), i = 0;
  while (i < len) {
    size_t s = i;
    while (i < len && q[i] != '&') i++;
    size_t e = i++;
    if (e == s) continue;
    const char *eq = memchr(q + s, '=', e - s);
    size_t kl = eq ? (size_t)(eq - (q + s)) : e - s;
    char *k = malloc(kl + 1), *v = malloc(e - s + 1);
    if (!k || !v) {
      free(k);
      free(v);
      break;
    }
    long kn = eio_http_pct_decode(q + s, kl, k, 1);
    k[kn] = '\0';
    long vn = eq ? eio_http_pct_decode(eq + 1, e - s - kl - 1, v, 1) : 0;
    v[vn] = '\0';
    json_t *prev = json_object_get(o, k);
    if (!prev) json_object_set_new(o, k, json_stringn(v, (size_t)vn));
    else if (json_is_array(prev)) json_array_append_new(prev, json_stringn(v, (size_t)vn));
    else json_object_set_new(o, k, json_pack("[O,s%]", prev, v, (size_t)vn));
    free(k);
    free(v);
  }
  return o;
}

/* Node's socket.handshake. */
json_t *sio_build_handshake(sio_client *c, json_t *auth,
                               const struct timeval *issued) {
  const eio_request *r = eio_socket_request(c->conn);
  json_t *headers = json_object();
  for (size_t i = 0; i < r->num_headers; i++) {
    char name[256];
    size_t n = strlen(r->header_names[i]);
    if (n >= sizeof name) n = sizeof name - 1;
    for (size_t k = 0; k < n; k++) {
      char ch = r->header_names[i][k];
      name[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    name[n] = '\0';
    json_t *prev = json_object_get(headers, name);
    if (prev && json_is_string(prev)) {
      /* Node joins repeated headers with ", " */
      char *j;
      if (asprintf(&j, "%s, %s", json_string_value(prev), r->header_values[i]) >= 0) {
        json_object_set_new(headers, name, json_string(j));
        free(j);
      }
    } else {
      json_object_set_new(headers, name, json_string(r->header_values[i]));
    }
  }
  struct timeval tv = *issued;
  char when[96];
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  strftime(when, sizeof when, "%a %b %d %Y %H:%M:%S GMT%z", &tm);
  if (tm.tm_gmtoff == 0) strcat(when, " (Coordinated Universal Time)");
  return json_pack("{s:o,s:s,s:s,s:b,s:b,s:I,s:s,s:o,s:O}", "headers", headers,
                   "time", when, "address", r->remote_address, "xdomain",
                   eio_request_header(r, "origin") != NULL, "secure", r->secure,
                   "issued",
                   (json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, "url",
                   r->url, "query", sio_query_object(r->query), "auth", auth);
}

static sio_socket *socket_new(sio_namespace *nsp, sio_client *c, json_t *auth) {
  sio_socket *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->nsp = nsp;
  s->client = c;
  s->refs = 1; /* the client's list */
  s->id = s->id_buf;
  s->auth = json_incref(auth);
  gettimeofday(&s->issued, NULL);
  s->v3 = eio_socket_protocol(c->conn) == 3;
  int idr;
  if (s->v3) { /* Node: the Engine.IO id, prefixed by the namespace */
    const char *eid = eio_socket_id(c->conn);
    if (strcmp(nsp->name, "/") == 0) {
      snprintf(s->id_buf, sizeof s->id_buf, "%s", eid);
      idr = 0;
    } else {
      idr = asprintf(&s->id, "%s#%s", nsp->name, eid) < 0 ? -1 : 0;
      if (idr) s->id = s->id_buf;
    }
  } else {
    idr = eio_generate_id(s->id);
  }
  if (!s->auth || idr != 0 || eio_generate_id(s->pid) != 0) {
    sio_sock_unref(s);
    return NULL;
  }
  s->cnext = c->sockets;
  c->sockets = s;
  return s;
}

void sio_connect_refused(sio_socket *s, const char *message, json_t *data) {
  sio_client *c = s->client;
  json_t *err;
  if (s->v3) /* protocol v4: the error's data, or its message */
    err = data ? data : json_string(message ? message : "");
  else {
    err = json_pack("{s:s}", "message", message ? message : "");
    if (data) json_object_set_new(err, "data", data);
  }
  sio_send_packet(c, SIO_PACKET_CONNECT_ERROR, s->nsp->name, SIO_NO_ACK, err, NULL, 0);
  json_decref(err);
  s->state = SOCK_GONE;
  sio_client_remove_socket(c, s);
}

/* Node's _doConnect: the socket joins its own room, the CONNECT reply goes
 * out, then the connection handlers run. */
void sio_do_connect(sio_socket *s) {
  sio_client *c = s->client;
  sio_namespace *nsp = s->nsp;
  if (sio_map_put(&nsp->sockets, s->id, s) < 0) {
    sio_connect_refused(s, "out of memory", NULL);
    return;
  }
  sio_sock_ref(s); /* the namespace's */
  s->state = SOCK_CONNECTED;
  sio_join(s, s->id);
  /* v3 clients get a bare CONNECT; the reply is read alone (see
   * EIO_SEND_ALONE) so the first event after it is never missed. */
  json_t *reply = NULL; /* {"sid": id[, "pid": pid]}, without json_pack */
  if (!s->v3 && (reply = json_object())) {
    json_object_set_new_nocheck(reply, "sid", json_string_nocheck(s->id));
    if (nsp->rec)
      json_object_set_new_nocheck(reply, "pid", json_string_nocheck(s->pid));
  }
  sio_send_packet(c, SIO_PACKET_CONNECT, nsp->name, SIO_NO_ACK, reply, NULL,
              SIO_WRITE_ALONE);
  json_decref(reply);
  if (c->connect_timer) { /* one CONNECT is enough: not kept while idle */
    event_free(c->connect_timer);
    c->connect_timer = NULL;
  }
  sio_log(SIO_LOG_DEBUG, "sio:socket", "connected id=%s nsp=%s recovered=%d", s->id,
          nsp->name, s->recovered);
  sio_sock_ref(s);
  sio_hook_connected(s);
  for (size_t i = 0; i < nsp->nconns && s->state == SOCK_CONNECTED; i++)
    ((sio_connection_fn)nsp->conns[i].fn)(s, nsp->conns[i].ud);
  sio_sock_unref(s);
}


static void client_connect_socket(sio_client *c, sio_namespace *nsp, json_t *a,
                                  sio_recovered *restored);

/* A session looked up by the adapter (in Redis): the CONNECT goes on,
 * unless the client or the server went meanwhile. */
static void client_restored(void *ctx, sio_namespace *nsp, json_t *auth,
                            sio_recovered *prev) {
  sio_client *c = ctx;
  if (!c->closed && !c->srv->closing && nsp) {
    client_connect_socket(c, nsp, auth, prev); /* takes auth */
  } else {
    if (prev) sio_recovered_clear(prev);
    json_decref(auth);
  }
  sio_client_unref(c);
}

/* A CONNECT for a namespace this client is not in yet. */
void sio_client_connect(sio_client *c, const char *name, json_t *auth) {
  sio_server *srv = c->srv;
  sio_namespace *nsp = sio_map_get(&srv->nsps, name);
  if (!nsp) {
    for (size_t i = 0; i < srv->nparents && !nsp; i++) {
      sio_namespace *p = srv->parents[i];
      int ok = p->has_re ? regexec(&p->re, name, 0, NULL, 0) == 0
                         : p->match(name, auth, p->match_ud);
      if (!ok) continue;
      nsp = sio_map_get(&srv->nsps, name);
      if (nsp) break;
      nsp = sio_nsp_create(srv, name);
      if (!nsp) break;
      /* The child inherits its parent's middlewares and handlers. */
      if (p->nmws) {
        nsp->mws = malloc(p->nmws * sizeof *nsp->mws);
        if (nsp->mws) {
          memcpy(nsp->mws, p->mws, p->nmws * sizeof *nsp->mws);
          nsp->nmws = p->nmws;
        }
      }
      if (p->nconns) {
        nsp->conns = malloc(p->nconns * sizeof *nsp->conns);
        if (nsp->conns) {
          memcpy(nsp->conns, p->conns, p->nconns * sizeof *nsp->conns);
          nsp->nconns = p->nconns;
        }
      }
      nsp->parent = p;
      sio_namespace **ch = realloc(p->children, (p->nchildren + 1) * sizeof *ch);
      if (ch) {
        p->children = ch;
        ch[p->nchildren++] = nsp;
      }
      if (c->srv->group) sio_group_child(c->srv, p, name);
    }
  }
  if (!nsp) {
    json_t *err = json_pack("{s:s}", "message", "Invalid namespace");
    sio_send_packet(c, SIO_PACKET_CONNECT_ERROR, name, SIO_NO_ACK, err, NULL, 0);
    json_decref(err);
    return;
  }
  json_t *a = json_incref(auth ? auth : c->srv->empty_auth);
  /* Engine.IO v3 (socket.io-client 2.x) clients have no recovery. */
  int can_recover = nsp->rec && eio_socket_protocol(c->conn) != 3;
  sio_recovered prev = {0};
  if (can_recover && sio_recovery_restore(nsp, a, &prev) == 0) { /* kept here */
    client_connect_socket(c, nsp, a, &prev);
    return;
  }
  if (can_recover) {
    /* Kept by the adapter (Redis), or by another loop of this process. */
    c->refs++; /* until client_restored, which may run before this returns */
    int started = sio_recovery_restore_async(nsp, a, client_restored, c);
    if (started) {
      json_decref(a);
      return;
    }
    c->refs--;
  }
  client_connect_socket(c, nsp, a, NULL);
}

/* After the namespace was found (and a session looked for): the socket,
 * recovered when prev is given, then the middlewares. */
static void client_connect_socket(sio_client *c, sio_namespace *nsp, json_t *a,
                                  sio_recovered *restored) {
  sio_server *srv = c->srv;
  sio_recovered prev = {0};
  int recovered = restored != NULL;
  if (restored) prev = *restored;
  sio_socket *s = socket_new(nsp, c, a);
  json_decref(a);
  if (!s) {
    sio_recovered_clear(&prev);
    sio_client_close(c, "forced server close");
    return;
  }
  if (recovered) {
    /* Same id, pid, rooms and data; the missed packets go out before the
     * CONNECT reply (the client buffers them). */
    snprintf(s->id_buf, sizeof s->id_buf, "%s", prev.sid);
    snprintf(s->pid, sizeof s->pid, "%s", prev.pid);
    sio_socket_set_data(s, json_incref(prev.data));
    s->recovered = 1;
    for (size_t i = 0; i < prev.nrooms; i++) {
      const char *r[1] = {prev.rooms[i]};
      nsp->adapter->ops->add_all(nsp->adapter, s->id, r, 1);
    }
    for (size_t i = 0; i < prev.npackets; i++)
      sio_send_packet(c, SIO_PACKET_EVENT, nsp->name, SIO_NO_ACK,
                  prev.packets[i]->arr, prev.packets[i], 0);
    sio_recovered_clear(&prev);
    if (srv->o.recovery_skip_middlewares) {
      sio_do_connect(s);
      return;
    }
  }
  sio_mw_connect(s);
}
