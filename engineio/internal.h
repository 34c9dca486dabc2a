/*
 * Private structures shared by the HTTP/WebSocket connection layer (conn.c,
 * conn_io.c, conn_http.c, conn_ws.c) and the Engine.IO session layer above
 * it (server.c, route.c, handshake.c, session.c, poll_transport.c,
 * ws_transport.c), and the interface between them: the eio_conn_* calls
 * down, struct eio_conn_events up.
 */
#ifndef EIO_INTERNAL_H
#define EIO_INTERNAL_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/time.h>

#include "deflate.h"
#include "http.h"
#include "budget.h"
#include "guard.h"
#include "loops.h"
#include "map.h"
#include "timers.h"
#include "tls.h"
#include "sio/engineio.h"
#include "ws.h"

typedef struct eio_conn eio_conn;

/* shutdown.c */
typedef struct eio_shutdown {
  struct event *watch, *deadline;
} eio_shutdown;

enum conn_state {
  CONN_HEAD,      /* reading a request head */
  CONN_BODY,      /* reading a request body */
  CONN_WAIT,      /* request dispatched, response pending (long poll) */
  CONN_WS,        /* WebSocket frames */
  CONN_LINGER,    /* response written, half-closed, draining input */
  CONN_DEAD,      /* freed once the stack unwinds */
};

typedef void (*conn_body_cb)(eio_conn *c, int status);
#define BODY_OK 0
#define BODY_TOO_LARGE 1

struct eio_http_response {
  int status;
  struct evbuffer *headers; /* "Name: value\r\n" lines */
  sio_buf *body;
};

struct eio_conn {
  eio_server *srv;
  struct bufferevent *bev;
  eio_timer timer;          /* on srv->timers */
  enum conn_state state;
  unsigned in_cb;          /* nesting depth of our callbacks */
  unsigned close_after_write : 1;
  unsigned keep_alive : 1;
  unsigned is_upgrade : 1;
  unsigned ws_close_sent : 1;
  unsigned ws_probe : 1;   /* WebSocket probing an upgrade, not yet bound */
  unsigned body_discard : 1;
  unsigned body_binary : 1; /* POST body is application/octet-stream */
  unsigned secure : 1;     /* over TLS */
  unsigned admitted : 1;   /* counted by the per-address limits (guard.c) */
  unsigned fresh : 1;      /* no request completed yet (guard.c's cap) */
  uint16_t remote_port;    /* (here: no padding; remote_addr is below) */
  eio_server *admit_srv;   /* the loop that counted it, when not srv's */
  eio_conn *fprev, *fnext; /* the fresh list, oldest first */
  /* The current request head (a private copy) and its parse. */
  char *head;
  size_t head_len;
  eio_http_request req;
  eio_http_header *headers;
  /* Request body. */
  int chunked;
  uint64_t body_left;
  eio_http_chunked chunk;
  struct evbuffer *body;
  conn_body_cb body_cb;
  /* WebSocket message being gathered from fragments. */
  int ws_msg_opcode;
  uint8_t *ws_msg;
  size_t ws_msg_len;
  /* permessage-deflate, when negotiated (deflate.c). */
  unsigned pmd_on : 1;
  unsigned ws_msg_deflated : 1; /* the message being gathered has RSV1 */
  eio_pmd_params pmd;
  eio_inflater *inflater;   /* made on the first compressed message */
  /* The session this connection serves (pending GET, POST, or WebSocket). */
  eio_socket *sock;
  /* Headers for the response to the current request (CORS, cookie),
   * computed when it arrived; "Name: v\r\n" lines, owned. */
  char *resp_headers;
  char remote_addr[48];
  struct eio_allow *allow;  /* an asynchronous allowRequest pending */
  eio_conn *prev, *next;
};

/* A queued Engine.IO packet. */
typedef struct eio_qpkt {
  struct eio_qpkt *next;
  uint8_t type;    /* enum eio_packet_type */
  uint8_t binary;
  uint8_t no_compress; /* EIO_SEND_NO_COMPRESS */
  uint8_t alone;   /* EIO_SEND_ALONE: later frames wait (WebSocket) */
  sio_buf *data;   /* payload or NULL */
} eio_qpkt;

enum sock_ready { SOCK_OPEN, SOCK_CLOSING, SOCK_CLOSED };

struct eio_socket {
  eio_server *srv;
  char id[24];
  unsigned refs;
  unsigned ready : 2;       /* enum sock_ready */
  unsigned transport : 2;   /* EIO_TRANSPORT_* now in use */
  unsigned upgrading : 1;
  unsigned upgraded : 1;
  unsigned should_close : 1;  /* polling: a close packet goes to next GET */
  unsigned close_on_drain : 1;
  unsigned in_map : 1;
  unsigned protocol : 3;    /* Engine.IO revision: 4, or 3 (allow_eio3) */
  unsigned b64 : 1;         /* v3 polling: the client asked b64=1 */
  unsigned held : 1;        /* WebSocket output paused after an ALONE frame */
  unsigned hb_wait : 1;     /* hb_timer is the ping timeout, not the interval */
  unsigned ping_owed : 1;   /* an ALONE frame went: a ping before the next */
  eio_conn *poll_get;       /* pending long-poll GET */
  eio_conn *poll_post;      /* POST being received */
  eio_conn *ws;             /* WebSocket transport */
  eio_conn *probe;          /* WebSocket probing an upgrade */
  eio_qpkt *q_head, *q_tail;
  size_t q_bytes;
  /* On srv->timers: the heartbeat (Node's pingIntervalTimer and
   * pingTimeoutTimer, never armed together: one record and hb_wait), the
   * wait after an ALONE frame (every Socket.IO CONNECT), and the polling
   * ones (upgrade, close) in a record made on first use, so a WebSocket
   * session carries two timers. */
  eio_timer hb_timer, hold_timer;
  struct eio_sock_aux *aux;
  char *req_blk;            /* handshake request, packed (req_pack.h), owned */
  eio_request *req;         /* its view, built on first use, owned */
  eio_socket_handlers h;
  void *ud;
  eio_budget_sock budget;      /* output accounting (budget.c) */
};

/* session.c: the session timers most sessions never arm. */
typedef struct eio_sock_aux {
  eio_socket *s;
  eio_timer upgrade_timer, check_timer, close_timer;
} eio_sock_aux;

/* The replicas of one server, one per event loop (workers.c). Written by
 * the creating thread before the worker threads start; afterwards only the
 * atomics change. */
typedef struct eio_group {
  size_t n;
  eio_server **reps;
  struct event_base **bases; /* bases[0] is the caller's, not owned */
  pthread_t owner;           /* the creating thread, which runs replica 0 */
  pthread_t *threads;        /* threads[i] runs reps[i], i >= 1 */
  int started;               /* threads running (after listen) */
  _Atomic size_t clients;    /* sessions over every replica */
  _Atomic size_t total_out;  /* budget totals over every replica */
  /* Replica 0's thread only: graceful shutdown over the loops. */
  size_t shut_left;          /* other replicas not yet done */
  size_t next_loop;          /* the acceptor: where the next socket goes */
  int shut_self;             /* replica 0 is done */
} eio_group;

struct eio_server {
  struct event_base *base;
  eio_group *grp;
  size_t idx;               /* this replica's index in grp */
  eio_loopq *q;             /* tasks for this loop (eio_server_post) */
  eio_options o;
  char *path;
  eio_cors cors;
  int cors_on;
  eio_cookie cookie;
  int cookie_on;
  char **cors_strings;      /* owned copies behind cors */
  size_t n_cors_strings;
  struct evconnlistener *listener;
  uint16_t port;
  eio_conn *conns;
  sio_map sessions;         /* sid -> eio_socket */
  eio_connection_cb on_connection;
  void *on_connection_ud;
  eio_request_handler on_request;
  void *on_request_ud;
  int closing;
  eio_tls_ctx *tls;         /* NULL: plain HTTP */
  eio_tls_options tls_opts; /* owned copies of the file names */
  eio_per_message_deflate pmd_opts; /* copy behind o.per_message_deflate */
  eio_deflater *deflater_http, *deflater_ws; /* made on first use */
  eio_budget budget;        /* output limits, memory trim (budget.c) */
  eio_guard guard;          /* accept backoff, per-address limits (guard.c) */
  eio_shutdown shutdown;    /* graceful shutdown timers (shutdown.c) */
  eio_timers timers;        /* every session and connection deadline */
  struct evbuffer *raw_in;  /* conn_io.c: read buffer shared by raw WebSockets */
  char *raw_buf;            /* conn_io.c: what raw WebSockets read() into */
  struct event *flush_ev;   /* conn_io.c: writes raw output once per loop turn */
  eio_conn *flush_list;     /* conn_io.c: raw connections with output to write */
  const struct eio_conn_events *conn_ev; /* conn.c calls these (route.c's) */
  void *conn_ev_arg;
};

/* What a connection (conn.c, the layer below the Engine.IO session) tells
 * the layer above it. conn.c calls only these, never server code by name:
 * the call graph is server -> conn, and conn -> this table. One table and
 * arg per server (srv->conn_ev, srv->conn_ev_arg, set with
 * eio_conn_set_events before the first connection), not per connection.
 * Every entry is required. Each runs inside the connection's own callback:
 * it may answer, close or abort c, but c is freed only after it returns.
 *   request     a complete request head is in c->req / c->headers; answer
 *               with eio_conn_respond*, read the body, upgrade, or keep it
 *               pending (long poll).
 *   ws_message  a complete WebSocket message (opcode EIO_WS_TEXT/BINARY,
 *               reassembled and inflated); data is c's buffer, valid for
 *               the call only.
 *   ws_error    the WebSocket failed (protocol error, too large: reason);
 *               c is going away without a close handshake.
 *   ws_closed   the peer's close frame (code); c answers it and closes.
 *   ws_pong     a pong frame's payload.
 *   closed      c, with c->sock set, ended from the peer's side or timed
 *               out (not by eio_conn_abort/kill).
 *   drained     c's output was written out (sent to the socket).
 *   gone        c is being freed while c->allow is set.
 *   ws_deflater the compressor shared by c's server for permessage-deflate
 *               (made on first use), or NULL when out of memory. */
struct eio_conn_events {
  void (*request)(void *arg, eio_conn *c);
  void (*ws_message)(void *arg, eio_conn *c, int opcode, uint8_t *data,
                     size_t len);
  void (*ws_error)(void *arg, eio_conn *c, const char *reason);
  void (*ws_closed)(void *arg, eio_conn *c, int code);
  void (*ws_pong)(void *arg, eio_conn *c, const uint8_t *data, size_t len);
  void (*closed)(void *arg, eio_conn *c);
  void (*drained)(void *arg, eio_conn *c);
  void (*gone)(void *arg, eio_conn *c);
  eio_deflater *(*ws_deflater)(void *arg);
};

/* The connection layer (conn*.c), called by the session layer. */
/* Installs the events of srv's connections (ev is not copied: it outlives
 * srv; arg is passed to every entry). */
void eio_conn_set_events(eio_server *srv, const struct eio_conn_events *ev,
                         void *arg);
eio_conn *eio_conn_new(eio_server *srv, evutil_socket_t fd,
                       const struct sockaddr *sa, int salen);
void eio_conn_free_all(eio_server *srv);
/* Sends a complete response; then the connection reads the next request,
 * or closes when keep-alive is off. extra_headers: "Name: v\r\n" lines. */
void eio_conn_respond(eio_conn *c, int status, const char *extra_headers,
                      const void *body, size_t body_len);
/* Same, with the body already in an evbuffer (moved, not copied). */
void eio_conn_respond_evbuf(eio_conn *c, int status, const char *extra_headers,
                            struct evbuffer *body);
/* Writes raw bytes and closes the connection after they are sent. */
void eio_conn_write_raw_close(eio_conn *c, const char *raw, size_t len);
/* Starts reading the request body; cb runs when it is complete or over
 * the limit (the rest is then discarded). */
void eio_conn_read_body(eio_conn *c, conn_body_cb cb);
/* Switches to WebSocket after writing the 101 response. */
int eio_conn_upgrade_ws(eio_conn *c, const char *accept_key,
                        const char *extra_headers);
/* WebSocket output. */
int eio_conn_ws_send(eio_conn *c, int opcode, uint8_t type_char,
                     sio_buf *payload);
void eio_conn_ws_close(eio_conn *c, int code);
/* Drops the connection now (no response). */
void eio_conn_abort(eio_conn *c);
/* Drops the connection now, releasing its queued output and resetting
 * the TCP connection (a peer over its output budget). */
void eio_conn_kill(eio_conn *c);
size_t eio_conn_output_len(const eio_conn *c);
/* A pending long-poll GET (plain connection) answered at the end of the
 * loop turn, with everything queued for it meanwhile: events.drained runs
 * then. 0: not deferred (TLS), answer now. */
int eio_conn_defer(eio_conn *c);

/* conn.c: a connection moving to another loop (handover.c). */
typedef struct eio_conn_move {
  evutil_socket_t fd;
  uint8_t *in, *out;   /* input from the request head on (plaintext); unsent
                          output (plain connections) */
  size_t in_len, out_len;
  int secure;
  eio_tls_moved tls;   /* secure: the TLS session and its raw bytes */
} eio_conn_move;
/* 0: moved (c is dropped); -1: not now, c untouched (serve it here); -2:
 * out of memory midway, c is dropped. */
int eio_conn_move_out(eio_conn *c, eio_conn_move *m);
void eio_conn_move_in(eio_server *srv, eio_conn_move *m);
/* handover.c: 1 when c's request (target query, ql bytes) names a session
 * of another loop and c was handed to it; 0 to serve it here. */
int eio_handover(eio_conn *c, const char *query, size_t ql);
/* handover.c: without reuseport, hands an accepted socket to the next
 * loop in turn, admitted by the acceptor's per-address limits (which thus
 * count the whole process): 1 when it went to another loop or was refused. server.c: serves an
 * accepted socket on srv's loop (eio_accept_here). */
int eio_accept_elsewhere(eio_server *srv, evutil_socket_t fd,
                         const struct sockaddr *sa, int salen);
void eio_accept_here(eio_server *srv, evutil_socket_t fd,
                     const struct sockaddr *sa, int salen,
                     eio_server *admitted_by);
/* handover.c: a connection counted by the per-address limits of another
 * loop (the acceptor's) closed: that loop forgets it. */
void eio_handover_release(eio_server *at, const char *addr);

void eio_shutdown_free(eio_server *srv);
/* shutdown.c: one replica's graceful shutdown (eio_server_shutdown). */
int eio_shutdown_rep(eio_server *srv, unsigned deadline_ms);
/* workers.c: srv's graceful shutdown has finished; once every replica's
 * has, the caller's loop is free to end. */
void eio_workers_shutdown_done(eio_server *srv);

/* server.c: one replica's life (workers.c builds the group around it). */
eio_server *eio_rep_new(struct event_base *base, const eio_options *opts);
int eio_rep_listen(eio_server *srv, const char *host, uint16_t port,
                   int reuseport);
/* eio_server_close for this replica only. */
void eio_rep_close(eio_server *srv);
/* Frees the loop state (sessions, connections, events): on the loop's
 * thread. Then eio_rep_release frees the rest, on any thread. */
void eio_rep_teardown(eio_server *srv);
void eio_rep_release(eio_server *srv);
/* workers.c: which replica owns session id (its first character). */
size_t eio_sid_loop(const eio_server *srv, const char *sid);
/* A new session id owned by srv's loop. 0 or -1. */
int eio_sid_new(const eio_server *srv, char out[21]);
/* server.c: reads srv's certificate and key again into *out (eio_last_error
 * says why not). EIO_OK or EIO_ERR_INVALID. */
int eio_rep_tls_load(eio_server *srv, eio_tls_ctx **out);

/* cors.c: appends the CORS headers for c's request ("Name: v\r\n" lines);
 * preflight adds the method/header/max-age ones. */
void eio_cors_headers(eio_server *srv, eio_conn *c, struct evbuffer *b,
                      int preflight);

/* polling.c: eio_poll_encoding says how a polling response of n bytes to
 * c's request goes (EIO_ENC_*); eio_poll_deflater is the server's HTTP
 * compressor (made on first use; NULL when out of memory); eio_poll_encode
 * appends the v4 payload of s's queue (and a close packet) to out (0 or
 * -1); eio_poll_respond_enc answers c with body, enc saying how it is
 * encoded already or -1 to compress here as Node would, binary for the
 * octet-stream type; eio_poll_respond is the plain text form. */
int eio_poll_encoding(eio_conn *c, size_t n);
eio_deflater *eio_poll_deflater(eio_server *srv);
int eio_poll_encode(eio_socket *s, struct evbuffer *out, int add_close);
void eio_poll_respond_enc(eio_conn *c, struct evbuffer *body, int enc,
                          int binary);
void eio_poll_respond(eio_conn *c, struct evbuffer *body);

/* ws_handshake.c: check validates the WebSocket handshake headers (ws's
 * order) and computes the accept key: 0, or -1 after answering the refusal.
 * switch writes the 101 (0, or -1 with the connection dropped); accept does
 * both. */
int eio_wsh_check(eio_conn *c, char accept[29]);
int eio_wsh_switch(eio_conn *c, const char accept[29]);
int eio_wsh_accept(eio_conn *c);

/* allow.c: the asynchronous allowRequest. start hands the request to the
 * application (0, or -1 when out of memory); conn_gone (an
 * eio_conn_events.gone) detaches a pending decision from a connection
 * being freed. route.c resumes with eio_srv_allowed / eio_srv_refused. */
int eio_allow_start(eio_conn *c, int transport, const char *version);
void eio_allow_conn_gone(void *arg, eio_conn *c);
void eio_srv_allowed(eio_conn *c, int transport, const char *version);
void eio_srv_refused(eio_conn *c, const char *message);
int eio_srv_copy_request(eio_socket *s, eio_conn *c);
/* handshake.c: frees what eio_srv_copy_request made. */
void eio_srv_free_request(eio_socket *s);
/* session.c: closes s now for a limit ("transport error", desc), releasing
 * its output and resetting its connections. */
void eio_srv_sock_drop(eio_socket *s, const char *desc);
/* Drops a reference taken with s->refs++. */
void eio_srv_sock_release(eio_socket *s);

#endif
