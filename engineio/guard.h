/*
 * The front door under abuse: accept backs off when the process is out of
 * file descriptors (no busy loop on a listener that stays readable), logs
 * once per episode (at most one warning a minute: descriptors freed one at
 * a time end and restart episodes), and serves again when descriptors
 * free up; per-address
 * connection limits (concurrent, and a rate); a cap on connections that
 * have not completed a request, the oldest of which make room for new ones.
 */
#ifndef EIO_GUARD_H
#define EIO_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "map.h"
#include "sio/engineio.h"

typedef struct eio_guard {
  struct event *resume;    /* re-enables the listener after a pause */
  unsigned delay_ms;       /* current backoff, 0 when accepting */
  uint64_t episode_start;  /* ms, when this out-of-fds episode began */
  unsigned long refused;   /* accept failures during the episode */
  unsigned quiet;          /* this episode did not warn (one warned < 1 min ago) */
  unsigned long quiet_episodes; /* such episodes since the last warning */
  uint64_t last_warn;      /* ms, when an episode last warned (0: never) */
  sio_map addrs;           /* remote address -> per-address counters */
  size_t fresh;            /* connections that have not completed a request */
  struct eio_conn *fresh_head, *fresh_tail; /* oldest first */
} eio_guard;

struct eio_conn;

int eio_guard_init(eio_server *srv);
void eio_guard_free(eio_server *srv);
/* The listener reported an accept error (errno still set). */
void eio_guard_accept_error(eio_server *srv);
/* A connection from addr was accepted: 0 to serve it, -1 to close it now
 * (a per-address limit). Ends an out-of-fds episode. */
int eio_guard_admit(eio_server *srv, const char *addr);
/* A connection from addr closed. */
void eio_guard_release(eio_server *srv, const char *addr);
/* A new connection has not completed a request yet: listed; when more than
 * max_pending_connections are, the oldest is returned to be closed
 * (slowloris heads make room for new clients), else NULL. */
struct eio_conn *eio_guard_fresh_add(eio_server *srv, struct eio_conn *c);
/* c completed a request head, or closes: unlisted. */
void eio_guard_fresh_del(eio_server *srv, struct eio_conn *c);

#endif
