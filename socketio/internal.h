/* Private structures of the Socket.IO layer (server.c, socket.c, client.c,
 * connect.c, middleware.c, namespace.c, broadcast.c). */
#ifndef SIO_INTERNAL_H
#define SIO_INTERNAL_H
#include <event2/event.h>
#include <regex.h>
#include <sys/time.h>

#include "adapter.h"
#include "args.h"
#include "map.h"
#include "parser.h"
#include "sio/socketio.h"

typedef struct sio_client sio_client;

typedef struct handler {
  struct handler *next;
  char *event;           /* NULL for catch-all lists; in the handler's block */
  sio_event_fn fn;
  void *ud;
} handler;

typedef struct pmw {
  struct pmw *next;
  sio_packet_middleware_fn fn;
  void *ud;
} pmw;

typedef struct fn_ud {
  void (*fn)(void);
  void *ud;
} fn_ud;

/* A broadcast waiting for acknowledgements. */
typedef struct bc_ack {
  unsigned refs;
  sio_bc_ack_fn cb;
  void *ud;
  sio_args *responses;
  /* relay mode (another server's broadcast): each answer goes here */
  void (*relay)(void *ud, const json_t *value, sio_buf *const *bins, size_t nbins);
  void *relay_ud;
  void (*relay_free)(void *ud);
  size_t expected_clients;
  size_t expected_servers, actual_servers;
  int done;
  int expect_single;
  /* The timer owns a reference while it is armed; the ack is then listed
   * in srv->bc_acks (pprev/next), so a server that goes frees it. */
  struct event *timer;
  int timer_ref;
  struct sio_server *srv;
  struct bc_ack *next, **pprev;
} bc_ack;

/* An ack the server waits for on one socket. */
typedef struct pending_ack {
  struct pending_ack *next;
  long long id;
  sio_ack_fn cb;     /* single emit */
  void *ud;
  struct event *timer;
  bc_ack *bc;        /* or a broadcast's collector */
  sio_socket *s;
  uint64_t sent_us;  /* for the ack latency metric */
} pending_ack;

struct sio_ack {
  struct sio_ack *next;
  sio_socket *s;      /* NULL once orphaned (kept, and its socket went) */
  int kept;           /* sio_ack_keep: outlives its socket until answered */
  sio_server *orphan_of; /* the server whose orphan list holds it */
  long long id;
  /* an answer to another server (serverSideEmit with ack) */
  void (*remote)(void *rctx, const json_t *value, sio_buf *const *bins, size_t nbins);
  void *rctx;
};

enum sock_state { SOCK_NEW, SOCK_CONNECTED, SOCK_GONE };

/* A socket's seldom-set listeners (socket.c allocates it when the first is
 * set; freed with the socket). */
typedef struct sock_rare {
  handler *any_out;
  pmw *mws;
  sio_error_fn on_error;
  void *on_error_ud;
  sio_disconnect_fn on_disconnecting;
  void *on_disconnecting_ud;
} sock_rare;

struct sio_socket {
  sio_namespace *nsp;
  sio_client *client;
  char *id;           /* id_buf, or owned (v3 ids: "/nsp#<engine id>") */
  char id_buf[24];
  char pid[24];
  int v3;             /* an Engine.IO v3 client (Socket.IO protocol v4) */
  enum sock_state state;
  int recovered;
  unsigned refs;
  json_t *handshake;  /* built on first use (sio_socket_handshake) */
  json_t *auth;       /* kept for it */
  struct timeval issued;
  json_t *data;
  handler *handlers, *any;
  struct sock_rare *rare; /* what few sockets set, made on first use */
  sio_disconnect_fn on_disconnect;
  void *on_disconnect_ud;
  pending_ack *acks;
  sio_ack *client_acks;
  sio_socket *cnext;  /* in client's list */
};

struct sio_namespace {
  sio_server *srv;
  char *name;
  sio_adapter *adapter;
  sio_map sockets;        /* id -> connected sio_socket */
  fn_ud *mws;
  size_t nmws;
  fn_ud *conns;
  size_t nconns;
  long long ids;          /* ack ids (nsp._ids) */
  /* dynamic parents */
  int is_parent;
  sio_nsp_match_fn match;
  void *match_ud;
  regex_t re;
  int has_re;
  sio_namespace **children;
  size_t nchildren;
  sio_namespace *parent;
  struct nsp_recovery *rec; /* connection state recovery, when on */
  struct ss_handler *ss;    /* server-side event handlers */
  struct sio_ack ss_acks;   /* list head (next) of unanswered ones */
};

struct sio_client {
  sio_server *srv;
  eio_socket *conn;
  sio_socket *sockets;     /* connected or connecting, one per namespace */
  void *decoder;           /* the server parser's state for this client */
  struct event *connect_timer;
  unsigned refs;
  int closed;
  uint64_t opened_us;      /* Engine.IO session opened (metrics) */
  sio_client *prev, *next;
};

struct sio_server {
  struct event_base *base;
  sio_ack *orphan_acks;    /* kept acks whose socket went, not answered yet */
  bc_ack *bc_acks;         /* broadcasts with ack whose timer is armed */
  eio_server *eio;
  sio_options o;
  sio_map nsps;            /* name -> sio_namespace */
  sio_namespace **parents;
  size_t nparents;
  sio_client *clients;
  int closing;
  struct sio_serve *serve;          /* serveClient, when on */
  /* Makes each namespace's adapter (default: the in-memory one). */
  sio_adapter *(*adapter_new)(void *ud, const char *nsp, const sio_adapter_host *host);
  void *adapter_ud;
  void (*adapter_free)(void *ud);
  void (*adapter_close)(void *ud);
  eio_request_handler on_request;   /* the application's pages */
  void *on_request_ud;
  struct sio_admin *admin;          /* admin-ui namespace, when on */
  char *metrics_path;               /* Prometheus endpoint, when on */
  json_t *empty_auth;  /* one shared {} for every CONNECT without auth */
  struct sio_group *group; /* with several loops: every replica (replica.h) */
  sio_next *nexts;     /* middleware continuations the application holds */
  size_t index;        /* this replica's loop */
};

struct sio_broadcast {
  sio_namespace *nsp;
  char **rooms;
  size_t nrooms;
  char **except;
  size_t nexcept;
  unsigned flags;
  unsigned timeout_ms;
};

/* sio_client_write flag: later frames wait (EIO_SEND_ALONE), for replies a
 * client must read before it reacts (the CONNECT reply). */
#define SIO_WRITE_ALONE 0x10000u

/* server.c */
int sio_client_write(sio_client *c, sio_msg *msg, unsigned flags);
int sio_msg_encode(sio_msg *msg, const sio_parser *parser);
void sio_socket_notify_outgoing(sio_socket *s, const sio_msg *msg);
void sio_socket_add_ack(sio_socket *s, pending_ack *a);
bc_ack *sio_bc_ack_ref(bc_ack *b);
void sio_bc_ack_unref(bc_ack *b);
void sio_bc_ack_response(bc_ack *b, sio_args *args);
void sio_bc_ack_check(bc_ack *b);
/* Server closing or freed: every broadcast with ack still waiting ends now
 * (SIO_ERR_TIMEOUT with the responses so far) and its timer lets go. */
void sio_bc_acks_close(struct sio_server *srv);
/* socket.c */
void sio_sock_ref(sio_socket *s);
void sio_sock_unref(sio_socket *s);
const char *sio_event_name(const json_t *v, char *buf, size_t n);
void sio_on_ack_packet(sio_socket *s, sio_packet *p);
void sio_client_remove_socket(sio_client *c, sio_socket *s);
/* Node's socket._onclose. */
void sio_socket_onclose(sio_socket *s, const char *reason);
void sio_raise_error(sio_socket *s, const char *message, const json_t *data);
void sio_dispatch_event(sio_socket *s, const char *event, sio_args *args,
                        sio_ack *ack);

/* server.c: one packet to one client (not through the adapter). */
int sio_send_packet(sio_client *c, int type, const char *nsp, long long id,
                    json_t *data, const sio_args *args, unsigned flags);

/* middleware.c */
void sio_nexts_free(sio_server *srv);
void sio_mw_connect(sio_socket *s);
void sio_mw_packet(sio_socket *s, const char *event, sio_args *args, sio_ack *ack);

/* connect.c */
json_t *sio_query_object(const char *q);
json_t *sio_build_handshake(sio_client *c, json_t *auth,
                            const struct timeval *issued);
void sio_connect_refused(sio_socket *s, const char *message, json_t *data);
void sio_do_connect(sio_socket *s);
/* A CONNECT for a namespace this client is not in yet. */
void sio_client_connect(sio_client *c, const char *name, json_t *auth);

/* client.c */
void sio_client_unref(sio_client *c);
void sio_client_close(sio_client *c, const char *reason);
void sio_on_eio_connection(eio_server *eio, eio_socket *conn, void *ud);

/* server.c: replicas (see replica.h) */
sio_server *sio_replica_new(struct event_base *base, const sio_options *opts,
                            eio_server *eio, size_t index);
void sio_replica_close(sio_server *srv, int graceful, unsigned deadline_ms);
void sio_replica_teardown(sio_server *srv);
void sio_replica_free(sio_server *srv);

/* replica.c: pointers of replica 0 mapped to the current loop's twin. */
sio_namespace *sio_nsp_here(sio_namespace *nsp);
sio_server *sio_here(sio_server *srv);
/* Setup calls (socketio.h's thread rules). 1 when one on srv must reach
 * every replica (several loops): the caller applies it to its own loop's
 * replica, then sio_setup_others to the rest. */
int sio_setup_context(sio_server *srv);
enum { SIO_SETUP_USE, SIO_SETUP_ON_CONNECTION, SIO_SETUP_ON_SERVER_SIDE, SIO_SETUP_OF,
       SIO_SETUP_MATCH, SIO_SETUP_REGEX, SIO_SETUP_ON_REQUEST };
/* Applies a setup call to every replica but srv (the caller's, done
 * already): at once before listen, else as a task on each loop. nsp names
 * the namespace (NULL for server calls); str is copied. */
void sio_setup_others(sio_server *srv, int kind, sio_namespace *nsp, const char *str,
                      void (*fn)(void), void *ud);
/* One replica each (middleware.c, namespace.c, server.c). */
void sio_use_one(sio_namespace *nsp, sio_middleware_fn fn, void *ud);
void sio_on_connection_one(sio_namespace *nsp, sio_connection_fn fn, void *ud);
void sio_on_server_side_one(sio_namespace *nsp, const char *event, sio_server_side_fn fn,
                            void *ud);
sio_namespace *sio_of_one(sio_server *srv, const char *name);
sio_namespace *sio_of_match_one(sio_server *srv, sio_nsp_match_fn match, void *ud);
sio_namespace *sio_of_regex_one(sio_server *srv, const char *pattern);
void sio_on_request_one(sio_server *srv, eio_request_handler cb, void *ud);

/* namespace.c */
sio_namespace *sio_nsp_create(sio_server *srv, const char *name);
void sio_nsp_free(sio_namespace *nsp);
sio_adapter_host sio_nsp_host(sio_namespace *nsp);
void sio_nsp_forget_ack(sio_namespace *nsp, sio_ack *ack);
#endif
