/* libFuzzer target: Engine.IO polling payloads and single packets
 * (engineio/packet.c, base64.c). */
#include <stdint.h>
#include <stdlib.h>

#include "base64.h"
#include "packet.h"

static int visit(void *arg, const eio_packet *p) {
  size_t *sum = arg;
  for (size_t i = 0; i < p->len; i++) *sum += p->data[i];
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *scratch = malloc(eio_base64_decoded_max(size) + 1);
  size_t sum = 0;
  eio_payload_decode(data, size, scratch, visit, &sum);
  eio_packet p;
  eio_packet_decode_text(data, size, NULL, &p);
  /* base64 round trip of whatever decoded */
  long n = eio_base64_decode((const char *)data, size, scratch);
  if (n >= 0) {
    char *enc = malloc(eio_base64_encoded_len((size_t)n) + 1);
    eio_base64_encode(scratch, (size_t)n, enc);
    free(enc);
  }
  free(scratch);
  return 0;
}
