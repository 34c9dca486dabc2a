/* libFuzzer target: msgpack from Redis (adapter/notepack.c). Any bytes
 * either fail to decode or decode to a value whose encoding is stable:
 * when encode(v) decodes again, encoding that gives the same bytes.
 * (Numbers may change JSON type on the way, as notepack writes integral
 * reals as integers; an unknown ext becomes [type, bin], one level deeper,
 * so a value at msgpack-c's nesting limit may not decode again.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notepack.h"

static void pack(msgpack_sbuffer *sb, const json_t *v, const sio_mp_bins *b) {
  msgpack_sbuffer_init(sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  if (sio_mp_pack(&pk, v, b->v, b->n) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sio_mp_bins bins = {0};
  json_t *v = sio_mp_decode((const char *)data, size, &bins);
  if (v) {
    msgpack_sbuffer one, two;
    pack(&one, v, &bins);
    sio_mp_bins again = {0};
    json_t *w = sio_mp_decode(one.data, one.size, &again);
    if (w) {
      pack(&two, w, &again);
      if (one.size != two.size || memcmp(one.data, two.data, one.size)) abort();
      msgpack_sbuffer_destroy(&two);
      json_decref(w);
    }
    msgpack_sbuffer_destroy(&one);
    sio_mp_bins_clear(&again);
    json_decref(v);
  }
  sio_mp_bins_clear(&bins);
  return 0;
}
