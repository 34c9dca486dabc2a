/* Unit tests of engineio/polling_v3.c: v3 polling bodies from a queue. */
#include "buf.h"
#include "packet.h"
#include "polling_v3.h"
#include "test.h"

static size_t body(const eio_qpkt *q, int close, int bin_ok, char *out,
                   size_t cap, int *kind) {
  struct evbuffer *b = evbuffer_new();
  *kind = eio_polling_v3_encode(q, b, close, bin_ok);
  size_t n = evbuffer_get_length(b);
  if (n > cap) n = cap;
  evbuffer_remove(b, out, n);
  evbuffer_free(b);
  return n;
}

int main(void) {
  sio_buf *txt = sio_buf_new("h\xc3\xa9\xf0\x9f\x98\x80", 7); /* "hé😀": 4 units */
  sio_buf *bin = sio_buf_new("\x01\x02", 2);
  eio_qpkt ping = {.next = NULL, .type = EIO_PING, .data = NULL};
  eio_qpkt b = {.next = &ping, .type = EIO_MESSAGE, .binary = 1, .data = bin};
  eio_qpkt t = {.next = &b, .type = EIO_MESSAGE, .data = txt};
  char out[128];
  int kind;
  size_t n = body(&t, 0, 0, out, sizeof out, &kind);
  CHECK_EQ_INT(kind, 0);
  CHECK_MEM(out, n, "5:4h\xc3\xa9\xf0\x9f\x98\x80" "6:b4AQI=" "1:2");
  n = body(&t, 1, 1, out, sizeof out, &kind);
  CHECK_EQ_INT(kind, 1);
  CHECK_MEM(out, n, "\x00\x08\xff" "4h\xc3\xa9\xf0\x9f\x98\x80"
                    "\x01\x03\xff\x04\x01\x02" "\x00\x01\xff" "2" "\x00\x01\xff" "1");
  /* text only: a text payload even when binary is allowed */
  n = body(&ping, 1, 1, out, sizeof out, &kind);
  CHECK_EQ_INT(kind, 0);
  CHECK_MEM(out, n, "1:2" "1:1");
  /* the cached lengths are reused, and the buffers outlive the bodies */
  CHECK_EQ_INT(sio_buf_utf16_len(txt), 4);
  sio_buf_unref(txt);
  sio_buf_unref(bin);
  TEST_END();
}
