/*
 * The Redis adapters' connection layer: one Redis server (a publishing and
 * a subscribing connection, adapter/redis_conn.c) or a Redis Cluster
 * (../shared/spec/redis-cluster.md sections 8 and 9): the topology from
 * CLUSTER SHARDS (or SLOTS), a slot map, per node a command connection
 * and, when it holds subscriptions, a pub/sub connection; MOVED and ASK
 * followed; the topology refreshed on redirects, on connection loss, on a
 * sunsubscribe the server pushes and every refresh_interval_ms; every
 * subscription restored after a failover or a slot move; a reply timeout
 * and PINGs per node, so a dead or frozen node never holds anything up.
 *
 * Classic pub/sub (PUBLISH, SUBSCRIBE, PSUBSCRIBE) lives on one master,
 * re-homed to another live master at once when its connection fails;
 * sharded (SPUBLISH, SSUBSCRIBE) goes to the master of the channel's slot,
 * one channel per SSUBSCRIBE. Counts (PUBSUB NUMSUB / SHARDNUMSUB) are
 * summed over every online node, masters and replicas, each with the
 * reply timeout. Publishes that cannot go out (no live owner yet) wait in
 * a bounded queue (8 MiB; sharded ones up to deadline_ms) and are sent once
 * the slot has an owner; what is dropped is logged and counted.
 */
#ifndef SIO_REDIS_CLUSTER_H
#define SIO_REDIS_CLUSTER_H
#include <event2/event.h>
#include <stddef.h>

#include "redis_conn.h"

typedef struct sio_rc sio_rc;

enum { SIO_RC_SINGLE = 0, SIO_RC_CLUSTER = 1, SIO_RC_DETECT = 2 };

typedef struct sio_rc_config {
  const sio_redis_url *seeds; /* copied; single mode uses seeds[0] (with its db) */
  size_t n_seeds;
  int mode;                   /* SIO_RC_SINGLE, SIO_RC_CLUSTER, SIO_RC_DETECT */
  unsigned node_timeout_ms;   /* reply timeout per command and node: 1000 */
  unsigned refresh_interval_ms; /* periodic topology refresh: 30000 */
  unsigned deadline_ms;       /* how long a sharded publish waits for an owner: 30000
                               * (a failover takes node-timeout + 2-3 s) */
} sio_rc_config;

/* The SIO_RC_* mode for a user's cluster_mode option (SIO_REDIS_MODE_*;
 * the default is cluster mode when cluster_nodes are given), or -1 with
 * the reason in err for an unknown value. */
int sio_rc_mode_from_option(int cluster_mode, int have_cluster_nodes,
                            char *err, size_t errlen);

/* Counters for logs and tests. */
typedef struct sio_rc_stats {
  size_t refreshes, resubscribes, rehomes, redirects, dropped, queued;
} sio_rc_stats;

/* n: the sum over the nodes that answered in time (0 when none did). */
typedef void (*sio_rc_count_cb)(void *user_data, size_t n);

/* Starts connecting in the background. on_message gets every message of
 * every subscription (user_data is ud). NULL on out of memory. */
sio_rc *sio_rc_new(struct event_base *base, const sio_rc_config *cfg,
                   sio_redis_message_cb on_message, void *ud);
/* Closes everything; pending counts get their callback first (with what
 * they have). Not from inside a callback of c. */
void sio_rc_free(sio_rc *c);
/* cmd: "PUBLISH" or "SPUBLISH"; payload copied. Never blocks, never calls
 * back. */
void sio_rc_publish(sio_rc *c, const char *cmd, const char *channel, const char *payload,
                    size_t len);
/* kind: "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"; kept and restored. */
void sio_rc_subscribe(sio_rc *c, const char *kind, const char *channel);
void sio_rc_unsubscribe(sio_rc *c, const char *kind, const char *channel);
/* PUBSUB <what> <channel> (what: "NUMSUB" or "SHARDNUMSUB"), summed.
 * cb is called exactly once, maybe before this returns. */
void sio_rc_count(sio_rc *c, const char *what, const char *channel, sio_rc_count_cb cb,
                  void *ud);
sio_rc_stats sio_rc_get_stats(const sio_rc *c);

/* Keyed commands (the streams adapter: XADD, XRANGE, SET, MULTI..EXEC). */
/* The URL of the master serving key's slot (single mode: the server), for
 * a connection of the caller's own (a blocking XREAD); it carries the
 * seeds' AUTH and TLS (the caller's connection takes its own reference).
 * 0, or -1 while no reachable owner is known. */
int sio_rc_owner(const sio_rc *c, const char *key, sio_redis_url *out);
/* Sends argv to the master of key's slot with the reply timeout (single
 * mode: the command connection). follow: -MOVED / -ASK are followed (at
 * most a few times, MOVED also updates the slot map and refreshes it);
 * 0 for commands that must stay on one connection in order (MULTI ...
 * EXEC on one key), whose errors go to cb as they are. cb gets NULL when
 * no owner is known, the node is down, or the reply timed out; it may be
 * called before this returns. */
void sio_rc_key_command(sio_rc *c, const char *key, int follow, sio_redis_reply_cb cb,
                        void *ud, int argc, const char **argv, const size_t *lens);
/* A connection of the caller's own got err ("MOVED <slot> <host>:<port>",
 * "CLUSTERDOWN ...", ...): the slot map takes the new owner and/or a
 * refresh is scheduled. */
void sio_rc_redirected(sio_rc *c, const char *err);
#endif
