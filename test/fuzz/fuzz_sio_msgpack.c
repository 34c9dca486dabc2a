/* libFuzzer target: socket.io-msgpack-parser decoding and re-encoding
 * (socketio/msgpack_parser.c over adapter/notepack.c's bounds check). A
 * decoded packet must encode, and its encoding must decode again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msgpack_parser.h"

/* Nesting of a decoded value. An unknown msgpack extension decodes as
 * [type, bytes] (as notepack.io does) and so re-encodes one level deeper;
 * msgpack-c's unpacker refuses more than 32 levels (its stack), so a
 * packet already that deep may legitimately not read back. */
static int depth(const json_t *v) {
  int d = 0;
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++) {
      int k = depth(json_array_get(v, i));
      if (k > d) d = k;
    }
    return d + 1;
  }
  if (json_is_object(v)) {
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)v, key, x) {
      int k = depth(x);
      if (k > d) d = k;
    }
    return d + 1;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sio_parser_limits lim = {10, 1024};
  sio_packet p;
  const char *err;
  if (sio_mpp_decode(data, size, &lim, &p, &err) != 0) return 0;
  sio_encoded e;
  if (sio_mpp_encode(&p, &e) == 0) {
    sio_packet q;
    if (sio_mpp_decode(sio_buf_data(e.head), sio_buf_len(e.head), &lim, &q, &err) != 0) {
      if (depth(p.data) + 2 >= 32) { /* the packet map + data: at the unpacker's limit */
        sio_encoded_clear(&e);
        sio_packet_clear(&p);
        return 0;
      }
      abort(); /* what we write, we read */
    }
    if (q.type != p.type || q.id != p.id || strcmp(q.nsp, p.nsp) != 0) abort();
    sio_packet_clear(&q);
    sio_encoded_clear(&e);
  }
  sio_packet_clear(&p);
  return 0;
}
