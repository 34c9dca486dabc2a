/*
 * The request bookkeeping every cluster adapter shares (what Node's
 * ClusterAdapter class does for both @socket.io/redis-adapter and
 * @socket.io/redis-streams-adapter): requests waiting for the other
 * servers' answers (fetchSockets, serverSideEmit with ack, broadcast with
 * ack) by id, their timers, counting answers against the server count, and
 * answering the requests of other servers through the local adapter and
 * the namespace (sio_adapter_host). How a request or an answer travels
 * (channels, envelopes, encodings) stays in the adapter: it is handed in as
 * a sio_creq_transport. Also the option encoding both protocols share
 * (encodeOptions / decodeOptions) and the random ids.
 *
 * No Redis here, no I/O: only libevent timers on the base given.
 */
#ifndef SIO_CLUSTER_REQ_H
#define SIO_CLUSTER_REQ_H
#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>

#include "adapter.h"
#include "map.h"
#include "notepack.h"

/* What a request waits for. */
enum { SIO_CREQ_FETCH, SIO_CREQ_SSE, SIO_CREQ_BCAST };

/* One answer to a request, whatever the protocol spelled it as: a client
 * count or one client's ack (broadcast with ack), the sockets of a server
 * (fetchSockets), a server's answer (serverSideEmit). */
enum { SIO_CREQ_ANS_COUNT, SIO_CREQ_ANS_ACK, SIO_CREQ_ANS_SOCKETS, SIO_CREQ_ANS_SSE };

/* A request as it is to be published (pointers valid during the call). */
typedef struct sio_creq_out {
  int kind;                  /* SIO_CREQ_* */
  const char *id;            /* requestId; NULL: serverSideEmit without ack */
  const json_t *opts;        /* FETCH: the encoded opts */
  const json_t *data;        /* SSE: [event, ...args] */
  sio_buf *const *bins;      /* SSE, BCAST: binary placeholders' buffers */
  size_t nbins;
  const sio_msg *msg;        /* BCAST: the packet */
  const sio_bcast_opts *o;   /* BCAST: its options */
} sio_creq_out;

/* The adapter's side: both callbacks get ud. respond sends one answer to
 * requester's request rid (requester NULL when the request named none);
 * value and bins are borrowed. */
typedef struct sio_creq_transport {
  void (*send_request)(void *ud, const sio_creq_out *req);
  void (*respond)(void *ud, const char *requester, const char *rid, int answer,
                  const json_t *value, sio_buf *const *bins, size_t nbins);
} sio_creq_transport;

typedef struct sio_creq sio_creq;

/* The pending requests of one adapter (embedded in it; no allocation). */
typedef struct sio_creq_set {
  struct event_base *base;
  sio_adapter *self;   /* the cluster adapter: its host and server_count */
  sio_adapter *local;  /* the in-memory adapter it wraps */
  const sio_creq_transport *t;
  void *ud;
  const char *nsp;     /* for the log */
  const char *tag;     /* log tag */
  int hex_ids;         /* 16 hex digits (else 6 characters of base64url) */
  /* 0.2.x streams (ClusterAdapterWithHeartbeat): when set, a request waits
   * for one answer from each uid in peers (uid -> anything) at the time
   * it is sent, and a peer that goes is no longer waited for. */
  const sio_map *peers;
  sio_creq *head;
} sio_creq_set;

/* s is filled; nothing to free until requests are made. */
void sio_creq_init(sio_creq_set *s, struct event_base *base, sio_adapter *self,
                   sio_adapter *local, const sio_creq_transport *t, void *ud,
                   const char *nsp, const char *tag, int hex_ids, const sio_map *peers);
/* Every pending request ends now: callbacks get SIO_ERR_TIMEOUT with what
 * arrived (adapter freed, server closing). */
void sio_creq_close(sio_creq_set *s);
/* How many requests are pending (for tests). */
size_t sio_creq_pending(const sio_creq_set *s);

/* ---------------------------------------------------- asking the others */

/* fetchSockets: the local sockets, then (unless SIO_BC_LOCAL) those of
 * the other servers, asked through the transport with opts_json (stolen)
 * once the server count is known; cb once, after at most timeout_ms. */
void sio_creq_fetch_sockets(sio_creq_set *s, const sio_bcast_opts *o, json_t *opts_json,
                            unsigned timeout_ms, sio_fetch_cb cb, void *ctx);
/* serverSideEmit: without cb, published once; with cb, every other
 * server's answer within timeout_ms (alone: none, at once). */
void sio_creq_server_side_emit(sio_creq_set *s, sio_msg *m, unsigned timeout_ms,
                               sio_sse_cb cb, void *ctx);
/* broadcastWithAck: unless SIO_BC_LOCAL, published as a request that
 * holds a reference to ack (host.ack_ref) for exactly timeout_ms, during
 * which the others' client counts go to client_count(ctx) and their
 * clients' acks to host.ack_remote; then delivered locally. */
void sio_creq_broadcast_with_ack(sio_creq_set *s, sio_msg *m, const sio_bcast_opts *o,
                                 unsigned timeout_ms, sio_count_cb client_count, void *ack,
                                 void *ctx);

/* One answer for the pending request rid from server uid (NULL when the
 * message named none): ignored when no request has that id or it waits
 * for another kind of answer. value and bins are borrowed (the bins of an
 * SSE answer are not kept). */
void sio_creq_answer(sio_creq_set *s, const char *rid, int answer, const json_t *value,
                     const sio_mp_bins *bins, const char *uid);
/* An answer in the ClusterAdapter envelope both Node adapters use (sharded
 * classic and streams): type FETCH_SOCKETS_RESPONSE (8), SERVER_SIDE_EMIT_
 * RESPONSE (10), BROADCAST_CLIENT_COUNT (11) or BROADCAST_ACK (12), data
 * {requestId, sockets | packet | clientCount}. Other types: nothing. */
enum { SIO_CREQ_MSG_FETCH_RESPONSE = 8, SIO_CREQ_MSG_SSE_RESPONSE = 10,
       SIO_CREQ_MSG_CLIENT_COUNT = 11, SIO_CREQ_MSG_ACK = 12 };
void sio_creq_on_response(sio_creq_set *s, int type, const json_t *data,
                          const sio_mp_bins *bins, const char *uid);
/* 1 when rid is one of ours (a request that came back to us). */
int sio_creq_is_pending(const sio_creq_set *s, const char *rid);
/* 0.2.x: peer uid is gone; requests complete that now wait for nobody. */
void sio_creq_peer_gone(sio_creq_set *s, const char *uid);

/* -------------------------------------------- answering the others */

/* A broadcast with ack that server requester asked for (rid): delivered
 * to the local sockets with a fresh ack id; the client count, then each
 * client's first ack argument, go back through transport.respond. o's
 * SIO_BC_LOCAL is ignored. Malformed (rid or requester too long, empty
 * data): nothing. */
void sio_creq_on_broadcast_ack(sio_creq_set *s, const char *rid, const char *requester,
                               json_t *data, sio_buf *const *bins, size_t nbins,
                               const sio_bcast_opts *o);
/* fetchSockets of another server: the local sockets matching o, answered
 * at once. */
void sio_creq_on_fetch(sio_creq_set *s, const char *rid, const char *requester,
                       const sio_bcast_opts *o);
/* serverSideEmit of another server: handed to the namespace; with rid, its
 * answer (if any) goes back. */
void sio_creq_on_sse(sio_creq_set *s, const char *rid, const char *requester,
                     const json_t *data, sio_buf *const *bins, size_t nbins);

/* ------------------------------------------------------ shared helpers */

/* A fresh id: 16 hex digits (hex) or 6 characters of base64url; out holds
 * at least 17 bytes. */
void sio_creq_new_id(char *out, int hex);
/* ["a", "b"] from names (a new reference). */
json_t *sio_creq_names(const char *const *v, size_t n);
/* Node's encodeOptions: {rooms, except} and, with flags, {flags: {volatile,
 * compress, expectSingleResponse, timeout}} as far as they are set. */
json_t *sio_creq_opts_encode(const sio_bcast_opts *o, int with_flags);

/* Received opts seen as sio_bcast_opts: pointers into the JSON, which must
 * outlive it. */
typedef struct sio_creq_opts {
  sio_bcast_opts o;
  const char **v; /* rooms then except */
} sio_creq_opts;
/* Missing rooms/except are empty; a flags.timeout that is not a positive
 * integer is none. need_object: opts that are not an object are malformed
 * (else they read as empty, as Node's classic adapter reads them). 0, or -1
 * when malformed (ov then holds nothing). Clear with sio_creq_opts_clear. */
int sio_creq_opts_decode(const json_t *j, int need_object, sio_creq_opts *ov);
void sio_creq_opts_clear(sio_creq_opts *ov);
#endif
