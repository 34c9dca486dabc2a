/* Unit tests of engineio/packet_v3.c: every input sits right before a
 * PROT_NONE page, so a one-byte over-read crashes. */
#include "base64.h"
#include "packet_v3.h"
#include "test.h"

typedef struct {
  int n;
  eio_packet p[8];
  char data[8][64];
} sink;

static int collect(void *arg, const eio_packet *p) {
  sink *s = arg;
  if (s->n == 8 || p->len > 64) return 1;
  s->p[s->n] = *p;
  memcpy(s->data[s->n], p->data, p->len);
  s->p[s->n].data = (const uint8_t *)s->data[s->n];
  s->n++;
  return 0;
}

static int dec_text(const char *in, size_t len, sink *s) {
  guard_buf g;
  const uint8_t *p = guard_put(&g, in, len);
  uint8_t scratch[256];
  memset(s, 0, sizeof *s);
  int r = eio_v3_payload_decode_text(p, len, scratch, collect, s);
  guard_free(&g);
  return r;
}

static int dec_bin(const char *in, size_t len, sink *s) {
  guard_buf g;
  const uint8_t *p = guard_put(&g, in, len);
  uint8_t scratch[256];
  memset(s, 0, sizeof *s);
  int r = eio_v3_payload_decode_binary(p, len, scratch, collect, s);
  guard_free(&g);
  return r;
}

static void test_utf16_len(void) {
  CHECK_EQ_INT(eio_v3_utf16_len((const uint8_t *)"", 0), 0);
  CHECK_EQ_INT(eio_v3_utf16_len((const uint8_t *)"abc", 3), 3);
  CHECK_EQ_INT(eio_v3_utf16_len((const uint8_t *)"\xc3\xa9", 2), 1);          /* é */
  CHECK_EQ_INT(eio_v3_utf16_len((const uint8_t *)"\xe2\x82\xac", 3), 1);      /* € */
  CHECK_EQ_INT(eio_v3_utf16_len((const uint8_t *)"\xf0\x9f\x98\x80", 4), 2);  /* 😀 */
  CHECK_EQ_INT(eio_v3_utf16_len((const uint8_t *)"\xff\x80", 2), 2);          /* invalid */
  guard_buf g;
  const uint8_t *p = guard_put(&g, "a\xf0\x9f\x98", 4); /* truncated at the end */
  CHECK_EQ_INT(eio_v3_utf16_len(p, 4), 4);
  guard_free(&g);
}

static void test_text_payloads(void) {
  sink s;
  const char pl[] = "6:4hello1:2" "10:b4AQIDBA==" "3:4\xf0\x9f\x98\x80" "0:" "1:4";
  CHECK_EQ_INT(dec_text(pl, sizeof pl - 1, &s), 0);
  CHECK_EQ_INT(s.n, 5);
  CHECK_EQ_INT(s.p[0].type, EIO_MESSAGE);
  CHECK_MEM(s.p[0].data, s.p[0].len, "hello");
  CHECK_EQ_INT(s.p[1].type, EIO_PING);
  CHECK_EQ_INT(s.p[2].binary, 1);
  CHECK_MEM(s.p[2].data, s.p[2].len, "\x01\x02\x03\x04");
  CHECK_MEM(s.p[3].data, s.p[3].len, "\xf0\x9f\x98\x80"); /* 3 UTF-16 units */
  CHECK_EQ_INT(s.p[4].len, 0);
  /* errors: empty body, no length, bad length, short record, bad type */
  CHECK_EQ_INT(dec_text("", 0, &s), -1);
  CHECK_EQ_INT(dec_text(":4", 2, &s), -1);
  CHECK_EQ_INT(dec_text("x:4", 3, &s), -1);
  CHECK_EQ_INT(dec_text("5:4ab", 5, &s), -1);
  CHECK_EQ_INT(dec_text("2:4a2:9x", 8, &s), -1);
  CHECK_EQ_INT(s.n, 1); /* the first was delivered */
  CHECK_EQ_INT(dec_text("2:4a12", 6, &s), -1); /* a dangling length */
  CHECK_EQ_INT(dec_text("1:", 2, &s), -1);
  CHECK_EQ_INT(dec_text("2:4\xf0\x9f\x98\x80", 7, &s), -1); /* splits a pair */
  CHECK_EQ_INT(dec_text("1234567890123456:4", 18, &s), -1);
  CHECK_EQ_INT(dec_text("3:b4!", 5, &s), -1);
  /* a base64 packet of unknown type is a packet Node ignores */
  CHECK_EQ_INT(dec_text("6:b9AQI=", 8, &s), 0);
  CHECK_EQ_INT(s.p[0].type, EIO_NOOP);
  /* without scratch, "b" is a parse error */
  eio_packet p;
  CHECK_EQ_INT(eio_v3_packet_decode_text((const uint8_t *)"b4AQ==", 6, NULL, &p), -1);
}

static void test_binary_payloads(void) {
  sink s;
  /* a string record "4hi", a binary message 01 02, a string ping */
  const char pl[] = "\x00\x03\xff" "4hi" "\x01\x03\xff\x04\x01\x02" "\x00\x01\xff" "2";
  CHECK_EQ_INT(dec_bin(pl, sizeof pl - 1, &s), 0);
  CHECK_EQ_INT(s.n, 3);
  CHECK_MEM(s.p[0].data, s.p[0].len, "hi");
  CHECK_EQ_INT(s.p[0].binary, 0);
  CHECK_EQ_INT(s.p[1].binary, 1);
  CHECK_MEM(s.p[1].data, s.p[1].len, "\x01\x02");
  CHECK_EQ_INT(s.p[2].type, EIO_PING);
  /* a two-digit length */
  const char big[] = "\x01\x01\x02\xff\x04" "abcdefghijk";
  CHECK_EQ_INT(dec_bin(big, sizeof big - 1, &s), 0);
  CHECK_EQ_INT(s.p[0].len, 11);
  /* framing errors deliver nothing */
  const char trunc[] = "\x00\x03\xff" "4hi" "\x01\x09\xff\x04";
  CHECK_EQ_INT(dec_bin(trunc, sizeof trunc - 1, &s), -1);
  CHECK_EQ_INT(s.n, 0);
  CHECK_EQ_INT(dec_bin("\x00\xff", 2, &s), -1);        /* no digits */
  CHECK_EQ_INT(dec_bin("\x00\x0a\xff" "4", 4, &s), -1);/* digit byte 10 */
  CHECK_EQ_INT(dec_bin("\x00\x01", 2, &s), -1);        /* no 0xFF */
  CHECK_EQ_INT(dec_bin("\x00", 1, &s), -1);
  /* a bad string packet stops after the earlier ones */
  const char badp[] = "\x00\x02\xff" "4a" "\x00\x02\xff" "9x";
  CHECK_EQ_INT(dec_bin(badp, sizeof badp - 1, &s), -1);
  CHECK_EQ_INT(s.n, 1);
  /* an empty binary record: a packet of unknown type */
  CHECK_EQ_INT(dec_bin("\x01\x00\xff", 3, &s), 0);
  CHECK_EQ_INT(s.p[0].type, EIO_NOOP);
  CHECK_EQ_INT(dec_bin("", 0, &s), 0); /* nothing in it */
}

static void test_headers(void) {
  char t[EIO_V3_MAX_HEADER];
  CHECK_MEM(t, eio_v3_text_header(t, 0), "0:");
  CHECK_MEM(t, eio_v3_text_header(t, 1234), "1234:");
  uint8_t b[EIO_V3_MAX_HEADER];
  CHECK_MEM(b, eio_v3_binary_header(b, 0, 7), "\x00\x07\xff");
  CHECK_MEM(b, eio_v3_binary_header(b, 1, 120), "\x01\x01\x02\x00\xff");
  /* round trip: a header the decoder reads back */
  uint8_t rec[32];
  size_t k = eio_v3_binary_header(rec, 1, 3);
  memcpy(rec + k, "\x04xy", 3);
  sink s;
  CHECK_EQ_INT(dec_bin((const char *)rec, k + 3, &s), 0);
  CHECK_MEM(s.p[0].data, s.p[0].len, "xy");
}

static void test_ws_binary(void) {
  eio_packet p;
  guard_buf g;
  const uint8_t *in = guard_put(&g, "\x04\xde\xad", 3);
  eio_v3_packet_decode_binary(in, 3, &p);
  CHECK_EQ_INT(p.type, EIO_MESSAGE);
  CHECK_EQ_INT(p.binary, 1);
  CHECK_MEM(p.data, p.len, "\xde\xad");
  guard_free(&g);
  in = guard_put(&g, "\x07", 1);
  eio_v3_packet_decode_binary(in, 1, &p);
  CHECK_EQ_INT(p.type, EIO_NOOP);
  guard_free(&g);
  eio_v3_packet_decode_binary(NULL, 0, &p);
  CHECK_EQ_INT(p.type, EIO_NOOP);
}

int main(void) {
  test_utf16_len();
  test_text_payloads();
  test_binary_payloads();
  test_headers();
  test_ws_binary();
  TEST_END();
}
