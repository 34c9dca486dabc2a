/* Unit tests of engineio/deflate.c: the Accept-Encoding choice, the
 * permessage-deflate negotiation, compress-once, and the bounded inflater
 * (inputs placed right before a guard page). */
#include "deflate.h"
#include "buf.h"
#include "test.h"

#include <zlib.h>

static int accept_enc(const char *v) {
  if (!v) return eio_accept_encoding(NULL, 0);
  guard_buf g;
  const char *p = (const char *)guard_put(&g, v, strlen(v));
  int r = eio_accept_encoding(p, strlen(v));
  guard_free(&g);
  return r;
}

static void test_accept_encoding(void) {
  static const struct {
    const char *v;
    int want;
  } cases[] = {
      {"gzip", EIO_ENC_GZIP},
      {"deflate", EIO_ENC_DEFLATE},
      {"gzip, deflate, br", EIO_ENC_GZIP},
      {"deflate, gzip", EIO_ENC_DEFLATE},
      {"gzip;q=0.5, deflate", EIO_ENC_DEFLATE},
      {"deflate;q=0.1, gzip;q=0.2", EIO_ENC_GZIP},
      {"*", EIO_ENC_GZIP},
      {"br, *;q=0.5", EIO_ENC_GZIP},
      {"deflate, *", EIO_ENC_DEFLATE},
      {"GZIP", EIO_ENC_GZIP},
      {"gzip;q=0", EIO_ENC_IDENTITY},
      {"gzip;q=0, *", EIO_ENC_DEFLATE},
      {"identity", EIO_ENC_IDENTITY},
      {"br, zstd", EIO_ENC_IDENTITY},
      {"", EIO_ENC_IDENTITY},
      {"gzip;q=0.5, deflate;q=0.5", EIO_ENC_GZIP},
      {"deflate;q=0.5, gzip;q=0.5", EIO_ENC_DEFLATE},
      {"gzip; q=0.3, deflate; q=0.4", EIO_ENC_DEFLATE},
      {"gzip;q=abc, deflate", EIO_ENC_DEFLATE},
      {"x-gzip, gzip;level=1", EIO_ENC_GZIP},
      {"gzip foo, deflate", EIO_ENC_DEFLATE},
      {"*;q=0, gzip", EIO_ENC_GZIP},
      {"gzip;q=1e-1, deflate;q=.05", EIO_ENC_GZIP},
      {",,, ,gzip", EIO_ENC_GZIP},
      {"gzip;q=Infinity, deflate", EIO_ENC_GZIP},
      {"gzip;q", EIO_ENC_IDENTITY},
      {";q=1", EIO_ENC_IDENTITY},
      {"gzip ;q=0.2, deflate;q=0.1", EIO_ENC_GZIP},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int r = accept_enc(cases[i].v);
    if (r != cases[i].want) fprintf(stderr, "Accept-Encoding: %s\n", cases[i].v);
    CHECK_EQ_INT(r, cases[i].want);
  }
  CHECK_EQ_INT(accept_enc(NULL), EIO_ENC_IDENTITY);
}

static int negotiate(const char *v, const eio_per_message_deflate *o,
                     eio_pmd_params *p, char *line, size_t n) {
  guard_buf g;
  const char *gv = (const char *)guard_put(&g, v, strlen(v));
  int r = eio_pmd_negotiate(gv, strlen(v), o, p);
  guard_free(&g);
  if (r == EIO_PMD_ACCEPTED) eio_pmd_format(p, line, n);
  else line[0] = '\0';
  return r;
}

#define SWE "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"

static void test_negotiate(void) {
  eio_per_message_deflate o;
  eio_per_message_deflate_init(&o);
  CHECK_EQ_INT(o.threshold, 1024);
  eio_pmd_params p;
  char line[160];
  static const struct {
    const char *v, *want;
  } ok[] = {
      {"permessage-deflate", SWE "\r\n"},
      {"permessage-deflate; client_max_window_bits", SWE "\r\n"},
      {"permessage-deflate; client_max_window_bits=10",
       SWE "; client_max_window_bits=10\r\n"},
      {"permessage-deflate; client_max_window_bits=\"10\"",
       SWE "; client_max_window_bits=10\r\n"},
      {"permessage-deflate ; server_max_window_bits=0x9 ; client_no_context_takeover",
       SWE "; client_no_context_takeover; server_max_window_bits=9\r\n"},
      {"foo, permessage-deflate; server_max_window_bits=\"1\\3\"",
       SWE "; server_max_window_bits=13\r\n"},
      {"x-webkit-deflate-frame; no_context_takeover, permessage-deflate;server_no_context_takeover",
       SWE "\r\n"},
      {"permessage-deflate; server_max_window_bits=8", SWE "; server_max_window_bits=8\r\n"},
      {"permessage-deflate; server_max_window_bits=1e1", SWE "; server_max_window_bits=10\r\n"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    int r = negotiate(ok[i].v, &o, &p, line, sizeof line);
    if (r != EIO_PMD_ACCEPTED || strcmp(line, ok[i].want) != 0)
      fprintf(stderr, "offer %s -> %d %s\n", ok[i].v, r, line);
    CHECK_EQ_INT(r, EIO_PMD_ACCEPTED);
    CHECK(strcmp(line, ok[i].want) == 0);
  }
  static const char *const none[] = {"x-webkit-deflate-frame", "foo; a=1, bar",
                                     "Permessage-Deflate"};
  for (size_t i = 0; i < sizeof none / sizeof *none; i++)
    CHECK_EQ_INT(negotiate(none[i], &o, &p, line, sizeof line), EIO_PMD_NONE);
  static const char *const bad[] = {
      "permessage-deflate; foo", "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits", "permessage-deflate; client_no_context_takeover=1",
      "permessage-deflate; client_max_window_bits=16", "permessage-deflate;",
      "permessage-deflate, ", ", permessage-deflate", "permessage-deflate; a=\"\"",
      "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
      "permessage-deflate, permessage-deflate; x", "permessage-deflate; server_max_window_bits= 9",
      "x-other; a=1\"", "permessage-deflate; server_max_window_bits=1.5",
      "permessage-deflate; server_max_window_bits=\"10", "permessage-deflate; a =1",
      "permessage-deflate x", "permessage-deflate; server_max_window_bits=\"1\\\"\"",
      "", "permessage-deflate,,foo", "permessage-deflate; server_max_window_bits=Infinity",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int r = negotiate(bad[i], &o, &p, line, sizeof line);
    if (r != EIO_PMD_INVALID) fprintf(stderr, "offer %s -> %d\n", bad[i], r);
    CHECK_EQ_INT(r, EIO_PMD_INVALID);
  }
  /* The server's own limits. */
  o.server_max_window_bits = 12;
  o.client_max_window_bits = 10;
  o.client_no_context_takeover = 1;
  CHECK_EQ_INT(negotiate("permessage-deflate; server_max_window_bits=11", &o, &p,
                         line, sizeof line),
               EIO_PMD_INVALID);
  CHECK_EQ_INT(negotiate("permessage-deflate", &o, &p, line, sizeof line),
               EIO_PMD_INVALID); /* no client_max_window_bits offered */
  CHECK_EQ_INT(negotiate("permessage-deflate; server_max_window_bits=10; "
                         "client_max_window_bits, permessage-deflate; "
                         "client_max_window_bits=9",
                         &o, &p, line, sizeof line),
               EIO_PMD_ACCEPTED);
  CHECK(strcmp(line, SWE "; client_no_context_takeover; server_max_window_bits=12; "
                         "client_max_window_bits=9\r\n") == 0);
  CHECK_EQ_INT(p.server_window_bits, 12);
  CHECK_EQ_INT(p.client_no_context_takeover, 1);
}

/* Inflates a whole-stream gzip or zlib body with zlib itself. */
static size_t zinflate(const sio_buf *b, int wbits, uint8_t *out, size_t cap) {
  z_stream z;
  memset(&z, 0, sizeof z);
  inflateInit2(&z, wbits);
  z.next_in = (Bytef *)(uintptr_t)sio_buf_data(b);
  z.avail_in = (uInt)sio_buf_len(b);
  z.next_out = out;
  z.avail_out = (uInt)cap;
  int rc = inflate(&z, Z_FINISH);
  size_t n = cap - z.avail_out;
  inflateEnd(&z);
  return rc == Z_STREAM_END ? n : (size_t)-1;
}

/* Inflates through eio_inflater with the input before a guard page. */
static int inflate_guarded(eio_inflater *z, const uint8_t *in, size_t len,
                           size_t max, uint8_t **out, size_t *out_len) {
  guard_buf g;
  const uint8_t *p = guard_put(&g, in, len);
  int r = eio_inflate_message(z, p, len, max, out, out_len);
  guard_free(&g);
  return r;
}

static void test_compress_once(void) {
  eio_deflater *d = eio_deflater_new(-1);
  size_t n = 20000;
  char *text = malloc(n);
  for (size_t i = 0; i < n; i++) text[i] = "abcdefghij, "[i % 12] + (i % 1000 == 0);
  sio_buf *msg = sio_buf_new(text, n);
  sio_buf *a = eio_deflate_ws(d, msg, '4', 15);
  sio_buf *b = eio_deflate_ws(d, msg, '4', 15);
  CHECK(a && a == b); /* the second recipient gets the cached form */
  CHECK(sio_buf_len(a) < n / 10);
  sio_buf *c = eio_deflate_ws(d, msg, '4', 10);
  CHECK(c && c != a);
  sio_buf *e = eio_deflate_ws(d, msg, 0, 8);
  CHECK(e && e != a);
  /* Each form inflates to "4" + text; a connection's inflater takes them
   * one after another (each message stands alone). */
  eio_inflater *z = eio_inflater_new(0);
  sio_buf *forms[3] = {a, c, e};
  for (int i = 0; i < 3; i++) {
    uint8_t *out;
    size_t ol;
    CHECK_EQ_INT(inflate_guarded(z, sio_buf_data(forms[i]), sio_buf_len(forms[i]),
                                 1000000, &out, &ol),
                 EIO_INFLATE_OK);
    size_t off = i == 2 ? 0 : 1;
    CHECK_EQ_INT(ol, n + off);
    CHECK(ol == n + off && (off == 0 || out[0] == '4') && memcmp(out + off, text, n) == 0);
    free(out);
  }
  eio_inflater_free(z);
  /* HTTP bodies: gzip and zlib, whole and cached. */
  uint8_t *buf = malloc(n + 16);
  sio_buf *g = eio_deflate_http_one(d, EIO_ENC_GZIP, msg, '4', 0);
  sio_buf *g2 = eio_deflate_http_one(d, EIO_ENC_GZIP, msg, '4', 0);
  CHECK(g && g == g2);
  sio_buf_unref(g2);
  sio_buf_unref(g); /* msg's cache still holds it */
  CHECK_EQ_INT(zinflate(g, 31, buf, n + 16), n + 1);
  CHECK(buf[0] == '4' && memcmp(buf + 1, text, n) == 0);
  sio_buf *f = eio_deflate_http_one(d, EIO_ENC_DEFLATE, msg, 'b', 1);
  size_t bl;
  const char *b64 = sio_buf_base64(msg, &bl);
  uint8_t *buf2 = malloc(bl + 16);
  CHECK_EQ_INT(zinflate(f, 15, buf2, bl + 16), bl + 1);
  CHECK(buf2[0] == 'b' && memcmp(buf2 + 1, b64, bl) == 0);
  eio_chunk ch[3] = {{"4", 1}, {text, n}, {"\x1e" "4x", 3}};
  sio_buf *h = eio_deflate_http(d, EIO_ENC_GZIP, ch, 3);
  CHECK_EQ_INT(zinflate(h, 31, buf, n + 16), n + 4);
  CHECK(memcmp(buf + n + 1, "\x1e" "4x", 3) == 0);
  sio_buf *empty = eio_deflate_http(d, EIO_ENC_DEFLATE, NULL, 0);
  CHECK_EQ_INT(zinflate(empty, 15, buf, 16), 0);
  sio_buf_unref(h);
  sio_buf_unref(empty);
  sio_buf_unref(f);
  sio_buf_unref(a);
  sio_buf_unref(b);
  sio_buf_unref(c);
  sio_buf_unref(e);
  sio_buf_unref(msg); /* frees the cached forms with it (ASan checks) */
  free(buf);
  free(buf2);
  free(text);
  eio_deflater_free(d);
}

/* Raw deflate of each message with one z_stream (context takeover, as a
 * client does), the sync-flush tail removed. */
static size_t client_deflate(z_stream *z, const void *in, size_t len,
                             uint8_t *out, size_t cap) {
  z->next_in = (Bytef *)(uintptr_t)in;
  z->avail_in = (uInt)len;
  z->next_out = out;
  z->avail_out = (uInt)cap;
  deflate(z, Z_SYNC_FLUSH);
  return cap - z->avail_out - 4;
}

static void test_inflate(void) {
  z_stream cz;
  memset(&cz, 0, sizeof cz);
  deflateInit2(&cz, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  static uint8_t zbuf[1 << 20];
  const char *m1 = "4the same words again and again, the same words";
  eio_inflater *z = eio_inflater_new(0);
  for (int i = 0; i < 3; i++) { /* later messages refer to earlier ones */
    size_t zl = client_deflate(&cz, m1, strlen(m1), zbuf, sizeof zbuf);
    if (i > 0) CHECK(zl < 12);
    uint8_t *out;
    size_t ol;
    CHECK_EQ_INT(inflate_guarded(z, zbuf, zl, 1000, &out, &ol), EIO_INFLATE_OK);
    CHECK(ol == strlen(m1) && memcmp(out, m1, ol) == 0);
    free(out);
  }
  eio_inflater_free(z);
  /* The bound: exactly max is fine, one more byte is not, and a bomb stops
   * early with little memory (ASan would see a huge allocation). */
  size_t big = 5u << 20;
  uint8_t *zeros = calloc(1, big);
  deflateReset(&cz);
  size_t zl = client_deflate(&cz, zeros, 100000, zbuf, sizeof zbuf);
  uint8_t *out;
  size_t ol;
  z = eio_inflater_new(1);
  CHECK_EQ_INT(inflate_guarded(z, zbuf, zl, 100000, &out, &ol), EIO_INFLATE_OK);
  CHECK_EQ_INT(ol, 100000);
  free(out);
  CHECK_EQ_INT(inflate_guarded(z, zbuf, zl, 99999, &out, &ol), EIO_INFLATE_TOO_BIG);
  CHECK(out == NULL);
  eio_inflater_free(z);
  deflateReset(&cz);
  zl = client_deflate(&cz, zeros, big, zbuf, sizeof zbuf);
  CHECK(zl < 10000);
  z = eio_inflater_new(0);
  CHECK_EQ_INT(inflate_guarded(z, zbuf, zl, 1000000, &out, &ol), EIO_INFLATE_TOO_BIG);
  eio_inflater_free(z);
  /* Corrupt input, empty messages, a stream ended with BFINAL. */
  z = eio_inflater_new(0);
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x00};
  CHECK_EQ_INT(inflate_guarded(z, junk, sizeof junk, 1000, &out, &ol), EIO_INFLATE_BAD);
  eio_inflater_free(z);
  z = eio_inflater_new(1);
  const uint8_t empty_block[] = {0x00};
  CHECK_EQ_INT(inflate_guarded(z, empty_block, 1, 1000, &out, &ol), EIO_INFLATE_OK);
  CHECK(ol == 0 && out == NULL);
  CHECK_EQ_INT(eio_inflate_message(z, NULL, 0, 1000, &out, &ol), EIO_INFLATE_OK);
  CHECK_EQ_INT(ol, 0);
  uint8_t fin[64];
  z_stream f2;
  memset(&f2, 0, sizeof f2);
  deflateInit2(&f2, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  f2.next_in = (Bytef *)"4final";
  f2.avail_in = 6;
  f2.next_out = fin;
  f2.avail_out = sizeof fin;
  deflate(&f2, Z_FINISH);
  size_t fl = sizeof fin - f2.avail_out;
  deflateEnd(&f2);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_INT(inflate_guarded(z, fin, fl, 1000, &out, &ol), EIO_INFLATE_OK);
    CHECK(ol == 6 && memcmp(out, "4final", 6) == 0);
    free(out);
  }
  eio_inflater_free(z);
  /* Every truncation of a valid message inflates to something within the
   * bound or fails cleanly, and never reads past its input (guard page). */
  deflateReset(&cz);
  zl = client_deflate(&cz, m1, strlen(m1), zbuf, sizeof zbuf);
  for (size_t k = 0; k < zl; k++) {
    z = eio_inflater_new(0);
    int r = inflate_guarded(z, zbuf, k, 1000, &out, &ol);
    CHECK(r == EIO_INFLATE_OK || r == EIO_INFLATE_BAD);
    if (r == EIO_INFLATE_OK) {
      CHECK(ol <= 1000);
      free(out);
    }
    eio_inflater_free(z);
  }
  deflateEnd(&cz);
  free(zeros);
}

int main(void) {
  test_accept_encoding();
  test_negotiate();
  test_compress_once();
  test_inflate();
  TEST_END();
}
