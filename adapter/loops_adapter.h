/*
 * The in-process "loops" layer: one server spread over N event loops (one
 * replica of each namespace per loop) behaves as one server. Each
 * replica's adapter is a loops adapter wrapping that loop's in-memory
 * adapter; operations that reach sockets (broadcasts with every flag,
 * broadcast acks, fetchSockets, socketsJoin/Leave, disconnectSockets) run
 * on the calling loop and are posted, as messages, to every other loop.
 * serverSideEmit and serverCount are the inner adapter's: loops are not
 * servers. With a cluster adapter it lives on loop 0 only, around loop 0's
 * loops adapter; the other loops forward cluster-wide work to it. A broadcast is encoded once on the calling loop; its encoded
 * buffers are marked shared and handed to every loop.
 *
 * Threads: a loops adapter is used only on its own loop's thread. The
 * group (sio_loops) is made and freed on the creating thread while no loop
 * thread runs, or after they all stopped; post may be called from any loop.
 */
#ifndef SIO_LOOPS_ADAPTER_H
#define SIO_LOOPS_ADAPTER_H
#include <stddef.h>

#include "adapter.h"

typedef struct sio_loops sio_loops;

/* A message to a loop: run(t, 0) on the target loop's thread, or run(t, 1)
 * (on whichever thread frees the server) when it can no longer run; either
 * way run frees t. */
typedef struct sio_loops_task {
  void (*run)(struct sio_loops_task *t, int cancelled);
} sio_loops_task;

typedef struct sio_loops_env {
  size_t n;   /* loops */
  void *ctx;
  /* Queues t for loop `to`; 0, or -1 (t untouched) when out of memory. */
  int (*post)(void *ctx, size_t to, sio_loops_task *t);
  /* Encodes msg (its cached encoding) the way deliver will. 0 or -1. */
  int (*encode)(void *ctx, sio_msg *msg);
  /* Marks a buffer as crossing loops (atomic counts from now on). */
  void (*share)(sio_buf *b);
  /* On loop `loop`'s thread: that loop's namespace adapter for nsp (made
   * when missing), the one a cluster adapter wraps on loop 0. */
  sio_adapter *(*front)(void *ctx, size_t loop, const char *nsp);
  /* Any loop: sockets in room of nsp over every loop. */
  size_t (*room_size)(void *ctx, const char *nsp, const char *room);
  /* On loop `loop`'s thread, where a message with SIO_BC_RECOVERY is
   * delivered: keep it in that loop's recovery history of nsp. */
  void (*record)(void *ctx, size_t loop, const char *nsp, const sio_msg *msg,
                 const sio_bcast_opts *o);
  /* On loop `loop`'s thread: the session pid of nsp if that loop keeps it
   * and offset is in its history (taken out: it is restored once), with
   * `seen` filled instead of packets; NULL otherwise. The result is the
   * caller's (freed as the loops layer frees a sio_restored: its JSON,
   * rooms, packets with their buffer references, seen). */
  sio_restored *(*restore)(void *ctx, size_t loop, const char *nsp, const char *pid,
                           const char *offset);
  /* Adds (keys only) every room of namespace nsp that has a member on
   * some loop; any loop. NULL: this loop's rooms. */
  void (*rooms)(void *ctx, const char *nsp, sio_map *out);
} sio_loops_env;

/* NULL when out of memory. env is copied. */
sio_loops *sio_loops_new(const sio_loops_env *env);
/* With a cluster adapter (Redis) on loop 0 wrapping loop 0's loops
 * adapter: the other loops forward what must leave the process (every
 * operation without the `local` flag, serverSideEmit, serverCount) to it.
 * Set while no loop thread runs. */
void sio_loops_set_forward(sio_loops *g, int on);
/* The cluster adapter keeps sessions (connection state recovery: the
 * streams adapter): the other loops' adapters forward persist_session and
 * restore_session to it. Set with sio_loops_set_forward; an existing
 * adapter takes it with sio_loops_adapter_sessions on its own loop. */
void sio_loops_set_sessions(sio_loops *g, int on);
void sio_loops_adapter_sessions(sio_adapter *a);
/* On loop idx's thread, nsp's loops adapter living there: asks every
 * other loop for session pid (sessions kept per loop, no cluster adapter
 * keeping them). cb runs once on this loop, later: with the session found
 * (seen filled, no packets), or NULL. -1 (cb never runs) when there is no
 * other loop or out of memory. */
int sio_loops_restore(sio_loops *g, size_t idx, const char *nsp, const char *pid,
                      const char *offset, sio_restore_cb cb, void *ctx);
/* After every loops adapter was freed. */
void sio_loops_free(sio_loops *g);

/* The layer of namespace nsp on loop idx around inner (owned). Other loops
 * reach it by (idx, nsp) while it lives. NULL when out of memory (inner is
 * freed then). */
sio_adapter *sio_loops_adapter_new(sio_loops *g, size_t idx, const char *nsp,
                                   sio_adapter *inner);
#endif
