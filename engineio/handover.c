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
