/*
 * The Redis adapter, wire-compatible with @socket.io/redis-adapter 8.3,
 * classic (Node's createAdapter, also what @socket.io/redis-emitter
 * speaks) and sharded (createShardedAdapter): libsio servers and Node
 * socket.io servers on one Redis form one cluster.
 */
#ifndef SIO_REDIS_H
#define SIO_REDIS_H

#include "sio/socketio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sio_redis_options {
  /* redis[s]://[[user]:password@]host[:port][/db] */
  const char *url;
  const char *key;                 /* channel prefix, "socket.io" */
  unsigned requests_timeout_ms;    /* 5000 (0 means 5000, as in Node) */
  int publish_on_specific_response_channel; /* 0 */
  /* parser: 0 = msgpack (notepack, Node's default), 1 = JSON (Node's
   * {encode: JSON.stringify, decode: JSON.parse}); every server of a
   * cluster must use the same. With JSON, binary arrives as
   * {"type":"Buffer","data":[...]}, as JSON.stringify writes a Buffer. */
  int json_parser;
  /* The sharded adapter (Node's createShardedAdapter, Redis >= 7:
   * SPUBLISH/SSUBSCRIBE): key is its channelPrefix; subscription_mode is
   * "static", "dynamic" (default) or "dynamic-private". Classic and sharded
   * servers do not talk to each other: a cluster picks one. */
  int sharded;
  const char *subscription_mode;
  /* The streams adapter (Node's @socket.io/redis-streams-adapter 0.3):
   * broadcasts and room operations through a Redis stream, requests over
   * PUB/SUB, sessions of connection state recovery stored in Redis so a
   * client can come back on any server. Node's option names; 0/NULL
   * means Node's default. key and sharded above are not used by it
   * (channel_prefix and use_sharded_pubsub are); requests_timeout_ms is. */
  int streams;
  const char *stream_name;        /* streamName, "socket.io" */
  unsigned stream_count;          /* streamCount, 1 */
  const char *channel_prefix;     /* channelPrefix, "socket.io" */
  int use_sharded_pubsub;         /* useShardedPubSub, 0 */
  unsigned max_len;               /* maxLen, 10000 (XADD MAXLEN ~) */
  unsigned read_count;            /* readCount, 100 (XREAD COUNT) */
  unsigned block_time_ms;         /* blockTimeInMs, 5000 (XREAD BLOCK) */
  const char *session_key_prefix; /* sessionKeyPrefix, "sio:session:" */
  /* Speak 0.2.x instead (for clusters of 0.2.x Node servers): every
   * message in the one stream, heartbeats every 5 s, peers silent for
   * 10 s (or that sent ADAPTER_CLOSE) no longer waited for. */
  int streams_v02;
  /* TLS (on with a rediss:// URL or any of these set), for every Redis
   * connection: the server's certificate is verified against tls_ca_file
   * (NULL: the system bundle) and the name tls_server_name (NULL: the
   * URL's host; a DNS name is also sent as SNI, an IP address must be in
   * the certificate's subjectAltName). tls_cert_file/tls_key_file: a
   * client certificate (both or neither; key_password for an encrypted
   * key). Files are read by sio_server_use_redis; a file that cannot be
   * loaded is an error there. */
  const char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_key_password;
  const char *tls_server_name;
  /* Called on the loop thread with the reason when a Redis connection
   * fails (refused, TLS handshake or certificate check, AUTH), once per
   * new reason in a row; the reason is also logged. The string is valid
   * during the call. May be NULL. */
  void (*on_error)(void *user_data, const char *reason);
  void *user_data;
  /* Redis Cluster (Node: createCluster({rootNodes}) of node-redis, new
   * Cluster(startupNodes) of ioredis): seed URLs, redis://[[user]:
   * password@]host[:port]; the topology is learnt from the cluster
   * (CLUSTER SHARDS, or SLOTS before Redis 7) and followed through
   * failovers and slot moves. The credentials of the first seed serve
   * every node. The array is read during sio_server_use_redis only. */
  const char *const *cluster_nodes;
  size_t n_cluster_nodes;             /* at most 64 */
  /* SIO_REDIS_MODE_DEFAULT: a cluster when cluster_nodes is set, else one
   * server (url). _SINGLE / _CLUSTER force it (a cluster with only url
   * uses it as the seed); _DETECT asks the first seed (CLUSTER SHARDS) and
   * goes on as one server when it has cluster support disabled. */
  int cluster_mode;
  unsigned cluster_node_timeout_ms;   /* reply timeout per node: 1000 */
  unsigned cluster_refresh_interval_ms; /* ioredis slotsRefreshInterval: 30000 */
} sio_redis_options;

enum { SIO_REDIS_MODE_DEFAULT = 0, SIO_REDIS_MODE_SINGLE = 1, SIO_REDIS_MODE_CLUSTER = 2,
       SIO_REDIS_MODE_DETECT = 3 };

void sio_redis_options_init(sio_redis_options *o);

/* Makes every namespace of srv use the Redis adapter: existing ones (that
 * have no sockets yet) and those created later. Connections are made in
 * the background and kept with reconnection and backoff; until Redis is
 * reachable, local delivery works and cross-server requests end at their
 * timeout. Returns SIO_OK, or SIO_ERR_INVALID with err filled (bad URL). */
int sio_server_use_redis(sio_server *srv, const sio_redis_options *o, char *err,
                         size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
