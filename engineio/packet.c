#include "packet.h"
#include "base64.h"

#include <string.h>

int eio_packet_decode_text(const uint8_t *in, size_t len, uint8_t *scratch,
                           eio_packet *out) {
  if (len == 0) return -1;
  uint8_t c = in[0];
  if (c >= '0' && c <= '6') {
    out->type = c - '0';
    out->binary = 0;
    out->data = in + 1;
    out->len = len - 1;
    return 0;
  }
  if (c == 'b' && scratch) {
    long n = eio_base64_decode((const char *)in + 1, len - 1, scratch);
    if (n < 0) return -1;
    out->type = EIO_MESSAGE;
    out->binary = 1;
    out->data = scratch;
    out->len = (size_t)n;
    return 0;
  }
  return -1;
}

int eio_payload_decode(const uint8_t *in, size_t len, uint8_t *scratch,
                       eio_payload_cb cb, void *arg) {
  size_t pos = 0;
  /* An empty body is one empty (invalid) packet, as in Node. */
  for (;;) {
    const uint8_t *rec = in + pos;
    const uint8_t *sep = memchr(rec, EIO_RECORD_SEP, len - pos);
    size_t rlen = sep ? (size_t)(sep - rec) : len - pos;
    eio_packet p;
    if (eio_packet_decode_text(rec, rlen, scratch, &p) != 0) return -1;
    int r = cb(arg, &p);
    if (r) return r;
    if (!sep) return 0;
    pos += rlen + 1;
  }
}
