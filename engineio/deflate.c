/*
 * The compressor (eio_deflater, one per server and loop) and the bounded
 * inflater of deflate.h; the negotiation is in deflate_negotiate.c.
 */
#include "deflate.h"
#include "buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ========================================================== compressor */

/* z_streams by kind: raw deflate for windows 8..15, gzip, zlib. */
enum { Z_KIND_GZIP = 16, Z_KIND_ZLIB = 17, Z_KINDS = 18 };

struct eio_deflater {
  int level;
  z_stream *zs[Z_KINDS];
};

eio_deflater *eio_deflater_new(int level) {
  eio_deflater *d = calloc(1, sizeof *d);
  if (d) d->level = level < -1 || level > 9 ? -1 : level;
  return d;
}

void eio_deflater_free(eio_deflater *d) {
  if (!d) return;
  for (int i = 0; i < Z_KINDS; i++) {
    if (d->zs[i]) {
      deflateEnd(d->zs[i]);
      free(d->zs[i]);
    }
  }
  free(d);
}

/* The stream of a kind, reset for a new message; NULL when out of memory. */
static z_stream *stream(eio_deflater *d, int kind) {
  z_stream *z = d->zs[kind];
  if (z) {
    deflateReset(z);
    return z;
  }
  z = calloc(1, sizeof *z);
  if (!z) return NULL;
  int wb, strategy = Z_DEFAULT_STRATEGY;
  if (kind == Z_KIND_GZIP) wb = 15 + 16;
  else if (kind == Z_KIND_ZLIB) wb = 15;
  else if (kind >= 9) wb = -kind;
  else {
    /* zlib has no 256-byte raw window: code literals only, which any
     * window decodes. */
    wb = -9;
    strategy = Z_HUFFMAN_ONLY;
  }
  if (deflateInit2(z, d->level, Z_DEFLATED, wb, 8, strategy) != Z_OK) {
    free(z);
    return NULL;
  }
  d->zs[kind] = z;
  return z;
}

/* Compresses the chunks with z, ending with flush (Z_SYNC_FLUSH for a
 * WebSocket message, Z_FINISH for a whole HTTP body). */
static sio_buf *compress_chunks(z_stream *z, const eio_chunk *c, size_t n,
                                int flush, int strip_tail) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += c[i].len;
  size_t cap = deflateBound(z, (uLong)total) + 16;
  uint8_t *out = malloc(cap);
  if (!out) return NULL;
  z->next_out = out;
  z->avail_out = (uInt)cap;
  size_t pieces = n ? n : 1;
  for (size_t i = 0; i < pieces; i++) {
    const uint8_t *p = n ? c[i].data : NULL;
    size_t left = n ? c[i].len : 0;
    int last = i + 1 == pieces;
    for (;;) {
      size_t step = left > (1u << 30) ? (1u << 30) : left;
      z->next_in = (Bytef *)(uintptr_t)p;
      z->avail_in = (uInt)step;
      int fl = last && step == left ? flush : Z_NO_FLUSH;
      int rc;
      for (;;) {
        if (z->avail_out == 0) {
          size_t used = cap;
          size_t ncap = cap * 2;
          uint8_t *m = realloc(out, ncap);
          if (!m) {
            free(out);
            return NULL;
          }
          out = m;
          cap = ncap;
          z->next_out = out + used;
          z->avail_out = (uInt)(cap - used);
        }
        rc = deflate(z, fl);
        if (rc == Z_STREAM_ERROR) {
          free(out);
          return NULL;
        }
        if (fl == Z_FINISH ? rc == Z_STREAM_END
                           : (z->avail_in == 0 && z->avail_out != 0))
          break;
      }
      left -= step;
      if (!left) break;
      p += step;
    }
  }
  size_t used = cap - z->avail_out;
  if (strip_tail && used >= 4) used -= 4;
  sio_buf *b = sio_buf_new(out, used);
  free(out);
  return b;
}

/* Cache keys: kind << 24 | level << 16 | variant << 8 | prefix. */
static uint32_t cache_key(int kind, int level, int variant, uint8_t prefix) {
  return (uint32_t)kind << 24 | (uint32_t)(level + 1) << 16 |
         (uint32_t)variant << 8 | prefix;
}

sio_buf *eio_deflate_ws(eio_deflater *d, sio_buf *data, uint8_t prefix,
                        int window_bits) {
  if (window_bits < 8 || window_bits > 15) window_bits = 15;
  uint32_t key = cache_key(1, d->level, window_bits, prefix);
  sio_buf *f = sio_buf_derived(data, key);
  if (f) return sio_buf_ref(f);
  z_stream *z = stream(d, window_bits);
  if (!z) return NULL;
  eio_chunk c[2];
  size_t n = 0;
  if (prefix) c[n++] = (eio_chunk){&prefix, 1};
  c[n++] = (eio_chunk){sio_buf_data(data), sio_buf_len(data)};
  f = compress_chunks(z, c, n, Z_SYNC_FLUSH, 1);
  if (f) sio_buf_set_derived(data, key, f); /* not cached: still usable */
  return f;
}

sio_buf *eio_deflate_http(eio_deflater *d, int encoding, const eio_chunk *c,
                          size_t n) {
  z_stream *z = stream(d, encoding == EIO_ENC_GZIP ? Z_KIND_GZIP : Z_KIND_ZLIB);
  return z ? compress_chunks(z, c, n, Z_FINISH, 0) : NULL;
}

sio_buf *eio_deflate_http_one(eio_deflater *d, int encoding, sio_buf *data,
                              uint8_t prefix, int b64) {
  uint32_t key = cache_key(encoding == EIO_ENC_GZIP ? 2 : 3, d->level,
                           b64 ? 1 : 0, prefix);
  sio_buf *f = sio_buf_derived(data, key);
  if (f) return sio_buf_ref(f);
  eio_chunk c[2] = {{&prefix, 1}, {sio_buf_data(data), sio_buf_len(data)}};
  if (b64) {
    size_t n;
    const char *s = sio_buf_base64(data, &n);
    if (!s) return NULL;
    c[1] = (eio_chunk){s, n};
  }
  f = eio_deflate_http(d, encoding, c, 2);
  if (f) sio_buf_set_derived(data, key, f);
  return f;
}

/* ======================================================== decompressor */

struct eio_inflater {
  z_stream zs;
  int live; /* zs is initialised */
  int no_context_takeover;
};

eio_inflater *eio_inflater_new(int no_context_takeover) {
  eio_inflater *z = calloc(1, sizeof *z);
  if (z) z->no_context_takeover = no_context_takeover;
  return z;
}

void eio_inflater_free(eio_inflater *z) {
  if (!z) return;
  if (z->live) inflateEnd(&z->zs);
  free(z);
}

#define INFLATE_FIRST_STEP 16384

int eio_inflate_message(eio_inflater *z, const uint8_t *in, size_t len,
                        size_t max, uint8_t **out, size_t *out_len) {
  static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
  *out = NULL;
  *out_len = 0;
  if (!z->live) {
    memset(&z->zs, 0, sizeof z->zs);
    if (inflateInit2(&z->zs, -15) != Z_OK) return EIO_INFLATE_NOMEM;
    z->live = 1;
  }
  /* The output may reach max + 1 bytes: one more than allowed proves the
   * message too big without inflating the rest. */
  size_t limit = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
  size_t cap = INFLATE_FIRST_STEP < limit ? INFLATE_FIRST_STEP : limit;
  uint8_t *buf = malloc(cap ? cap : 1);
  if (!buf) return EIO_INFLATE_NOMEM;
  size_t used = 0;
  int rc = Z_OK, ended = 0;
  const uint8_t *src[2] = {in, tail};
  size_t srclen[2] = {len, sizeof tail};
  for (int part = 0; part < 2 && !ended; part++) {
    const uint8_t *p = src[part];
    size_t left = srclen[part];
    while (!ended) {
      size_t step = left > (1u << 30) ? (1u << 30) : left;
      z->zs.next_in = (Bytef *)(uintptr_t)p;
      z->zs.avail_in = (uInt)step;
      for (;;) {
        if (used == cap) {
          if (cap >= limit) goto too_big;
          size_t ncap = cap * 2 < limit ? cap * 2 : limit;
          uint8_t *m = realloc(buf, ncap);
          if (!m) goto nomem;
          buf = m;
          cap = ncap;
        }
        size_t room = cap - used;
        if (room > (1u << 30)) room = 1u << 30;
        z->zs.next_out = buf + used;
        z->zs.avail_out = (uInt)room;
        rc = inflate(&z->zs, Z_SYNC_FLUSH);
        used += room - z->zs.avail_out;
        if (used > max) goto too_big;
        if (rc == Z_STREAM_END) {
          /* The client ended the stream (BFINAL): the next message starts
           * a new one; whatever follows here is the tail. */
          ended = 1;
          inflateReset(&z->zs);
          break;
        }
        if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR) goto bad;
        if (rc == Z_MEM_ERROR) goto nomem;
        if (rc == Z_BUF_ERROR && z->zs.avail_out != 0) break; /* input used */
        if (z->zs.avail_in == 0 && z->zs.avail_out != 0) break;
      }
      left -= step;
      if (!left) break;
      p += step;
    }
  }
  if (z->no_context_takeover) {
    inflateEnd(&z->zs);
    z->live = 0;
  }
  if (used == 0) {
    free(buf);
    buf = NULL;
  }
  *out = buf;
  *out_len = used;
  return EIO_INFLATE_OK;
too_big:
  free(buf);
  return EIO_INFLATE_TOO_BIG;
bad:
  free(buf);
  return EIO_INFLATE_BAD;
nomem:
  free(buf);
  return EIO_INFLATE_NOMEM;
}
