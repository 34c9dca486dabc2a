/* libFuzzer target: socket.io-msgpack-parser decoding and re-encoding
 * (socketio/msgpack_parser.c over adapter/notepack.c's bounds check). A
 * decoded packet must encode, and its encoding must decode again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msgpack_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sio_parser_limits lim = {10, 1024};
  sio_packet p;
  const char *err;
  if (sio_mpp_decode(data, size, &lim, &p, &err) != 0) return 0;
  sio_encoded e;
  if (sio_mpp_encode(&p, &e) == 0) {
    sio_packet q;
    if (sio_mpp_decode(sio_buf_data(e.head), sio_buf_len(e.head), &lim, &q, &err) != 0)
      abort(); /* what we write, we read */
    if (q.type != p.type || q.id != p.id || strcmp(q.nsp, p.nsp) != 0) abort();
    sio_packet_clear(&q);
    sio_encoded_clear(&e);
  }
  sio_packet_clear(&p);
  return 0;
}
