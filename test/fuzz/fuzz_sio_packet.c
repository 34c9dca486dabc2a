/* libFuzzer target: Socket.IO packet decoding, binary reconstruction and
 * re-encoding (socketio/parser.c, json.c). The input is split on 0xff
 * bytes: the first part is the text packet, each later part one binary
 * attachment. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *sep = memchr(data, 0xff, size);
  size_t tlen = sep ? (size_t)(sep - data) : size;
  sio_parser_limits lim = {10, 1024};
  sio_packet p;
  const char *err;
  if (sio_packet_decode((const char *)data, tlen, &lim, &p, &err) != 0) return 0;
  int complete = p.attachments == 0;
  size_t pos = sep ? tlen + 1 : size;
  while (!complete && pos <= size) {
    const uint8_t *nx = memchr(data + pos, 0xff, size - pos);
    size_t n = nx ? (size_t)(nx - (data + pos)) : size - pos;
    sio_buf *b = sio_buf_new(data + pos, n);
    int r = sio_packet_add_binary(&p, b, &err);
    sio_buf_unref(b);
    if (r < 0) break;
    complete = r == 1;
    pos += n + 1;
    if (!nx) break;
  }
  if (complete && (p.type == SIO_PACKET_EVENT || p.type == SIO_PACKET_BINARY_EVENT ||
                   p.type == SIO_PACKET_ACK || p.type == SIO_PACKET_BINARY_ACK)) {
    struct evbuffer *out = evbuffer_new();
    sio_buf **att;
    size_t natt;
    int type = p.type == SIO_PACKET_BINARY_EVENT ? SIO_PACKET_EVENT
               : p.type == SIO_PACKET_BINARY_ACK ? SIO_PACKET_ACK : p.type;
    if (sio_packet_encode(type, p.nsp, p.id, p.data, p.bins, p.nbins, out, &att,
                          &natt) == 0) {
      for (size_t i = 0; i < natt; i++) sio_buf_unref(att[i]);
      free(att);
    }
    evbuffer_free(out);
  }
  sio_packet_clear(&p);
  return 0;
}
