/*
 * Connection state recovery (Node's connectionStateRecovery and its
 * SessionAwareAdapter): broadcast EVENTs without ack and not volatile get
 * an offset (a last argument) and are kept; a socket that leaves for a
 * recoverable reason leaves its session {sid, pid, rooms, data}; a client
 * that comes back with {pid, offset} within maxDisconnectionDuration gets
 * the same socket back and the packets it missed.
 */
#ifndef SIO_RECOVERY_H
#define SIO_RECOVERY_H
#include "internal.h"

typedef struct sio_recovered {
  char sid[24], pid[24];
  json_t *data;
  char **rooms;
  size_t nrooms;
  sio_args **packets; /* each: [event, ...args, offset] with its buffers */
  size_t npackets;
} sio_recovered;

struct nsp_recovery *sio_nsp_recovery_new(sio_namespace *nsp);
void sio_nsp_recovery_free(struct nsp_recovery *r);
/* Stops the periodic purge (server closing: the loop may then end). */
void sio_nsp_recovery_stop(struct nsp_recovery *r);
/* Adds the offset and keeps the packet when it qualifies, then hands it
 * to the adapter. msg->data must be the caller's own array. */
void sio_recovery_broadcast(sio_namespace *nsp, sio_msg *msg,
                            const sio_bcast_opts *o);
/* socket.emit with recovery on: a broadcast to the socket's own room. */
int sio_recovery_emit_to_socket(sio_socket *s, sio_msg *msg);
void sio_recovery_persist(sio_socket *s);
/* 0 and *out filled when auth's {pid, offset} names a live session whose
 * offset is still kept; -1 otherwise. */
int sio_recovery_restore(sio_namespace *nsp, const json_t *auth,
                         sio_recovered *out);
void sio_recovered_clear(sio_recovered *r);
/* Several loops, on the loop where msg (SIO_BC_RECOVERY) is delivered:
 * keeps it in this loop's history with its offset (its last argument) and
 * its channel and sequence number. */
void sio_recovery_record(sio_namespace *nsp, const sio_msg *msg, const sio_bcast_opts *o);
/* Several loops, asked by another loop: session pid if it is kept here and
 * offset is in this loop's history, taken out, with what its client had
 * seen of each channel (no packets: the restoring loop replays from its own
 * history); NULL otherwise. Freed as the loops layer frees a sio_restored. */
sio_restored *sio_recovery_take(sio_namespace *nsp, const char *pid, const char *offset);
/* With an adapter that keeps sessions (restore_session), or several loops
 * (sessions kept by each, sio_recovery_restore not finding it here), and
 * auth holding
 * string pid and offset: starts the lookup and returns 1; cb then runs
 * exactly once (maybe before this returns) with its own reference to
 * auth and prev NULL (new session) or filled (cb clears it). Else 0. */
typedef void (*sio_recovery_cb)(void *ctx, sio_namespace *nsp, json_t *auth,
                                sio_recovered *prev);
int sio_recovery_restore_async(sio_namespace *nsp, json_t *auth, sio_recovery_cb cb,
                               void *ctx);
#endif
