/*
 * One Socket.IO server over N event loops: one sio_server replica per
 * Engine.IO replica (sio_options.eio.workers), joined by the loops layer
 * (adapter/loops_adapter.h). Replica 0 is the object the application holds; a
 * pointer to a replica-0 object used on another loop's thread is mapped
 * to that loop's twin here.
 */
#ifndef SIO_REPLICA_H
#define SIO_REPLICA_H
#include <pthread.h>

#include "internal.h"
#include "loops_adapter.h"

typedef struct sio_group {
  size_t n;
  sio_server **reps;       /* reps[0] is the application's */
  sio_loops *loops;
  int listening;           /* set by sio_server_listen: setup is over */
  int cluster;             /* a cluster adapter on loop 0 (atomic) */
  pthread_mutex_t mu;      /* teardown handshake only */
  pthread_cond_t cv;
  size_t torn_down;
  /* Closing: replica 0 finishes (its cluster adapter, the engine) once
   * every other loop closed its sockets (their sessions reach the cluster
   * adapter first). Loop 0's thread only. */
  size_t closing_left;
  int close_graceful, close_finished;
  unsigned close_deadline_ms;
  /* Connected sockets per namespace name over every loop (metrics). */
  pthread_mutex_t gauge_mu;
  sio_map nsp_sockets;     /* name -> long * */
  sio_map room_sockets;    /* nsp "\x1f" room -> long * (rooms with members) */
  size_t *queued;          /* per loop: its sessions' queued output bytes
                            * when it last counted them (atomic; metrics) */
  sio_map children;        /* parent index "\x1f" child -> uint64_t * (loops having it) */
} sio_group;

/* Builds replicas 1..n-1 beside srv (replica 0) and wraps every
 * namespace adapter in the loops layer. 0 or -1. */
int sio_group_new(sio_server *srv, size_t n);
/* The replica of srv running on the calling thread (srv itself off the
 * loops or with one loop). */
sio_server *sio_here(sio_server *srv);
sio_namespace *sio_nsp_here(sio_namespace *nsp);
/* nsp's twin on replica srv (created for a plain namespace when missing).
 * NULL when out of memory. */
sio_namespace *sio_nsp_twin(sio_namespace *nsp, sio_server *srv);
/* The adapter a new namespace of srv gets around inner (owned). */
sio_adapter *sio_group_adapter(sio_server *srv, const char *nsp, sio_adapter *inner);
/* After sio_loops_set_sessions: every other loop's namespace adapters
 * take it, on their loops. */
void sio_group_sessions(sio_server *srv);
/* Connection state recovery with sessions kept by each loop: asks the other
 * loops for pid (sio_loops_restore). 0 (cb runs later, once, on this loop)
 * or -1 (one loop, or out of memory: cb never runs). */
int sio_group_restore(sio_namespace *nsp, const char *pid, const char *offset,
                      sio_restore_cb cb, void *ctx);
/* Recovery channels between loops (2 per loop), 0 with one loop. */
size_t sio_group_channels(const sio_server *srv);
/* Metrics gauges over every loop: delta to namespace name's connected
 * sockets (0 registers the name). Any loop. */
void sio_group_gauge(sio_server *srv, const char *nsp, long delta);
/* Room membership over every loop (a socket joined: +1, left: -1). */
void sio_group_room(sio_server *srv, const char *nsp, const char *room, int joined,
                    int is_sid);
/* fn(name, count, ud) for each namespace, under the gauge lock. */
void sio_group_gauges(sio_server *srv, void (*fn)(const char *nsp, long n, void *ud),
                      void *ud);
/* Dynamic children over every loop: child `name` of parent was made on
 * srv's loop (any loop). */
void sio_group_child(sio_server *srv, sio_namespace *parent, const char *name);
/* A parent namespace's emit (b's namespace is a parent, b is taken, args
 * referenced): every child made on some loop gets it once, from a loop
 * that has it. */
void sio_group_parent_emit(sio_broadcast *b, const char *event, sio_args *args);

/* Replica 0's close/free reaching replicas 1..n-1 (each on its loop).
 * sio_group_close returns 1 when replica 0's end is left to
 * sio_group_close_finish (called when the loops answered, or by free). */
int sio_group_close(sio_server *srv, int graceful, unsigned deadline_ms);
void sio_group_close_finish(sio_server *srv);
void sio_group_teardown(sio_server *srv);
void sio_group_free(sio_server *srv);
#endif
