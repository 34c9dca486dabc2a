/* Unit tests of engineio/ws.c: frame headers, client-frame rules, masking,
 * UTF-8, close payloads, the accept key. */
#include "ws.h"
#include "test.h"

static int parse(const uint8_t *b, size_t n, eio_ws_frame *f) {
  guard_buf g;
  const uint8_t *p = guard_put(&g, b, n);
  int r = eio_ws_parse_header(p, n, f);
  guard_free(&g);
  return r;
}

static void test_headers(void) {
  eio_ws_frame f;
  const uint8_t small[] = {0x81, 0x85, 1, 2, 3, 4};
  CHECK_EQ_INT(parse(small, 6, &f), 6);
  CHECK_EQ_INT(f.fin, 1);
  CHECK_EQ_INT(f.opcode, 1);
  CHECK_EQ_INT(f.masked, 1);
  CHECK_EQ_INT(f.payload_len, 5);
  for (size_t i = 0; i < 6; i++) CHECK_EQ_INT(parse(small, i, &f), 0);
  const uint8_t mid[] = {0x02, 0xfe, 0x01, 0x00, 9, 9, 9, 9};
  CHECK_EQ_INT(parse(mid, 8, &f), 8);
  CHECK_EQ_INT(f.payload_len, 256);
  CHECK_EQ_INT(f.fin, 0);
  const uint8_t big[] = {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
  CHECK_EQ_INT(parse(big, 14, &f), 14);
  CHECK_EQ_INT(f.payload_len, 1ULL << 32);
  for (size_t i = 0; i < 14; i++) CHECK_EQ_INT(parse(big, i, &f), 0);
  const uint8_t msb[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0};
  CHECK_EQ_INT(parse(msb, 10, &f), -1);

  /* Server headers round-trip through the parser. */
  uint64_t lens[] = {0, 125, 126, 65535, 65536, 1ULL << 40};
  for (size_t i = 0; i < 6; i++) {
    uint8_t h[10];
    size_t n = eio_ws_write_header(h, 1, EIO_WS_TEXT, lens[i]);
    CHECK_EQ_INT(n, lens[i] < 126 ? 2 : lens[i] <= 65535 ? 4 : 10);
    CHECK_EQ_INT(parse(h, n, &f), (int)n);
    CHECK_EQ_INT(f.payload_len, lens[i]);
    CHECK_EQ_INT(f.masked, 0);
  }
}

static void test_rules(void) {
  eio_ws_frame f = {1, 0, EIO_WS_TEXT, 1, {0}, 10, 6};
  const char *why;
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 100, &why), 0);
  f.masked = 0;
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 100, &why), 1002);
  f.masked = 1;
  f.rsv = 4;
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 100, &why), 1002);
  f.rsv = 0;
  for (int op = 3; op <= 7; op++) {
    f.opcode = op;
    CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 100, &why), 1002);
  }
  for (int op = 0xb; op <= 0xf; op++) {
    f.opcode = op;
    CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 100, &why), 1002);
  }
  f.opcode = EIO_WS_CONT; /* continuation with no message */
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 100, &why), 1002);
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 1, 10, 100, &why), 0);
  f.opcode = EIO_WS_TEXT; /* new message inside a fragmented one */
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 1, 10, 100, &why), 1002);
  f.payload_len = 100; /* at the limit */
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 100, &why), 0);
  f.payload_len = 101;
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 100, &why), 1009);
  f.opcode = EIO_WS_CONT;
  f.payload_len = 50;
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 1, 50, 100, &why), 0);
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 1, 51, 100, &why), 1009);
  f.opcode = EIO_WS_PING;
  f.payload_len = 125;
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 1, 99, 100, &why), 0);
  f.payload_len = 126;
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 1000, &why), 1002);
  f.payload_len = 1;
  f.fin = 0;
  CHECK_EQ_INT(eio_ws_check_client_frame(&f, 0, 0, 1000, &why), 1002);
}

static void test_mask(void) {
  uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
  uint8_t a[37], b[37];
  for (int i = 0; i < 37; i++) a[i] = b[i] = (uint8_t)(i * 7);
  eio_ws_unmask(a, 37, mask, 0);
  for (int i = 0; i < 37; i++) CHECK_EQ_INT(a[i], b[i] ^ mask[i & 3]);
  /* Split at an odd offset gives the same as one pass. */
  uint8_t c[37];
  memcpy(c, b, 37);
  eio_ws_unmask(c, 5, mask, 0);
  eio_ws_unmask(c + 5, 32, mask, 5);
  CHECK(memcmp(a, c, 37) == 0);
}

static int utf8(const char *s, size_t n) {
  guard_buf g;
  const uint8_t *p = guard_put(&g, s, n);
  int r = eio_ws_utf8_valid(p, n);
  guard_free(&g);
  return r;
}

static void test_utf8(void) {
  CHECK(utf8("", 0));
  CHECK(utf8("plain ascii that is longer than eight", 37));
  CHECK(utf8("\xc3\xa9t\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x8e\x89", 14));
  CHECK(utf8("\xf4\x8f\xbf\xbf", 4));          /* U+10FFFF */
  CHECK(!utf8("\xf4\x90\x80\x80", 4));         /* above U+10FFFF */
  CHECK(!utf8("\xc3\x28", 2));
  CHECK(!utf8("\xc0\xaf", 2));                 /* overlong */
  CHECK(!utf8("\xe0\x80\xaf", 3));             /* overlong */
  CHECK(!utf8("\xed\xa0\x80", 3));             /* surrogate */
  CHECK(!utf8("\xe2\x98", 2));                 /* truncated at the end */
  CHECK(!utf8("abcdefgh\xff", 9));
  CHECK(!utf8("\x80", 1));
}

static void test_close_and_key(void) {
  int code;
  CHECK_EQ_INT(eio_ws_check_close_payload((const uint8_t *)"", 0, &code), 0);
  CHECK_EQ_INT(code, 1005);
  CHECK_EQ_INT(eio_ws_check_close_payload((const uint8_t *)"\x03\xe8ok", 4, &code), 0);
  CHECK_EQ_INT(code, 1000);
  CHECK_EQ_INT(eio_ws_check_close_payload((const uint8_t *)"\x03", 1, &code), 1002);
  CHECK_EQ_INT(eio_ws_check_close_payload((const uint8_t *)"\x03\xed", 2, &code), 1002); /* 1005 */
  CHECK_EQ_INT(eio_ws_check_close_payload((const uint8_t *)"\x0b\xb8", 2, &code), 0);    /* 3000 */
  CHECK_EQ_INT(eio_ws_check_close_payload((const uint8_t *)"\x03\xe8\xff", 3, &code), 1007);
  /* RFC 6455 section 1.3 example. */
  char acc[29];
  CHECK_EQ_INT(eio_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, acc), 0);
  CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
  CHECK(eio_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
  CHECK(!eio_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
  CHECK(!eio_ws_key_valid("dGhlIHNhbXBsZSBub25jZ!==", 24));
}

int main(void) {
  test_headers();
  test_rules();
  test_mask();
  test_utf8();
  test_close_and_key();
  TEST_END();
}
