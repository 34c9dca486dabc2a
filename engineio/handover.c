/*
 * Requests for a session of another loop. A long-polling client behind no
 * sticky routing (a new TCP connection per request, or a keep-alive
 * connection the kernel gave to another loop) and a WebSocket upgrade may
 * land on any loop: the connection moves, whole, to the loop that owns the
 * session (named by the session id's first character), which serves the
 * request from the bytes already read.
 */
#include "internal.h"

#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

static void adopt_task(eio_server *target, void *arg, int cancelled) {
  eio_conn_move *m = arg;
  if (cancelled) {
    if (m->secure) eio_tls_moved_free(&m->tls);
    evutil_closesocket(m->fd);
    free(m->in);
    free(m->out);
  } else {
    eio_conn_move_in(target, m);
  }
  free(m);
}

int eio_handover(eio_conn *c, const char *query, size_t ql) {
  eio_server *srv = c->srv;
  if (!srv->grp || srv->grp->n <= 1) return 0;
  char sid[64];
  if (eio_http_query_get(query, ql, "sid", sid, sizeof sid) <= 0) return 0;
  size_t owner = eio_sid_loop(srv, sid);
  if (owner == srv->idx || owner >= srv->grp->n) return 0;
  eio_conn_move *m = malloc(sizeof *m);
  if (!m) return 0;
  int r = eio_conn_move_out(c, m);
  if (r != 0) {
    free(m); /* -1: served here (the session is unknown on this loop) */
    return r == -2;
  }
  if (eio_server_post(srv->grp->reps[owner], adopt_task, m) != 0)
    adopt_task(srv->grp->reps[owner], m, 1);
  return 1;
}

/* ---- one acceptor handing sockets out in turn (the default without reuseport) ---- */

typedef struct accepted {
  evutil_socket_t fd;
  struct sockaddr_storage sa;
  int salen;
  char addr[48];
} accepted;

static void release_task(eio_server *target, void *arg, int cancelled) {
  if (!cancelled) eio_guard_release(target, arg);
  free(arg);
}

void eio_handover_release(eio_server *at, const char *addr) {
  size_t n = strlen(addr) + 1;
  char *copy = malloc(n);
  if (!copy) return; /* the address keeps one count too many */
  memcpy(copy, addr, n);
  if (eio_server_post(at, release_task, copy) != 0) free(copy);
}

static void accepted_task(eio_server *target, void *arg, int cancelled) {
  accepted *a = arg;
  eio_server *acceptor = target->grp->reps[0];
  if (cancelled || target->closing) {
    evutil_closesocket(a->fd);
    if (!cancelled) eio_handover_release(acceptor, a->addr);
  } else {
    eio_conn *before = target->conns;
    eio_accept_here(target, a->fd, (struct sockaddr *)&a->sa, a->salen, acceptor);
    if (target->conns == before) /* not served (out of memory) */
      eio_handover_release(acceptor, a->addr);
  }
  free(a);
}

/* The textual address, as eio_conn_new writes it. */
static void addr_text(const struct sockaddr *sa, char out[48]) {
  out[0] = '\0';
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, 48);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, 48);
}

int eio_accept_elsewhere(eio_server *srv, evutil_socket_t fd,
                         const struct sockaddr *sa, int salen) {
  eio_group *g = srv->grp;
  if (!g || g->n <= 1 || srv->o.reuseport) return 0;
  size_t to = g->next_loop++ % g->n;
  if (to == srv->idx) return 0;
  accepted *a = malloc(sizeof *a);
  if (!a || salen < 0 || (size_t)salen > sizeof a->sa) {
    free(a);
    return 0;
  }
  a->fd = fd;
  memcpy(&a->sa, sa, (size_t)salen);
  a->salen = salen;
  addr_text(sa, a->addr);
  if (eio_guard_admit(srv, a->addr) != 0) { /* a per-address limit */
    evutil_closesocket(fd);
    free(a);
    return 1;
  }
  if (eio_server_post(g->reps[to], accepted_task, a) != 0) {
    eio_guard_release(srv, a->addr);
    free(a);
    return 0;
  }
  return 1;
}
