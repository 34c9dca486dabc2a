/*
 * Redis Cluster topology from a CLUSTER SHARDS or CLUSTER SLOTS reply
 * (spec redis-cluster.md section 6): the nodes (by address) and which
 * master serves each of the 16384 slots. Pure functions over a parsed
 * reply (hiredis's redisReply); no I/O.
 */
#ifndef SIO_REDIS_TOPOLOGY_H
#define SIO_REDIS_TOPOLOGY_H
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_slot.h"

/* Bounds on what a reply may describe (a cluster has at most ~1000 nodes
 * by Redis's own advice). */
#define SIO_RTOPO_MAX_NODES 1024

typedef struct sio_rtopo_node {
  char host[256];
  int port;
  char id[48];
  int master;     /* role master */
  int shard;      /* index of its shard (CLUSTER SHARDS order / SLOTS master) */
} sio_rtopo_node;

typedef struct sio_rtopo {
  sio_rtopo_node *nodes; /* usable nodes only: health online (SHARDS) or listed (SLOTS) */
  size_t n;
  int16_t owner[SIO_REDIS_SLOTS]; /* index into nodes of the slot's master, or -1 */
} sio_rtopo;

/* Build *out from the reply to CLUSTER SHARDS. asked_host is the host the
 * command went to (used when a node's endpoint is empty or nil); tls picks
 * tls-port over port. Accepted only when every slot has an online master.
 * Returns 0, or -1 with err filled (then *out is empty). Free with
 * sio_rtopo_clear. */
int sio_rtopo_from_shards(const redisReply *r, const char *asked_host, int tls,
                          sio_rtopo *out, char *err, size_t errlen);
/* The same from CLUSTER SLOTS (servers before 7.0). */
int sio_rtopo_from_slots(const redisReply *r, const char *asked_host, sio_rtopo *out,
                         char *err, size_t errlen);
void sio_rtopo_clear(sio_rtopo *t);
/* Index of host:port in t, or -1. */
int sio_rtopo_find(const sio_rtopo *t, const char *host, int port);
#endif
