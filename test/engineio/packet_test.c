/* Unit tests of engineio/packet.c and base64.c. */
#include "base64.h"
#include "packet.h"
#include "test.h"

typedef struct {
  int n;
  eio_packet p[8];
  char data[8][64];
} sink;

static int collect(void *arg, const eio_packet *p) {
  sink *s = arg;
  s->p[s->n] = *p;
  memcpy(s->data[s->n], p->data, p->len);
  s->p[s->n].data = (const uint8_t *)s->data[s->n];
  s->n++;
  return 0;
}

static int decode(const char *in, size_t len, sink *s) {
  guard_buf g;
  const uint8_t *p = guard_put(&g, in, len);
  uint8_t scratch[256];
  memset(s, 0, sizeof *s);
  int r = eio_payload_decode(p, len, scratch, collect, s);
  guard_free(&g);
  return r;
}

static void test_payloads(void) {
  sink s;
  const char pl[] = "4hello\x1e" "2\x1e" "bAQIDBA==\x1e" "4";
  CHECK_EQ_INT(decode(pl, sizeof pl - 1, &s), 0);
  CHECK_EQ_INT(s.n, 4);
  CHECK_EQ_INT(s.p[0].type, EIO_MESSAGE);
  CHECK_MEM(s.p[0].data, s.p[0].len, "hello");
  CHECK_EQ_INT(s.p[1].type, EIO_PING);
  CHECK_EQ_INT(s.p[1].len, 0);
  CHECK_EQ_INT(s.p[2].binary, 1);
  CHECK_MEM(s.p[2].data, s.p[2].len, "\x01\x02\x03\x04");
  CHECK_EQ_INT(s.p[3].len, 0);
  /* Decoding stops at the first invalid packet; earlier ones delivered. */
  const char bad[] = "4a\x1e" "9x\x1e" "4b";
  CHECK_EQ_INT(decode(bad, sizeof bad - 1, &s), -1);
  CHECK_EQ_INT(s.n, 1);
  CHECK_EQ_INT(decode("", 0, &s), -1);
  CHECK_EQ_INT(decode("\x1e", 1, &s), -1);
  CHECK_EQ_INT(decode("4a\x1e", 3, &s), -1);
  CHECK_EQ_INT(s.n, 1);
  CHECK_EQ_INT(decode("b!!!!", 5, &s), -1);
  CHECK_EQ_INT(decode("abc", 3, &s), -1);
  /* Every type digit is accepted by the codec; meaning is the server's. */
  for (char t = '0'; t <= '6'; t++) {
    char one[2] = {t, 0};
    CHECK_EQ_INT(decode(one, 1, &s), 0);
    CHECK_EQ_INT(s.p[0].type, t - '0');
  }
  /* Without scratch (WebSocket), "b..." is a parse error. */
  eio_packet p;
  CHECK_EQ_INT(eio_packet_decode_text((const uint8_t *)"bAQ==", 5, NULL, &p), -1);
}

static void test_base64(void) {
  const char *vec[][2] = {{"", ""},       {"f", "Zg=="},     {"fo", "Zm8="},
                          {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                          {"foobar", "Zm9vYmFy"}};
  for (size_t i = 0; i < 7; i++) {
    char enc[16];
    size_t n = strlen(vec[i][0]);
    eio_base64_encode((const uint8_t *)vec[i][0], n, enc);
    CHECK_EQ_INT(eio_base64_encoded_len(n), strlen(vec[i][1]));
    CHECK(memcmp(enc, vec[i][1], strlen(vec[i][1])) == 0);
    uint8_t dec[16];
    CHECK_EQ_INT(eio_base64_decode(vec[i][1], strlen(vec[i][1]), dec), (long)n);
    CHECK(memcmp(dec, vec[i][0], n) == 0);
  }
  uint8_t out[16];
  CHECK_EQ_INT(eio_base64_decode("Zm9vYg", 6, out), 4); /* unpadded */
  CHECK_EQ_INT(eio_base64_decode("Z", 1, out), -1);
  CHECK_EQ_INT(eio_base64_decode("Zg=", 3, out), -1);
  CHECK_EQ_INT(eio_base64_decode("Z===", 4, out), -1);
  CHECK_EQ_INT(eio_base64_decode("Zg==Zg==", 8, out), -1);
  CHECK_EQ_INT(eio_base64_decode("Zm-v", 4, out), -1);
  /* Round trip of every byte value. */
  uint8_t all[256], back[256];
  char enc[400];
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
  eio_base64_encode(all, 256, enc);
  CHECK_EQ_INT(eio_base64_decode(enc, eio_base64_encoded_len(256), back), 256);
  CHECK(memcmp(all, back, 256) == 0);
}

int main(void) {
  test_payloads();
  test_base64();
  TEST_END();
}
