/*
 * JSON as JavaScript writes and reads it, over jansson values.
 *
 * sio_json_dump writes what JSON.stringify would: no whitespace, keys in
 * insertion order, only '"', '\\' and control characters escaped (lowercase
 * \u00xx), numbers in the shortest form that reads back to the same double,
 * integral values without a fraction, 1e21 and above in exponent form.
 */
#ifndef SIO_JSON_H
#define SIO_JSON_H
#include <event2/buffer.h>
#include <jansson.h>
#include <stddef.h>
#include <string.h>

#include "sio/buf.h"

/* Binary placeholders met while dumping: the placeholder objects of a
 * packet's arguments are renumbered in depth-first order as they are
 * written, and the buffers they name are collected in that order. */
typedef struct sio_bin_list {
  sio_buf *const *in;  /* buffers the placeholders' "num" refers to */
  size_t n_in;
  sio_buf **out;       /* collected, in wire order (references taken) */
  size_t n_out, cap;
} sio_bin_list;

/* A growing byte buffer for writing JSON and packets: it starts on a
 * caller's buffer (usually on the stack) and moves to the heap when that
 * is full. err is set (and writes stop) when memory runs out. */
typedef struct sio_jbuf {
  char *p;
  size_t len, cap;
  int heap; /* p was allocated here (sio_jbuf_release frees it) */
  int err;
} sio_jbuf;
#define SIO_JBUF_INIT(arr) {(arr), 0, sizeof(arr), 0, 0}

int sio_jbuf_grow(sio_jbuf *b, size_t extra); /* room for extra more bytes */
void sio_jbuf_release(sio_jbuf *b);
int sio_jbuf_int(sio_jbuf *b, long long v);  /* decimal */
static inline int sio_jbuf_put(sio_jbuf *b, const void *s, size_t n) {
  if (b->cap - b->len < n && sio_jbuf_grow(b, n)) return -1;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}
static inline int sio_jbuf_putc(sio_jbuf *b, char c) {
  if (b->cap == b->len && sio_jbuf_grow(b, 1)) return -1;
  b->p[b->len++] = c;
  return 0;
}

/* Appends the JSON text of v to out (as sio_json_dump). */
int sio_json_write(const json_t *v, sio_jbuf *out, sio_bin_list *bins);

/* Appends the JSON text of v to out. bins may be NULL (no binary).
 * Returns 0, or -1 when out of memory. */
int sio_json_dump(const json_t *v, struct evbuffer *out, sio_bin_list *bins);

/* Writes one number as JavaScript's Number#toString does; buf >= 32. */
void sio_json_number(double d, char *buf, size_t size);

/* Parses JSON text as JSON.parse would for the values that matter here:
 * integers beyond 64 bits become doubles instead of failing. Returns NULL
 * on a syntax error. */
json_t *sio_json_parse(const char *s, size_t len);

/* 1 when v is a binary placeholder: an object whose "_placeholder" is
 * true; *num gets its "num" (or -1 when not a non-negative integer). */
int sio_json_is_placeholder(const json_t *v, long long *num);
#endif
