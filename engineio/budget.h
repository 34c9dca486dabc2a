/*
 * Output limits of an Engine.IO server, as Redis bounds its clients: a hard
 * limit per socket, a soft limit held for a time, and a limit on the bytes
 * queued over all sockets of the server (when it is exceeded, the sockets
 * holding the most are closed first). Also gives memory back to the system
 * at quiet moments after a burst (malloc_trim).
 *
 * The accounting is incremental (each socket's last known backlog, added to
 * a server total) and corrected by a sweep every 200 ms while anything is
 * queued, since libevent drains output without telling us each time.
 */
#ifndef EIO_BUDGET_H
#define EIO_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "sio/engineio.h"

typedef struct eio_budget {
  size_t total;            /* accounted bytes over all sockets */
  size_t peak;             /* highest process total seen since the last trim */
  uint64_t quiet_since_ms; /* when the process went quiet after it */
  struct event *sweep;     /* runs while anything is queued or to trim */
  unsigned quiet_sweeps;   /* consecutive sweeps with little queued */
  int sweeping;
} eio_budget;

/* Per-socket state, a field of eio_socket. */
typedef struct eio_budget_sock {
  size_t acct;             /* this socket's share of total */
  uint32_t soft_since_ms;  /* when its backlog went over the soft limit */
  uint32_t in_last_ms;     /* (low 32 bits of CLOCK_MONOTONIC ms, never 0: */
  float in_tokens;         /*  0 is unset; wrapping differences) */
} eio_budget_sock;

int eio_budget_init(eio_server *srv);
void eio_budget_free(eio_server *srv);
/* Re-reads s's backlog after a send or a drain and applies the limits: the
 * soft limit to s, the total to every socket (largest first). May close
 * sockets, s among them (through eio_srv_sock_drop). */
void eio_budget_account(eio_socket *s);
/* s closes: its share leaves the total. */
void eio_budget_forget(eio_socket *s);
/* 0 when a volatile packet for s should be dropped rather than queued: s
 * has a backlog, or the server is over half its total budget. */
int eio_budget_volatile_ok(const eio_socket *s);
/* A message came from s: 0 while it is within max_inbound_packets_per_sec
 * (a bucket holding one second's worth), -1 past it. */
int eio_budget_inbound(eio_socket *s);

#endif
