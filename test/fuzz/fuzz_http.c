/* libFuzzer target: HTTP request heads, body framing, chunked bodies and
 * query strings (engineio/http.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static void sink(void *arg, const char *d, size_t n) {
  size_t *total = arg;
  /* Touch every byte handed out, so ASan checks the slice bounds. */
  for (size_t i = 0; i < n; i++) *total += (unsigned char)d[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t max_head = 16 + data[0] * 8u;
  const char *buf = (const char *)data + 1;
  size_t len = size - 1;
  eio_http_header h[16];
  eio_http_request req;
  req.headers = h;
  int r = eio_http_parse_request(buf, len, max_head, &req, 16);
  if (r <= 0) return 0;
  int chunked = 0;
  uint64_t cl = 0;
  eio_http_body_framing(&req, &chunked, &cl);
  const char *path, *query;
  size_t pl, ql;
  eio_http_split_target(req.target, req.target_len, &path, &pl, &query, &ql);
  char out[64];
  eio_http_query_get(query, ql, "sid", out, sizeof out);
  eio_http_query_get(query, ql, "EIO", out, sizeof out);
  eio_http_find(&req, "connection");
  for (size_t i = 0; i < req.num_headers; i++)
    eio_http_has_token(h[i].value, h[i].value_len, "upgrade");
  eio_http_chunked st;
  memset(&st, 0, sizeof st);
  size_t total = 0;
  int done = 0;
  size_t pos = (size_t)r;
  /* Feed the rest in two pieces to exercise resumption. */
  size_t rest = len - pos, first = rest / 2;
  long n = eio_http_chunked_decode(&st, buf + pos, first, 4096, 256, sink,
                                   &total, &done);
  if (n >= 0 && !done) {
    pos += (size_t)n;
    eio_http_chunked_decode(&st, buf + pos, len - pos, 4096, 256, sink, &total,
                            &done);
  }
  return 0;
}
