/* libFuzzer target: socketio/json.c's parser against jansson's json_loadb
 * with the flags it replaced (read again with every number as a real when
 * an integer is beyond 64 bits): both fail, or both give equal values that
 * are written identically; an input holding a NUL byte must fail (jansson
 * skips a NUL after a number or a literal, JSON.parse does not). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static json_t *ref_parse(const char *s, size_t len) {
  json_error_t err;
  size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
  json_t *v = json_loadb(s, len, flags, &err);
  if (!v && strstr(err.text, "too big"))
    v = json_loadb(s, len, flags | JSON_DECODE_INT_AS_REAL, &err);
  return v;
}

static int same_text(const json_t *a, const json_t *b) {
  struct evbuffer *x = evbuffer_new(), *y = evbuffer_new();
  sio_json_dump(a, x, NULL);
  sio_json_dump(b, y, NULL);
  size_t n = evbuffer_get_length(x);
  int ok = n == evbuffer_get_length(y) &&
           memcmp(evbuffer_pullup(x, -1), evbuffer_pullup(y, -1), n) == 0;
  evbuffer_free(x);
  evbuffer_free(y);
  return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *a = sio_json_parse((const char *)data, size);
  /* A raw NUL byte is never valid JSON (JSON.parse rejects it) but
   * jansson skips one that follows a number or a literal: such inputs
   * only have to fail here. */
  if (memchr(data, 0, size)) {
    if (a) abort();
    return 0;
  }
  json_t *b = ref_parse((const char *)data, size);
  if (!a != !b) abort();
  if (a && (!json_equal(a, b) || !same_text(a, b))) abort();
  json_decref(a);
  json_decref(b);
  return 0;
}
