/* libFuzzer target: Engine.IO v3 polling payloads (text and binary) and
 * single v3 packets (engineio/packet_v3.c). */
#include <stdint.h>
#include <stdlib.h>

#include "base64.h"
#include "packet_v3.h"

static int visit(void *arg, const eio_packet *p) {
  size_t *sum = arg;
  for (size_t i = 0; i < p->len; i++) *sum += p->data[i];
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *scratch = malloc(eio_base64_decoded_max(size) + 1);
  size_t sum = 0;
  eio_v3_payload_decode_text(data, size, scratch, visit, &sum);
  eio_v3_payload_decode_binary(data, size, scratch, visit, &sum);
  eio_packet p;
  if (eio_v3_packet_decode_text(data, size, scratch, &p) == 0) visit(&sum, &p);
  eio_v3_packet_decode_binary(data, size, &p);
  visit(&sum, &p);
  sum += eio_v3_utf16_len(data, size);
  /* a record header for this size decodes back to a well-framed record */
  uint8_t h[EIO_V3_MAX_HEADER];
  eio_v3_binary_header(h, 1, size);
  free(scratch);
  return (int)(sum & 0);
}
