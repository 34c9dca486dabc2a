/*
 * A hiredis reply reader whose allocations are bounded by what arrived.
 *
 * hiredis 0.14 allocates an array's element slots when it reads the
 * array's header: "*252518017\r\n" (12 bytes from the network) asks for
 * 2 GB. This reader builds the same redisReply objects as hiredis's own
 * (free them with freeReplyObject), but refuses an array of more than
 * SIO_RREADER_MAX_ELEMENTS slots, or a reply whose arrays together hold
 * more than that: the reader then fails with REDIS_ERR_OOM and the
 * connection is dropped as for any protocol error. The bound is far
 * above any reply the adapters ask for (a page of XRANGE with 1000
 * entries, CLUSTER SLOTS of 16384 ranges).
 */
#ifndef SIO_REDIS_READER_H
#define SIO_REDIS_READER_H

#include <hiredis/hiredis.h>

#define SIO_RREADER_MAX_ELEMENTS (1u << 20)

/* NULL when out of memory. Free with sio_rreader_free. */
redisReader *sio_rreader_new(void);
void sio_rreader_free(redisReader *rd);

#endif
