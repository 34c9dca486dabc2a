/* libFuzzer target: a stream of client WebSocket frames through the
 * server's checks, unmasking, UTF-8 validation and close payloads
 * (engineio/ws.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t pos = 0;
  int in_msg = 0;
  uint64_t msg_len = 0;
  while (pos < size) {
    eio_ws_frame f;
    int h = eio_ws_parse_header(data + pos, size - pos, &f);
    if (h <= 0) return 0;
    const char *why;
    if (eio_ws_check_client_frame(&f, in_msg, msg_len, 4096, &why)) return 0;
    pos += (size_t)h;
    if (f.payload_len > size - pos) return 0;
    size_t n = (size_t)f.payload_len;
    uint8_t *p = malloc(n ? n : 1);
    memcpy(p, data + pos, n);
    eio_ws_unmask(p, n, f.mask, 0);
    if (f.opcode == EIO_WS_CLOSE) {
      int code;
      eio_ws_check_close_payload(p, n, &code);
    } else if (f.opcode < EIO_WS_CLOSE) {
      eio_ws_utf8_valid(p, n);
      in_msg = !f.fin;
      msg_len = f.fin ? 0 : msg_len + n;
    }
    free(p);
    pos += n;
  }
  return 0;
}
