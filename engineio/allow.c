/*
 * Asynchronous allowRequest: the handshake request waits (its connection
 * in CONN_WAIT, reading nothing more than the pipelining bound) until the
 * application answers through the eio_allow handle. The handle and the
 * connection point at each other; whichever goes first detaches the other,
 * so a late answer for a connection that closed meanwhile is a no-op, and
 * a connection never outlives into a freed handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct eio_allow {
  eio_conn *c;          /* NULL once the connection went away */
  int transport;
  char version[8];
  eio_socket req;       /* only its copy of the request is used */
};

int eio_allow_start(eio_conn *c, int transport, const char *version) {
  eio_allow *a = calloc(1, sizeof *a);
  if (!a) return -1;
  if (eio_srv_copy_request(&a->req, c) != 0) {
    free(a);
    return -1;
  }
  a->c = c;
  a->transport = transport;
  snprintf(a->version, sizeof a->version, "%s", version);
  c->allow = a;
  eio_server *srv = c->srv;
  /* The answer may come from inside this call: nothing touches a after. */
  srv->o.allow_request_async(eio_socket_request(&a->req), a, srv->o.allow_request_user_data);
  return 0;
}

void eio_allow_conn_gone(void *arg, eio_conn *c) {
  (void)arg;
  c->allow->c = NULL;
  c->allow = NULL;
}

/* Detaches a from its connection (if any) and frees it; returns the
 * connection still waiting for the answer, or NULL. */
static eio_conn *take(eio_allow *a) {
  eio_conn *c = a->c;
  if (c) c->allow = NULL;
  eio_srv_free_request(&a->req);
  return c;
}

void eio_allow_accept(eio_allow *a) {
  if (!a) return;
  int t = a->transport;
  char version[8];
  memcpy(version, a->version, sizeof version);
  eio_conn *c = take(a);
  free(a);
  if (c) eio_srv_allowed(c, t, version);
}

void eio_allow_refuse(eio_allow *a, const char *message) {
  if (!a) return;
  eio_conn *c = take(a);
  free(a);
  if (c) eio_srv_refused(c, message);
}
