/* The classic Redis adapter (see include/sio/redis.h and
 * ../shared/spec/redis-adapter.md sections 2-4 and 6). */
#ifndef SIO_REDIS_ADAPTER_H
#define SIO_REDIS_ADAPTER_H
#include <event2/event.h>

#include "adapter.h"
#include "sio/redis.h"

typedef struct sio_redis_cluster sio_redis_cluster;

/* The server-wide part: one publishing and one subscribing connection
 * shared by every namespace (so each server is one subscriber of each
 * channel, which NUMSUB counts). */
sio_redis_cluster *sio_redis_cluster_new(struct event_base *base,
                                         const sio_redis_options *o, char *err,
                                         size_t errlen);
void sio_redis_cluster_free(void *cl);
/* Server closing: pending requests end, the connections close (so the
 * event loop can finish); the adapters stay until freed. */
void sio_redis_cluster_close(void *cl);
/* An adapter factory for the Socket.IO layer. */
sio_adapter *sio_redis_adapter_new(void *cl, const char *nsp,
                                   const sio_adapter_host *host);
#endif
