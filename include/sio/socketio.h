/*
 * libsio Socket.IO v5 server: namespaces, sockets, events with JSON and
 * binary arguments, acknowledgements, rooms, broadcasts, middleware.
 * The names follow the JavaScript API: sio_of is io.of, sio_use is
 * nsp.use, sio_socket_on is socket.on, sio_emit is socket.emit, sio_to is
 * nsp.to, sio_join is socket.join, and so on.
 *
 * Threading. With one loop (sio_options.eio.workers 0 or 1, the default)
 * everything belongs to the thread running the event_base. With N > 1 the
 * server is N replicas, one per event loop (replica 0 on the caller's
 * base, the others on threads started by sio_server_listen); each client
 * and its sockets live on one loop for life, and to clients and to a Redis
 * cluster the process is one server:
 * - Setup calls (sio_of, sio_of_match, sio_of_regex, sio_use,
 *   sio_on_connection, sio_on_server_side, sio_server_on_request,
 *   sio_server_use_redis, admin, metrics) are made on the creating thread
 *   before sio_server_listen and apply to every replica; the objects they
 *   return are replica 0's.
 * - A sio_server / sio_namespace pointer passed to any function on a loop
 *   thread acts for that loop's replica (mapped to its twin), so handlers
 *   may use the replica-0 pointers they were set up with.
 * - Socket functions (everything taking sio_socket, sio_ack, sio_next)
 *   are called only on the socket's loop: inside its callbacks, or from a
 *   task posted there (sio_server_post to
 *   sio_namespace_server(sio_socket_namespace(s))).
 * - User callbacks run concurrently on several threads: user_data shared
 *   by them must be thread-safe.
 * - Any thread may call sio_server_post, sio_server_workers,
 *   sio_server_worker and sio_server_worker_index. sio_server_close,
 *   sio_server_shutdown and sio_server_free are called on replica 0's
 *   thread and act on every loop.
 *
 * Lifetimes:
 * - sio_socket: valid from the connection handler until its disconnect
 *   handler has returned (or, when refused by middleware, until the
 *   middleware chain ends).
 * - sio_args handed to a handler is borrowed for the call; take
 *   sio_args_ref() to keep it. Functions that send take ownership of the
 *   sio_args given to them (one reference), on success or failure.
 * - json_t handed to callbacks is borrowed unless a comment says "owned".
 */
#ifndef SIO_SOCKETIO_H
#define SIO_SOCKETIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sio/buf.h"
#include "sio/engineio.h"
#include "sio/parser.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sio_server sio_server;
typedef struct sio_namespace sio_namespace;
typedef struct sio_socket sio_socket;
typedef struct sio_args sio_args;
typedef struct sio_ack sio_ack;
typedef struct sio_next sio_next;
typedef struct sio_broadcast sio_broadcast;

/* Errors, beyond the EIO_* ones. */
enum {
  SIO_OK = 0,
  SIO_ERR_CLOSED = -1,   /* socket disconnected */
  SIO_ERR_NOMEM = -2,
  SIO_ERR_RESERVED = -6, /* a reserved event name */
  SIO_ERR_TIMEOUT = -7,  /* an ack did not come in time */
  SIO_ERR_INVALID = -4,
};

/* ---------------------------------------------------------------- args */

/* Event arguments: a JSON array whose binary values are placeholders
 * ({"_placeholder":true,"num":N}) into a list of buffers, the form
 * socket.io-parser uses on the wire. Reference-counted. */
sio_args *sio_args_new(void);
/* Wraps a JSON array (stolen). NULL when it is not an array. */
sio_args *sio_args_from_json(json_t *array);
/* Appends v (stolen). */
int sio_args_push(sio_args *a, json_t *v);
/* Makes a binary value holding a copy of data (or sharing buf) and returns
 * its placeholder (a new reference): push it, or put it anywhere inside
 * another argument. NULL when out of memory. */
json_t *sio_args_binary(sio_args *a, const void *data, size_t len);
json_t *sio_args_binary_buf(sio_args *a, sio_buf *buf);
/* Appends a binary argument. */
int sio_args_push_binary(sio_args *a, const void *data, size_t len);
size_t sio_args_count(const sio_args *a);
/* The i-th argument (borrowed), or NULL. */
json_t *sio_args_get(const sio_args *a, size_t i);
/* The whole array (borrowed). */
json_t *sio_args_json(const sio_args *a);
/* When v (anywhere inside a) is a binary value of a, sets data/len and
 * returns 1; else 0. */
int sio_args_get_binary(const sio_args *a, const json_t *v,
                        const uint8_t **data, size_t *len);
/* The buffer behind a binary value (borrowed), or NULL. */
sio_buf *sio_args_get_buf(const sio_args *a, const json_t *v);
sio_args *sio_args_ref(sio_args *a);
void sio_args_unref(sio_args *a);
/* A deep copy: new JSON tree, the same (shared) buffers. */
sio_args *sio_args_copy(const sio_args *a);
/* A deep copy of v, a value inside src, for use inside dst: binary values
 * are carried over (shared) into dst. Returns a new reference. */
json_t *sio_args_import(sio_args *dst, const sio_args *src, const json_t *v);

/* ------------------------------------------------------------- server */

typedef struct sio_options {
  eio_options eio;                   /* path defaults to "/socket.io/" */
  unsigned connect_timeout_ms;       /* 45000 */
  size_t max_attachments;            /* 10 */
  size_t max_namespace_length;       /* 1024 (Node: unbounded) */
  int cleanup_empty_child_namespaces; /* 0 */
  /* connectionStateRecovery */
  int recovery;                      /* 0: off */
  unsigned recovery_max_disconnection_ms; /* 120000 */
  int recovery_skip_middlewares;     /* 1 */
  /* serveClient: the socket.io-client "dist" folder whose bundle is served
   * at <path>socket.io.min.js (and .js, .msgpack.min.js, .esm.min.js, maps)
   * with Node's Cache-Control, ETag and 304. NULL: not served. */
  const char *serve_client_dir;
  /* Node's `parser`: &sio_parser_msgpack, a custom one (sio/parser.h), or
   * NULL for the default socket.io-parser. Not copied: it must outlive
   * the server. */
  const sio_parser *parser;
} sio_options;

void sio_options_init(sio_options *o);

/* Loops serving the server (1 without workers), replica i (NULL past the
 * end; any replica as srv), and this replica's index. */
size_t sio_server_workers(const sio_server *srv);
sio_server *sio_server_worker(sio_server *srv, size_t i);
size_t sio_server_worker_index(const sio_server *srv);
/* Runs fn(srv, arg, 0) on srv's loop thread soon (FIFO per sender thread
 * and replica); if the server is freed first, fn(srv, arg, 1) runs
 * instead, on the freeing thread, so arg can be released: exactly one
 * call. Any thread. SIO_OK or SIO_ERR_NOMEM (fn is not called). */
typedef void (*sio_server_task_fn)(sio_server *srv, void *arg, int cancelled);
int sio_server_post(sio_server *srv, sio_server_task_fn fn, void *arg);

sio_server *sio_server_new(struct event_base *base, const sio_options *opts);
int sio_server_listen(sio_server *srv, const char *host, uint16_t port);
uint16_t sio_server_port(const sio_server *srv);
/* The Engine.IO server underneath. */
eio_server *sio_server_engine(sio_server *srv);
/* The application's HTTP handler for other paths (pages, assets); see
 * eio_request_handler. The client bundle, when served, comes first. */
void sio_server_on_request(sio_server *srv, eio_request_handler cb,
                           void *user_data);
/* Disconnects every socket ("server shutting down") and stops the engine.
 * Callbacks run from inside this call. */
void sio_server_close(sio_server *srv);
/* Graceful shutdown (what a SIGTERM handler calls): stops accepting,
 * disconnects every socket ("server shutting down", as Node's io.close()),
 * leaves the cluster, lets each connection write what is queued for it and
 * close, and resets what is still open after deadline_ms. Returns at once;
 * the event loop ends within the deadline. Then sio_server_free. */
int sio_server_shutdown(sio_server *srv, unsigned deadline_ms);
void sio_server_free(sio_server *srv);

/* ---------------------------------------------------------- namespaces */

/* The namespace name (created on first use; "/" is the main one; a name
 * without a leading '/' gets one). NULL when out of memory. */
sio_namespace *sio_of(sio_server *srv, const char *name);
/* A parent namespace for dynamic ones: match decides at connect time
 * whether a namespace name is accepted (auth is the CONNECT payload).
 * Children inherit the parent's middlewares and connection handlers. */
typedef int (*sio_nsp_match_fn)(const char *name, const json_t *auth,
                                void *user_data);
sio_namespace *sio_of_match(sio_server *srv, sio_nsp_match_fn match,
                            void *user_data);
/* Same, with a POSIX extended regular expression over the name. NULL when
 * the pattern does not compile. */
sio_namespace *sio_of_regex(sio_server *srv, const char *pattern);
const char *sio_namespace_name(const sio_namespace *nsp);
sio_server *sio_namespace_server(const sio_namespace *nsp);

/* Middleware: call exactly one of sio_next_ok / sio_next_error, now or
 * later (the socket waits; connect_timeout_ms still bounds the wait for a
 * client's first namespace). data (stolen, may be NULL) reaches the
 * client's connect_error as err.data.
 * Ownership: the library owns next and frees it in that call, which must
 * always come: when the client went away or timed out meanwhile, the
 * call only frees next (the socket, still readable, is never connected).
 * Answer while the sio_server exists. */
typedef void (*sio_middleware_fn)(sio_socket *s, sio_next *next,
                                  void *user_data);
void sio_use(sio_namespace *nsp, sio_middleware_fn fn, void *user_data);
void sio_next_ok(sio_next *next);
void sio_next_error(sio_next *next, const char *message, json_t *data);

typedef void (*sio_connection_fn)(sio_socket *s, void *user_data);
void sio_on_connection(sio_namespace *nsp, sio_connection_fn fn,
                       void *user_data);

/* ------------------------------------------------------------- sockets */

const char *sio_socket_id(const sio_socket *s);
sio_namespace *sio_socket_namespace(const sio_socket *s);
int sio_socket_connected(const sio_socket *s);
/* 1 when this connection recovered an earlier session (same id, rooms
 * and data, missed packets replayed). */
int sio_socket_recovered(const sio_socket *s);
/* The handshake: {headers, time, address, xdomain, secure, issued, url,
 * query, auth}, as Node's socket.handshake (borrowed). */
const json_t *sio_socket_handshake(const sio_socket *s);
/* The Engine.IO request (headers etc.). */
const eio_request *sio_socket_request(const sio_socket *s);
/* socket.data: an application value, returned by fetchSockets and kept
 * across recovery. Borrowed; set replaces it (stolen). Default {}. */
json_t *sio_socket_data(const sio_socket *s);
void sio_socket_set_data(sio_socket *s, json_t *data);

/* An event handler. ack is non-NULL when the client asked for an
 * acknowledgement: answer it once with sio_ack_send. Answered during the
 * handler call, or later while the socket is connected, it is always
 * valid; an ack never answered is freed when its socket goes. To answer
 * after an asynchronous operation that may outlive the socket, call
 * sio_ack_keep(ack) first: the handle then stays valid until it is
 * answered (after the socket went, sio_ack_send only frees it and returns
 * SIO_ERR_CLOSED), so it MUST be answered once; kept acks never answered
 * are freed with the server. */
typedef void (*sio_event_fn)(sio_socket *s, const char *event,
                             sio_args *args, sio_ack *ack, void *user_data);
void sio_socket_on(sio_socket *s, const char *event, sio_event_fn fn,
                   void *user_data);
/* Catch-all for incoming events, called before the named handlers. */
void sio_socket_on_any(sio_socket *s, sio_event_fn fn, void *user_data);
/* Called for every event the socket emits (ack is NULL). */
void sio_socket_on_any_outgoing(sio_socket *s, sio_event_fn fn,
                                void *user_data);
int sio_ack_send(sio_ack *ack, sio_args *args);
/* Keeps ack valid past its socket's end, until sio_ack_send (see above). */
void sio_ack_keep(sio_ack *ack);

/* Per-packet middleware (socket.use): sees [event, ...args] before any
 * handler; sio_next_error drops the packet and raises the socket's error
 * handler with the message and data. */
typedef void (*sio_packet_middleware_fn)(sio_socket *s, const char *event,
                                         sio_args *args, sio_next *next,
                                         void *user_data);
void sio_socket_use(sio_socket *s, sio_packet_middleware_fn fn,
                    void *user_data);
typedef void (*sio_error_fn)(sio_socket *s, const char *message,
                             const json_t *data, void *user_data);
void sio_socket_on_error(sio_socket *s, sio_error_fn fn, void *user_data);

/* "disconnecting" (rooms still known) and "disconnect", with Node's
 * reasons. */
typedef void (*sio_disconnect_fn)(sio_socket *s, const char *reason,
                                  void *user_data);
void sio_socket_on_disconnecting(sio_socket *s, sio_disconnect_fn fn,
                                 void *user_data);
void sio_socket_on_disconnect(sio_socket *s, sio_disconnect_fn fn,
                              void *user_data);

/* socket.emit(event, ...args). SIO_ERR_RESERVED for reserved names. */
int sio_emit(sio_socket *s, const char *event, sio_args *args);
/* socket.timeout(ms).emit(event, ...args, cb): cb gets err == 0 with the
 * client's ack arguments, or SIO_ERR_TIMEOUT (args NULL) after timeout_ms
 * (0: wait forever), or SIO_ERR_CLOSED if the socket went first. */
typedef void (*sio_ack_fn)(sio_socket *s, int err, sio_args *args,
                           void *user_data);
int sio_emit_with_ack(sio_socket *s, const char *event, sio_args *args,
                      unsigned timeout_ms, sio_ack_fn cb, void *user_data);

int sio_join(sio_socket *s, const char *room);
int sio_leave(sio_socket *s, const char *room);
int sio_socket_in(const sio_socket *s, const char *room);
/* The rooms of the socket as a new JSON array (owned). */
json_t *sio_socket_rooms(const sio_socket *s);
/* socket.disconnect(close). */
void sio_disconnect(sio_socket *s, int close);

/* ---------------------------------------------------------- broadcasts */

/* A broadcast operator, as Node's BroadcastOperator: start one, chain
 * modifiers (each returns its argument), then end it with one of the
 * actions, which frees it. */
sio_broadcast *sio_broadcast_new(sio_namespace *nsp);   /* io.of(nsp) */
sio_broadcast *sio_to(sio_namespace *nsp, const char *room);
/* socket.broadcast / socket.to(room): every target except the socket. */
sio_broadcast *sio_socket_broadcast(sio_socket *s);
sio_broadcast *sio_socket_to(sio_socket *s, const char *room);
sio_broadcast *sio_bc_to(sio_broadcast *b, const char *room); /* also in() */
sio_broadcast *sio_bc_except(sio_broadcast *b, const char *room);
sio_broadcast *sio_bc_volatile(sio_broadcast *b);
sio_broadcast *sio_bc_local(sio_broadcast *b);
sio_broadcast *sio_bc_compress(sio_broadcast *b, int compress);
sio_broadcast *sio_bc_timeout(sio_broadcast *b, unsigned timeout_ms);
void sio_bc_free(sio_broadcast *b);

int sio_bc_emit(sio_broadcast *b, const char *event, sio_args *args);
/* Broadcast with acks: cb gets err 0 and every client's first ack
 * argument (responses, borrowed), or SIO_ERR_TIMEOUT with those that
 * came (at the timeout, or at once when the server closes first). Needs a
 * timeout; SIO_ERR_CLOSED (cb not called) once the server is closing. */
typedef void (*sio_bc_ack_fn)(int err, sio_args *responses, void *user_data);
int sio_bc_emit_with_ack(sio_broadcast *b, const char *event, sio_args *args,
                         sio_bc_ack_fn cb, void *user_data);
/* fetchSockets: cb gets an array (owned) of {id, handshake, rooms, data},
 * local sockets first; err is SIO_ERR_TIMEOUT when some server of a
 * cluster did not answer in time (what arrived is still given). */
typedef void (*sio_fetch_fn)(int err, json_t *sockets, void *user_data);
void sio_bc_fetch_sockets(sio_broadcast *b, sio_fetch_fn cb, void *user_data);
void sio_bc_sockets_join(sio_broadcast *b, const char *room);
void sio_bc_sockets_leave(sio_broadcast *b, const char *room);
void sio_bc_disconnect_sockets(sio_broadcast *b, int close);

/* serverSideEmit: to the other servers of a cluster (a no-op alone). */
int sio_server_side_emit(sio_namespace *nsp, const char *event, sio_args *args);
/* ... with an ack: cb gets every other server's first ack argument, or
 * SIO_ERR_TIMEOUT with those that came (alone: no responses at once). */
int sio_server_side_emit_with_ack(sio_namespace *nsp, const char *event,
                                  sio_args *args, sio_bc_ack_fn cb,
                                  void *user_data);
/* io.on(event) for events other servers send with serverSideEmit; ack is
 * non-NULL when the sender wants an answer (answer once, or it is freed
 * with the server). */
typedef void (*sio_server_side_fn)(sio_namespace *nsp, const char *event,
                                   sio_args *args, sio_ack *ack,
                                   void *user_data);
void sio_on_server_side(sio_namespace *nsp, const char *event,
                        sio_server_side_fn fn, void *user_data);
/* io.of(nsp).adapter.serverCount(): how many servers of the cluster serve
 * nsp, this one included (1 without Redis). cb is called exactly once,
 * maybe before this returns; nsp must stay until then. */
typedef void (*sio_server_count_fn)(void *user_data, size_t servers);
void sio_server_count(sio_namespace *nsp, sio_server_count_fn cb, void *user_data);

#ifdef __cplusplus
}
#endif
#endif
