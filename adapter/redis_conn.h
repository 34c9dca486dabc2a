/*
 * A Redis connection of libsio's own on a libevent bufferevent. hiredis
 * does what it does well here, formatting commands and parsing replies
 * (its reader); this module owns the socket, the pub/sub state,
 * reconnection with backoff and the failure of pending commands. Why not
 * hiredis's async API: in hiredis 0.14 (and later) it cannot receive
 * sharded pub/sub messages (SSUBSCRIBE), which the sharded adapter needs,
 * and a subscriber connection that owns its subscriptions can resubscribe
 * by itself after a Redis restart.
 */
#ifndef SIO_REDIS_CONN_H
#define SIO_REDIS_CONN_H
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct sio_redis sio_redis;

/* reply is NULL when the command could not be sent or the connection went
 * before its reply; it is freed after the callback. */
typedef void (*sio_redis_reply_cb)(redisReply *reply, void *user_data);
/* A pub/sub message: pattern is NULL for plain and sharded messages. */
typedef void (*sio_redis_message_cb)(void *user_data, const char *pattern,
                                     const char *channel, size_t channel_len,
                                     const char *payload, size_t len);
/* connected: 1 when ready (after AUTH/SELECT), 0 when the connection or
 * an attempt to make it failed (it retries with backoff). */
typedef void (*sio_redis_state_cb)(void *user_data, int connected);
/* Subscriber connections: a reply that is not a message (subscription
 * confirmations, errors such as -MOVED, PING's answer, a sunsubscribe the
 * server pushed by itself); valid during the call. */
typedef void (*sio_redis_push_cb)(void *user_data, redisReply *reply);

typedef struct sio_redis_tls sio_redis_tls;

typedef struct sio_redis_url {
  char host[256];
  int port;
  char user[128];
  char password[256];
  int db;
  int tls;                 /* rediss:// */
  /* TLS for every connection made with this URL (redis_tls.h), or NULL;
   * each connection takes a reference of its own. */
  sio_redis_tls *tls_ctx;
  /* Called with the reason when a connection fails (refused, TLS
   * handshake or certificate check, AUTH), once per new reason in a row;
   * the reason is logged too. May be NULL. */
  void (*on_error)(void *user_data, const char *reason);
  void *error_user_data;
} sio_redis_url;

/* redis[s]://[[user]:password@]host[:port][/db]; 0 or -1. */
int sio_redis_parse_url(const char *url, sio_redis_url *out);

/* Starts connecting (asynchronously; reconnects with backoff forever).
 * A subscriber connection delivers messages to on_message. */
sio_redis *sio_redis_new(struct event_base *base, const sio_redis_url *url,
                         int subscriber, sio_redis_message_cb on_message,
                         sio_redis_state_cb on_state, void *user_data);
void sio_redis_free(sio_redis *r);
int sio_redis_connected(const sio_redis *r);
/* Sends a command now; when not connected cb gets NULL at once. */
void sio_redis_command(sio_redis *r, sio_redis_reply_cb cb, void *user_data,
                       int argc, const char **argv, const size_t *lens);
/* Subscriptions are remembered and sent again after each reconnection.
 * kind: "SUBSCRIBE", "PSUBSCRIBE" or "SSUBSCRIBE" (and the UN- forms
 * remove). */
void sio_redis_subscribe(sio_redis *r, const char *kind, const char *channel);
void sio_redis_unsubscribe(sio_redis *r, const char *kind, const char *channel);
/* Cluster use: see sio_redis_push_cb. */
void sio_redis_on_push(sio_redis *r, sio_redis_push_cb cb);
/* Writes a command whose reply is not awaited as a command reply (PING on
 * a subscriber connection: its answer comes to on_push); nothing when
 * not connected. */
void sio_redis_send_nowait(sio_redis *r, int argc, const char **argv);
/* Closes the connection now (a node that stopped answering) and retries
 * with backoff; pending commands get NULL. Not from r's own callbacks. */
void sio_redis_drop(sio_redis *r, const char *why);
#endif
