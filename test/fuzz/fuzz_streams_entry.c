/* libFuzzer target: a Redis stream entry's data field or a stored session
 * value (adapter/redis_streams.c), and stream ids. Any bytes either fail
 * or decode; nothing reads past the input, nothing leaks. */
#include <stdint.h>
#include <stdlib.h>

#include "redis_streams.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sio_mp_bins bins = {0};
  json_t *v = sio_streams_decode_data((const char *)data, size, &bins);
  json_decref(v);
  sio_mp_bins_clear(&bins);
  uint64_t ms, seq;
  (void)sio_streams_parse_id((const char *)data, size, &ms, &seq);
  return 0;
}
