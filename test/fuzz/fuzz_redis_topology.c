/* libFuzzer target: CLUSTER SHARDS / SLOTS replies (adapter/redis_topology.c)
 * as RESP bytes read by hiredis's reader. A reply either is refused or
 * gives a map where every slot names a node of the table. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>

#include "redis_reader.h"
#include "redis_topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  redisReader *rd = sio_rreader_new();
  void *rep = NULL;
  if (rd && redisReaderFeed(rd, (const char *)data, size) == REDIS_OK &&
      redisReaderGetReply(rd, &rep) == REDIS_OK && rep) {
    static sio_rtopo t;
    char err[128];
    for (int kind = 0; kind < 2; kind++) {
      int ok = kind ? sio_rtopo_from_slots(rep, "127.0.0.1", &t, err, sizeof err)
                    : sio_rtopo_from_shards(rep, "127.0.0.1", size & 1, &t, err, sizeof err);
      if (ok == 0)
        for (size_t s = 0; s < SIO_REDIS_SLOTS; s++)
          if (t.owner[s] < 0 || (size_t)t.owner[s] >= t.n) abort();
      sio_rtopo_clear(&t);
    }
    freeReplyObject(rep);
  }
  sio_rreader_free(rd);
  return 0;
}
