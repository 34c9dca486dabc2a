/* libFuzzer target: the inflate path of permessage-deflate (engineio/
 * deflate.c), with the output bound, context kept across messages, and the
 * header parsers (Sec-WebSocket-Extensions, Accept-Encoding). The first
 * byte picks the part; for inflate, 0xff bytes split the input into
 * messages inflated one after another by one connection's inflater. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  data++;
  size--;
  /* Copies, so that ASan sees any read past the input. */
  uint8_t *copy = malloc(size ? size : 1);
  if (size) memcpy(copy, data, size);
  switch (mode % 4) {
  case 0:
  case 1: {
    eio_inflater *z = eio_inflater_new(mode & 1);
    size_t start = 0;
    while (start <= size) {
      size_t end = start;
      while (end < size && copy[end] != 0xff) end++;
      uint8_t *out;
      size_t ol;
      int r = eio_inflate_message(z, copy + start, end - start, 65536, &out, &ol);
      if (r != EIO_INFLATE_OK) break;
      if (ol > 65536) abort(); /* the bound */
      free(out);
      start = end + 1;
    }
    eio_inflater_free(z);
    break;
  }
  case 2: {
    eio_per_message_deflate o;
    eio_per_message_deflate_init(&o);
    o.server_max_window_bits = (mode >> 2) & 1 ? 8 + (mode >> 4) % 8 : 0;
    o.client_max_window_bits = (mode >> 3) & 1 ? 8 + (mode >> 5) % 8 : 0;
    eio_pmd_params p;
    if (eio_pmd_negotiate((const char *)copy, size, &o, &p) == EIO_PMD_ACCEPTED) {
      char line[160];
      if (eio_pmd_format(&p, line, sizeof line) == 0) abort();
      if (p.server_window_bits < 8 || p.server_window_bits > 15) abort();
    }
    break;
  }
  default:
    eio_accept_encoding((const char *)copy, size);
    break;
  }
  free(copy);
  return 0;
}
