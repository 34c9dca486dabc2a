/*
 * libsio Engine.IO v4 server: HTTP long-polling and WebSocket transports,
 * the upgrade between them, heartbeats, limits and CORS.
 *
 * Threading: a server runs on one event loop (workers 0 or 1, the default)
 * or on N (eio_options.workers): then it is N replicas of the whole server,
 * one per loop. Replica 0 runs on the caller's event_base, on the caller's
 * thread; replicas 1..N-1 each own a base and a thread, started by
 * eio_server_listen and joined by eio_server_free. A session lives on one
 * loop for life, and every callback about it runs on that loop's thread,
 * with that loop's replica as srv; with N > 1, callbacks run concurrently
 * on several threads, so user_data they share must be thread-safe.
 * - Any thread may call: eio_server_post, eio_server_workers,
 *   eio_server_worker, eio_server_worker_index, eio_server_current,
 *   eio_server_base, eio_server_port, eio_server_clients_count.
 * - Only the thread that created the server (replica 0's): eio_server_new,
 *   eio_server_on_connection, eio_server_on_request, eio_server_listen,
 *   eio_server_close, eio_server_shutdown, eio_server_reload_tls,
 *   eio_server_free (any replica may be passed; they act on every loop).
 * - Only the loop owning the socket: every eio_socket_* function (inside
 *   the socket's callbacks, or in a task posted to its loop).
 * Nothing else here is thread-safe.
 *
 * Lifetimes: an eio_socket handed to the connection callback stays valid
 * until its close callback has returned; after that the pointer must not be
 * used. Pointers passed to callbacks (message bytes, reason strings) are
 * valid only for the duration of the callback.
 */
#ifndef SIO_ENGINEIO_H
#define SIO_ENGINEIO_H

#include <stddef.h>
#include <stdint.h>

#include "sio/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
typedef struct eio_server eio_server;
typedef struct eio_socket eio_socket;

/* Error results of the functions below. */
enum {
  EIO_OK = 0,
  EIO_ERR_CLOSED = -1,   /* the socket is closing or closed */
  EIO_ERR_NOMEM = -2,
  EIO_ERR_LIMIT = -3,    /* the socket's output budget is exhausted */
  EIO_ERR_INVALID = -4,  /* bad argument */
  EIO_ERR_SYSTEM = -5,   /* bind/listen failure: see errno */
};

enum {
  EIO_TRANSPORT_POLLING = 1,
  EIO_TRANSPORT_WEBSOCKET = 2,
};

/* The handshake request of a session, kept for its whole life. Strings are
 * NUL-terminated and owned by the socket. */
typedef struct eio_request {
  const char *method;
  const char *url;            /* request target as sent: path and query */
  const char *path;
  const char *query;          /* raw query string without '?', "" if none */
  const char *remote_address; /* textual IP address of the peer */
  uint16_t remote_port;
  int secure;                 /* 1 over TLS */
  size_t num_headers;
  const char *const *header_names;  /* as sent by the client */
  const char *const *header_values;
} eio_request;

/* First header named name (case-insensitive), or NULL. */
const char *eio_request_header(const eio_request *req, const char *name);
/* Percent-decoded query parameter into out (NUL-terminated). Returns its
 * length, -1 when absent, -2 when it does not fit in out. */
long eio_request_query(const eio_request *req, const char *name, char *out,
                       size_t out_size);

/* CORS, with the names and behaviour of the npm `cors` package as Node's
 * engine.io applies it. CORS is off when cors is NULL in the options. */
typedef struct eio_cors {
  /* Allowed origins: "*" (any, answered as "*"), or exact origins that are
   * echoed back when they match. Ignored when origin_fn is set. */
  const char *const *origins;
  size_t num_origins;
  /* Decides per request; origin may be NULL. Return 1 to allow (the origin
   * is echoed), 0 to leave the CORS headers out. */
  int (*origin_fn)(const char *origin, void *user_data);
  void *origin_user_data;
  int credentials;             /* Access-Control-Allow-Credentials: true */
  const char *methods;         /* NULL: "GET,HEAD,PUT,PATCH,POST,DELETE" */
  const char *allowed_headers; /* NULL: echo Access-Control-Request-Headers */
  const char *exposed_headers; /* NULL: none */
  int max_age;                 /* seconds; < 0: not sent */
} eio_cors;

/* Session cookie set on the handshake (Node's `cookie` option). */
typedef struct eio_cookie {
  const char *name;      /* NULL: "io" */
  const char *path;      /* NULL: "/" */
  const char *same_site; /* NULL: "Lax" */
  int http_only;         /* default 1 */
} eio_cookie;

/* TLS (mbedtls): https long-polling and wss on the listening port. */
typedef struct eio_tls_options {
  const char *cert_file;     /* PEM: the certificate, then its chain */
  const char *key_file;      /* PEM private key */
  const char *key_password;  /* NULL when the key is not encrypted */
  int min_version;           /* 12 (TLS 1.2, the default and the only one
                                mbedtls 2.28 offers); 0 means 12 */
} eio_tls_options;

/* allowRequest: return 1 to accept a handshake; return 0 to refuse it with
 * HTTP 403 {"code":4,"message":...}, *message set to a static or
 * user-owned string (NULL: "Forbidden"). */
typedef int (*eio_allow_request_cb)(const eio_request *req,
                                    const char **message, void *user_data);

/* permessage-deflate (RFC 7692) on WebSocket: Node's perMessageDeflate, off
 * by default. Fill with eio_per_message_deflate_init, then change fields.
 * The server always compresses each message on its own and answers
 * server_no_context_takeover, so a broadcast is compressed once for every
 * recipient and no connection holds a compressor. */
typedef struct eio_per_message_deflate {
  size_t threshold;               /* 1024: smaller messages go uncompressed */
  int client_no_context_takeover; /* 0; 1: clients reset their context after
                                     each message, and the server keeps no
                                     inflate window between messages */
  int server_max_window_bits;     /* 0: 15 or what the client asks; 8..15:
                                     offers asking less are refused */
  int client_max_window_bits;     /* 0: as offered; 8..15: offers without
                                     client_max_window_bits are refused */
  int level;                      /* zlib level; -1: zlib's default (6) */
} eio_per_message_deflate;

/* Node's defaults: threshold 1024, level -1, the rest 0. */
void eio_per_message_deflate_init(eio_per_message_deflate *p);
/* allowRequest that answers later (Node's allowRequest(req, callback), say
 * after a database lookup): the handshake request waits until exactly one
 * of eio_allow_accept / eio_allow_refuse is called with the handle, from
 * inside the callback or on any later loop iteration.
 * Ownership: the library owns the handle and frees it in that call, which
 * must always come, even when the client went away meanwhile or the
 * server was freed (the answer is then a no-op). req stays valid until
 * the answer. */
typedef struct eio_allow eio_allow;
typedef void (*eio_allow_request_async_cb)(const eio_request *req,
                                           eio_allow *allow, void *user_data);
void eio_allow_accept(eio_allow *allow);
/* HTTP 403 {"code":4,"message":...} (message copied; NULL: "Forbidden"). */
void eio_allow_refuse(eio_allow *allow, const char *message);

typedef struct eio_options {
  const char *path;               /* "/engine.io/" (a trailing '/' is added) */
  unsigned ping_interval_ms;      /* 25000 */
  unsigned ping_timeout_ms;       /* 20000 */
  unsigned upgrade_timeout_ms;    /* 10000 */
  size_t max_http_buffer_size;    /* 1000000: POST body and WS message bound */
  unsigned transports;            /* EIO_TRANSPORT_* bits; 0 = both */
  int allow_upgrades;             /* 1 */
  const eio_cors *cors;           /* NULL: no CORS headers (copied) */
  const eio_cookie *cookie;       /* NULL: no cookie (copied) */
  eio_allow_request_cb allow_request;
  void *allow_request_user_data;  /* for either form */
  /* The asynchronous form; used instead of allow_request when set. */
  eio_allow_request_async_cb allow_request_async;
  /* Limits of the HTTP front door. */
  size_t max_header_bytes;        /* 16384, as Node: 431 beyond */
  size_t max_headers;             /* 100: 431 beyond */
  unsigned http_headers_timeout_ms; /* 60000 (Node's headersTimeout): a
                                      request head must arrive within
                                      this (or the request timeout if
                                      shorter), else 408 */
  unsigned http_request_timeout_ms; /* 300000: a request head/body must
                                       arrive within this, else 408 */
  unsigned http_keepalive_timeout_ms; /* 5000, as Node */
  /* Output budget of one socket: bytes queued and not yet written to the
   * kernel. Past it, sends fail with EIO_ERR_LIMIT and the socket is closed
   * ("transport error", "output buffer limit exceeded"). 0: 64 MiB. */
  size_t max_output_bytes;
  /* Soft output limit (Redis's client-output-buffer-limit soft/seconds): a
   * socket whose backlog stays above soft_output_bytes for soft_output_ms
   * is closed the same way. 0: 16 MiB for 30000 ms; SIZE_MAX: off. */
  size_t soft_output_bytes;
  unsigned soft_output_ms;
  /* Bytes queued over all sockets of the server. Past it, the sockets
   * holding the most are closed first ("transport error", "total output
   * limit exceeded") until the total is under it again; volatile packets
   * are dropped once half of it is used. 0: 256 MiB; SIZE_MAX: off. */
  size_t max_total_output_bytes;
  /* Per remote address (optional, 0: off): connections open at once, and
   * new connections per second (a bucket holding one second's worth).
   * A connection over either is closed at once. */
  unsigned max_connections_per_address;
  unsigned connections_per_address_per_sec;
  /* Messages a socket may send per second (optional, 0: off; a bucket
   * holding one second's worth). Past it the session closes ("transport
   * error", "inbound packet rate exceeded"): the client sees its
   * connection close, as for any transport error. */
  unsigned max_inbound_packets_per_sec;
  /* Connections that have not completed a request head (slowloris): past
   * this many, the oldest is closed to make room. 0: 10000. */
  unsigned max_pending_connections;
  /* TLS on every connection of this server; NULL: plain HTTP. The file
   * names are copied; the files are read by eio_server_new and again by
   * eio_server_reload_tls. */
  const eio_tls_options *tls;
  /* HTTP compression of long-polling responses (Node's httpCompression):
   * on by default; a body of at least http_compression_threshold bytes goes
   * gzip or deflate as the request's Accept-Encoding prefers. */
  int http_compression;              /* 1 */
  size_t http_compression_threshold; /* 1024 */
  /* NULL (the default): no permessage-deflate; else copied. */
  const eio_per_message_deflate *per_message_deflate;
  /* Node's allowEIO3 (default 0): also serve Engine.IO v3 clients
   * (engine.io-client 3.x, socket.io-client 2.x): v3 polling payloads
   * (text, binary, b64=1; not JSONP), v3 WebSocket binary frames, and the
   * v3 heartbeat (the client pings; the session closes after
   * ping_interval_ms + ping_timeout_ms without one). Off: EIO=3 gets
   * "Unsupported protocol version", as in Node. */
  int allow_eio3;
  /* After a packet sent with EIO_SEND_ALONE over WebSocket, the server
   * sends a WebSocket ping and the next frames wait for its pong, at most
   * this long (ms): a client that handles the frames of one TCP read all at
   * once and only then listens for the next (ws 8.5) answers the ping
   * while handling that read, so the frames that follow reach it in a
   * later read. 0: 1000 ms; < 0: off (frames follow at once). */
  int alone_wait_ms;
  /* Event loops serving the server (at most 64); 0 or 1: one, the
   * caller's base. With N > 1, connections are spread over the loops (see
   * reuseport) and session ids name their loop. */
  unsigned workers;
  /* With workers > 1: 0 (default), replica 0's loop alone accepts and
   * hands the sockets to the loops in turn (even spread); 1, every loop
   * listens on the port (SO_REUSEPORT) and the kernel's hash of the
   * addresses spreads connections (no hop, but uneven: see README). */
  int reuseport;
} eio_options;

/* Fills o with Node's defaults. */
void eio_options_init(eio_options *o);

typedef void (*eio_connection_cb)(eio_server *srv, eio_socket *sock,
                                  void *user_data);

typedef struct eio_socket_handlers {
  /* A message: text (binary == 0, UTF-8 bytes, not NUL-terminated) or
   * binary. The bytes are valid during the call only. */
  void (*on_message)(eio_socket *s, const uint8_t *data, size_t len,
                     int binary, void *user_data);
  /* The session ended: reason is one of "transport close", "transport
   * error", "ping timeout", "parse error", "forced close", "server shutting
   * down"; description is a detail or NULL. The socket is freed after this
   * returns. */
  void (*on_close)(eio_socket *s, const char *reason, const char *description,
                   void *user_data);
  /* The queued output was handed to the transport. */
  void (*on_drain)(eio_socket *s, void *user_data);
  /* The session moved from polling to WebSocket. */
  void (*on_upgrade)(eio_socket *s, void *user_data);
} eio_socket_handlers;

/* A response to an HTTP request outside the Engine.IO path. */
typedef struct eio_http_response eio_http_response;
/* Handles a request outside the Engine.IO endpoint: any other path, or a
 * path below the endpoint's (/socket.io/socket.io.min.js). Return 1 after
 * filling res, 0 to answer 404. Called synchronously; the request body, if
 * any, is discarded. req is valid during the call only. */
typedef int (*eio_request_handler)(const eio_request *req,
                                   eio_http_response *res, void *user_data);
void eio_response_status(eio_http_response *res, int status);
/* Adds a header; name and value are copied. Returns EIO_OK or NOMEM. */
int eio_response_header(eio_http_response *res, const char *name,
                        const char *value);
/* Sets the body, taking a new reference to it (shared, not copied). */
void eio_response_body(eio_http_response *res, sio_buf *body);

/* Creates a server on base with a copy of opts (NULL: defaults).
 * Returns NULL when out of memory or when the options are invalid (an
 * unreadable, mismatched or expired certificate, say): eio_last_error()
 * then says why. */
eio_server *eio_server_new(struct event_base *base, const eio_options *opts);
/* Listens on host:port ("127.0.0.1", 0 picks a free port); with workers
 * > 1, every loop listens on it and the worker threads start. */
int eio_server_listen(eio_server *srv, const char *host, uint16_t port);
/* Reads the certificate and key files again; new connections use them,
 * open ones keep theirs. EIO_OK, or EIO_ERR_INVALID with eio_last_error()
 * saying why (the old ones stay in use). */
int eio_server_reload_tls(eio_server *srv);
/* Why the last eio_server_new / eio_server_reload_tls on this thread
 * failed ("" if none did). */
const char *eio_last_error(void);
/* The bound port (the one every loop serves), after eio_server_listen. */
uint16_t eio_server_port(const eio_server *srv);
void eio_server_on_connection(eio_server *srv, eio_connection_cb cb,
                              void *user_data);
void eio_server_on_request(eio_server *srv, eio_request_handler cb,
                           void *user_data);
/* Sessions open over the whole process (every loop). */
size_t eio_server_clients_count(const eio_server *srv);

/* The loops of a server (thread-safe). */
size_t eio_server_workers(const eio_server *srv);          /* N */
/* Replica i (any replica may be passed as srv); NULL when i >= N. */
eio_server *eio_server_worker(eio_server *srv, size_t i);
size_t eio_server_worker_index(const eio_server *srv);     /* srv's index */
struct event_base *eio_server_base(const eio_server *srv); /* srv's base */
/* The replica whose loop runs on the calling thread, or NULL when the
 * caller is not a loop thread of srv's server (replica 0's thread is the
 * one that created the server). */
eio_server *eio_server_current(eio_server *srv);
/* Runs fn(target, arg, 0) on target's loop thread, soon, in FIFO order per
 * (sender thread, target). Any thread may call it. If the server is freed
 * first, fn(target, arg, 1) runs instead (on the freeing thread, or on the
 * poster's when posting after that) so arg can be released: exactly one
 * call, always. After eio_server_close (or a finished shutdown), tasks
 * posted to replica 0 wait for eio_server_free and are cancelled there.
 * Returns 0, or -1 when out of memory (fn is not called). */
typedef void (*eio_task_fn)(eio_server *target, void *arg, int cancelled);
int eio_server_post(eio_server *target, eio_task_fn fn, void *arg);
/* The same, but called on a loop thread of the server, the wake-up of
 * target's loop waits for the end of the caller's current loop turn, so
 * what one turn posts to a loop runs there together (the loops layer's
 * messages). Called outside its loop's dispatch, the task waits for that
 * loop's next turn (or eio_server_free): use eio_server_post there. */
int eio_server_post_batched(eio_server *target, eio_task_fn fn, void *arg);
/* Stops listening and closes every session ("forced close", as Node's
 * engine.close()) and every HTTP connection; connections finish writing
 * what they hold first. Callbacks of replica 0 run from inside this call,
 * those of the other loops soon after on their threads. */
void eio_server_close(eio_server *srv);
/* Graceful shutdown: stops accepting, closes every session after its
 * queued output is written ("forced close" on the server side; a WebSocket
 * peer gets a close frame after the data, a long poll the rest and a close
 * packet), and after deadline_ms resets whatever is still open. Returns at
 * once; the event loop ends when everything is closed, within the
 * deadline. Then free the server. */
int eio_server_shutdown(eio_server *srv, unsigned deadline_ms);
/* Closes (as above) and frees the server, every loop: the worker threads
 * are joined and their bases freed. Not from inside its callbacks. */
void eio_server_free(eio_server *srv);

void eio_socket_set_handlers(eio_socket *s, const eio_socket_handlers *h,
                             void *user_data);
const char *eio_socket_id(const eio_socket *s);
int eio_socket_transport(const eio_socket *s);
/* The handshake request, owned by s: made on the first call (from a packed
 * copy) and valid for the session's life. */
const eio_request *eio_socket_request(const eio_socket *s);
eio_server *eio_socket_server(const eio_socket *s);
/* Queues a message, copying data. */
int eio_socket_send(eio_socket *s, const void *data, size_t len, int binary);
/* Queues a shared message: takes a new reference to buf, never copies it. */
int eio_socket_send_buf(eio_socket *s, sio_buf *buf, int binary);
/* Same, with EIO_SEND_* flags (or-ed):
 * - EIO_SEND_NO_COMPRESS is Node's `compress: false`: a polling response
 *   that holds only such messages is not compressed (WebSocket ignores it,
 *   as Node's engine.io 6.6 does).
 * - EIO_SEND_ALONE: over WebSocket, a ping follows the message and the
 *   frames queued after it wait for the pong (at most alone_wait_ms), so
 *   they reach the client in a later TCP read; on polling the flag does
 *   nothing (a body is one read anyway). For replies a client must read
 *   before it reacts: Socket.IO's CONNECT, the v3 open. */
#define EIO_SEND_NO_COMPRESS 1u
#define EIO_SEND_ALONE 2u
int eio_socket_send_buf_flags(eio_socket *s, sio_buf *buf, int binary,
                              unsigned flags);
/* The Engine.IO protocol revision of the session: 4, or 3 (allow_eio3). */
int eio_socket_protocol(const eio_socket *s);
/* Bytes queued for this socket and not yet handed to the kernel. */
size_t eio_socket_buffered(const eio_socket *s);
/* 1 when a message sent now would be handed to the transport at once
 * (what Socket.IO's volatile flag needs). */
int eio_socket_writable(const eio_socket *s);
/* Closes the session ("forced close") after the queued output is sent. */
void eio_socket_close(eio_socket *s);

/* An unguessable id: 15 bytes from the kernel CSPRNG, base64 with '-' and
 * '_' (20 chars + NUL), the form Node's session ids have. 0 or -1. */
int eio_generate_id(char out[21]);

#ifdef __cplusplus
}
#endif
#endif
