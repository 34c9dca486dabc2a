/*
 * The adapter interface: who is in which room, and how a broadcast reaches
 * sockets, locally or across a cluster. It mirrors the JavaScript Adapter
 * class (addAll, del, delAll, broadcast, broadcastWithAck, sockets,
 * socketRooms, fetchSockets, addSockets, delSockets, disconnectSockets,
 * serverSideEmit, serverCount). The Socket.IO layer calls it through
 * sio_adapter_ops; the adapter reaches the namespace's local sockets back
 * through sio_adapter_host. The in-memory adapter is the default; a
 * cluster adapter wraps it for the local part.
 */
#ifndef SIO_ADAPTER_H
#define SIO_ADAPTER_H
#include <jansson.h>
#include <stddef.h>

#include "map.h"
#include "sio/buf.h"

/* Broadcast flags (Node's BroadcastFlags). */
enum {
  SIO_BC_VOLATILE = 1,
  SIO_BC_LOCAL = 2,
  SIO_BC_COMPRESS_OFF = 4,
  SIO_BC_EXPECT_SINGLE = 8,
  /* libsio only, never on the wire: the message carries a connection
   * state recovery offset as its last argument; with several event loops
   * each loop keeps it in its own history where it delivers it. */
  SIO_BC_RECOVERY = 16,
};

typedef struct sio_bcast_opts {
  const char *const *rooms;  /* none: every socket of the namespace */
  size_t nrooms;
  const char *const *except; /* sockets in any of these are skipped */
  size_t nexcept;
  unsigned flags;
  unsigned timeout_ms;       /* for acks; 0 = none */
  /* SIO_BC_RECOVERY over several loops: the message's place in the FIFO
   * stream it travels on between loops (set by the loops layer; 0 =
   * not yet). */
  unsigned rec_channel;
  unsigned long long rec_seq;
} sio_bcast_opts;

/* A Socket.IO packet as the adapter sees it (Node's packet object): type
 * EVENT or ACK-less EVENT, arguments as JSON with binary placeholders into
 * bins. The encoded form is built once, on first use, and shared. */
typedef struct sio_msg {
  int type;
  const char *nsp;
  json_t *data;          /* [event, ...args] */
  sio_buf **bins;
  size_t nbins;
  long long id;          /* ack id or -1 */
  /* Encoded once by the Socket.IO layer (its parser), on the first
   * delivery: the text message if the parser writes one (without the
   * Engine.IO type), then binary messages; the adapter never encodes
   * for local delivery and passes these through untouched. */
  sio_buf *enc_text;
  sio_buf **enc_att;
  size_t enc_natt;
} sio_msg;

typedef struct sio_adapter sio_adapter;

/* Callbacks into the namespace that owns the adapter. */
typedef struct sio_adapter_host {
  void *ctx;
  /* Writes msg to local socket sid (encoding it once through msg). With
   * SIO_BC_VOLATILE it is dropped when the socket's transport is not
   * writable. ack: register the broadcast's response callback on that
   * socket under msg->id. Returns 1 when written. */
  int (*deliver)(void *ctx, const char *sid, sio_msg *msg, unsigned flags,
                 void *ack);
  /* A JSON description {id, handshake, rooms, data} of local socket sid. */
  json_t *(*describe)(void *ctx, const char *sid);
  /* Disconnects local socket sid (close: the whole connection). */
  void (*disconnect)(void *ctx, const char *sid, int close);
  /* Broadcast acks crossing servers. ack_ref/ack_unref keep an ack
   * object (from broadcast_with_ack) alive while a remote answer may come;
   * ack_remote hands it one remote client's first ack argument. */
  void *(*ack_ref)(void *ack);
  void (*ack_unref)(void *ack);
  void (*ack_remote)(void *ack, const json_t *value, sio_buf *const *bins,
                     size_t nbins);
  /* An ack object whose every client answer goes to fn (for a broadcast
   * with ack that another server asked for); release with ack_unref. */
  void *(*ack_relay)(void *ctx, void (*fn)(void *ud, const json_t *value,
                                           sio_buf *const *bins, size_t nbins),
                     void *ud, void (*ud_free)(void *ud), unsigned timeout_ms);
  /* A server-side event from another server (serverSideEmit); reply is
   * non-NULL when an answer is wanted: call it once with the first
   * argument, then it is freed. */
  /* The namespace's next ack id (for a broadcast with ack relayed from
   * another server). */
  long long (*next_ack_id)(void *ctx);
  void (*server_side)(void *ctx, const json_t *data, sio_buf *const *bins,
                      size_t nbins, void (*reply)(void *rctx, const json_t *value,
                                                  sio_buf *const *bins, size_t nbins),
                      void *rctx);
  /* Connection state recovery: maxDisconnectionDuration in ms, 0 when
   * recovery is off (an adapter that keeps sessions needs both). */
  unsigned recovery_ms;
  /* Local socket sid joined (1) or left (0) room: Node's adapter events
   * "join-room" / "leave-room". May be NULL. */
  void (*room_changed)(void *ctx, const char *sid, const char *room, int joined);
  /* The local part a cluster adapter wraps, owned by it; NULL: the
   * in-memory adapter. With several loops it is the loops layer, whose
   * fetch_sockets and broadcast_with_ack counts answer later. */
  struct sio_adapter *(*local_new)(void *ctx);
} sio_adapter_host;

/* Connection state recovery kept by a cluster adapter (the JS
 * SessionAwareAdapter's persistSession / restoreSession). A session as it
 * is stored: pointers valid during the call only. */
typedef struct sio_session {
  const char *sid, *pid;
  const json_t *data;
  const char *const *rooms; /* every room, the socket's own id included */
  size_t nrooms;
} sio_session;

/* One missed packet: [event, ...args, offset], binary as placeholders
 * into bins. */
typedef struct sio_restored_packet {
  json_t *data;
  sio_buf **bins;
  size_t nbins;
} sio_restored_packet;

typedef struct sio_restored {
  char sid[32], pid[32];
  json_t *data;
  char **rooms;
  size_t nrooms;
  sio_restored_packet *packets;
  size_t npackets;
  /* A session found on another event loop of this process: instead of
   * packets, for each loops-layer channel the last sequence number the
   * client had seen (the missed packets are taken from the restoring
   * loop's own history). NULL otherwise. */
  unsigned long long *seen;
  size_t nseen;
} sio_restored;

/* r is NULL when there is nothing to restore (no session, offset gone,
 * Redis unreachable, server closing). r belongs to the adapter and is
 * valid during the call only: take references to keep parts of it. */
typedef void (*sio_restore_cb)(void *ctx, const sio_restored *r);

typedef void (*sio_count_cb)(void *ctx, size_t clients);
/* err: 0, or SIO_ERR_TIMEOUT (-7) with what arrived. sockets is owned. */
typedef void (*sio_fetch_cb)(void *ctx, int err, json_t *sockets);
/* serverSideEmit with ack: err 0 or SIO_ERR_TIMEOUT, responses (owned
 * array of first arguments, binary as placeholders into bins). */
typedef void (*sio_sse_cb)(void *ctx, int err, json_t *responses,
                           sio_buf *const *bins, size_t nbins);

typedef struct sio_adapter_ops {
  void (*free)(sio_adapter *a);
  int (*add_all)(sio_adapter *a, const char *sid, const char *const *rooms,
                 size_t n);
  void (*del)(sio_adapter *a, const char *sid, const char *room);
  void (*del_all)(sio_adapter *a, const char *sid);
  void (*broadcast)(sio_adapter *a, sio_msg *msg, const sio_bcast_opts *o);
  /* Sends msg (its id set) to every target, registering ack on each;
   * client_count(ctx, n) is called once per server with the number of
   * clients reached there. */
  void (*broadcast_with_ack)(sio_adapter *a, sio_msg *msg,
                             const sio_bcast_opts *o, sio_count_cb client_count,
                             void *ack, void *ctx);
  /* Fills out (a set: keys only) with the ids of local sockets in rooms. */
  void (*sockets)(sio_adapter *a, const char *const *rooms, size_t n,
                  sio_map *out);
  /* The rooms of local socket sid (a set), or NULL. */
  const sio_map *(*socket_rooms)(sio_adapter *a, const char *sid);
  void (*fetch_sockets)(sio_adapter *a, const sio_bcast_opts *o,
                        sio_fetch_cb cb, void *ctx);
  void (*add_sockets)(sio_adapter *a, const sio_bcast_opts *o,
                      const char *const *rooms, size_t n);
  void (*del_sockets)(sio_adapter *a, const sio_bcast_opts *o,
                      const char *const *rooms, size_t n);
  void (*disconnect_sockets)(sio_adapter *a, const sio_bcast_opts *o,
                             int close);
  /* Locally a no-op, as in Node (cb, when given, gets no responses at
   * once); cluster adapters publish it. */
  void (*server_side_emit)(sio_adapter *a, sio_msg *msg, sio_sse_cb cb,
                           void *ctx);
  /* How many servers share this namespace, this one included. */
  void (*server_count)(sio_adapter *a, sio_count_cb cb, void *ctx);
  /* Every room of the local sockets (a set), for allRooms. */
  void (*rooms)(sio_adapter *a, sio_map *out);
  /* Optional (NULL in the in-memory and Redis pub/sub adapters): an
   * adapter that keeps sessions itself. With them, the adapter appends
   * the offset to qualifying broadcasts (EVENT, no ack id, not volatile,
   * host.recovery_ms set) and the Socket.IO layer keeps nothing.
   * restore_session calls cb exactly once, possibly before returning. */
  void (*persist_session)(sio_adapter *a, const sio_session *s);
  void (*restore_session)(sio_adapter *a, const char *pid, const char *offset,
                          sio_restore_cb cb, void *ctx);
  /* Optional: how many sockets are in room over the whole process (the
   * loops layer, whose sockets() sees its own loop only); NULL: count
   * what sockets() gives. */
  size_t (*room_size)(sio_adapter *a, const char *room);
  /* Optional: the sockets of room (a socket's own room when is_sid) came
   * or went on another loop of the process: a cluster adapter that gives
   * rooms their own channel subscribes or unsubscribes now. */
  void (*room_sync)(sio_adapter *a, const char *room, int is_sid);
} sio_adapter_ops;

/* a->ops->room_size, or the count of a->ops->sockets. */
size_t sio_adapter_room_size(sio_adapter *a, const char *room);

struct sio_adapter {
  const sio_adapter_ops *ops;
  sio_adapter_host host;
};

/* Drops the cached encoding of msg (not data/bins: the owner's). */
void sio_msg_release(sio_msg *msg);

/* The in-memory adapter. */
sio_adapter *sio_memory_adapter_new(const sio_adapter_host *host);
#endif
