/* The Redis streams adapter, wire-compatible with
 * @socket.io/redis-streams-adapter 0.3 (see include/sio/redis.h and
 * ../shared/spec/redis-streams-adapter.md). */
#ifndef SIO_REDIS_STREAMS_H
#define SIO_REDIS_STREAMS_H
#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "notepack.h"
#include "sio/redis.h"

typedef struct sio_streams_cluster sio_streams_cluster;

/* The server-wide part: a main connection (XADD, PUBLISH, SET, XRANGE),
 * one subscriber connection for every namespace, and one reader
 * connection per stream doing only XREAD BLOCK. NULL with err filled on
 * a bad URL or option. */
sio_streams_cluster *sio_streams_cluster_new(struct event_base *base,
                                             const sio_redis_options *o, char *err,
                                             size_t errlen);
void sio_streams_cluster_free(void *cl);
/* Server closing: pending requests and restores end, connections close. */
void sio_streams_cluster_close(void *cl);
/* An adapter factory for the Socket.IO layer (one uid per namespace). */
sio_adapter *sio_streams_adapter_new(void *cl, const char *nsp,
                                     const sio_adapter_host *host);

/* Pure helpers (unit-tested). */
/* Node's stream index for nsp: Java's String.hashCode over UTF-16 code
 * units, truncating remainder by count (may be negative). */
int sio_streams_index(const char *nsp, unsigned count);
/* A stream id "<ms>-<seq>" (digits only, each fitting 64 bits): 0 and the
 * numbers, or -1. */
int sio_streams_parse_id(const char *s, size_t n, uint64_t *ms, uint64_t *seq);
/* A stream entry's data field (or a session value): JSON when it starts
 * with '{', else standard base64 of one msgpack value; binary becomes
 * placeholders into bins. NULL when malformed. Never reads past n. */
json_t *sio_streams_decode_data(const char *s, size_t n, sio_mp_bins *bins);
#endif
