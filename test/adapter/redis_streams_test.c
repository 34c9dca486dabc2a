/* Unit tests of the pure parts of adapter/redis_streams.c against values
 * captured from Node's @socket.io/redis-streams-adapter 0.3.1
 * (../shared/spec/redis-streams-adapter.md 2.3, 10.3, 10.9). Inputs sit
 * right before a guard page. */
#include "redis_streams.h"
#include "test.h"

static int parse(const char *s, uint64_t *ms, uint64_t *seq) {
  guard_buf g;
  const char *p = (const char *)guard_put(&g, s, strlen(s));
  int r = sio_streams_parse_id(p, strlen(s), ms, seq);
  guard_free(&g);
  return r;
}

static json_t *decode(const char *s, sio_mp_bins *bins) {
  guard_buf g;
  const char *p = (const char *)guard_put(&g, s, strlen(s));
  json_t *v = sio_streams_decode_data(p, strlen(s), bins);
  guard_free(&g);
  return v;
}

static void test_index(void) {
  /* spec 2.3, streamCount 4 */
  CHECK_EQ_INT(sio_streams_index("/", 4), 3);
  CHECK_EQ_INT(sio_streams_index("/admin", 4), 0);
  CHECK_EQ_INT(sio_streams_index("/chat", 4), 3);
  CHECK_EQ_INT(sio_streams_index("/orders", 4), 0);
  CHECK_EQ_INT(sio_streams_index("/a-very-long-namespace-name-xyz", 4), -2);
  CHECK_EQ_INT(sio_streams_index("/\xc3\xa9", 4), 2); /* "/é": UTF-16 units */
  CHECK_EQ_INT(sio_streams_index("/", 1), 0);
  /* a non-BMP character counts as two surrogates: "/😀" = / D83D DE00 */
  int h = (int)((47 * 31 + 0xd83d) * 31 + 0xde00);
  CHECK_EQ_INT(sio_streams_index("/\xf0\x9f\x98\x80", 1000), h % 1000);
}

static void test_parse_id(void) {
  uint64_t ms = 0, seq = 0;
  CHECK_EQ_INT(parse("1795812056138-0", &ms, &seq), 0);
  CHECK(ms == 1795812056138ULL && seq == 0);
  CHECK_EQ_INT(parse("1795812057807-10", &ms, &seq), 0);
  CHECK(seq == 10);
  CHECK_EQ_INT(parse("18446744073709551615-18446744073709551615", &ms, &seq), 0);
  CHECK(ms == UINT64_MAX && seq == UINT64_MAX);
  const char *bad[] = {"abc", "", "-", "1-", "-1", "1-2-3", "1 -2", "18446744073709551616-0",
                       "1-0x", "+1-0", "1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK_EQ_INT(parse(bad[i], &ms, &seq), -1);
}

static void test_decode_binary_entry(void) {
  /* spec 10.3: io.emit("bin", Buffer[1,2,3], {nested: Buffer("hi")}, Uint8Array[9,8]) */
  sio_mp_bins bins = {0};
  json_t *v = decode("gqZwYWNrZXSCpHR5cGUCpGRhdGGUo2JpbsQDAQIDgaZuZXN0ZWTEAmhpxAIJCKRvcHRzg6Vyb29tc5"
                     "CmZXhjZXB0kKVmbGFnc4A=", &bins);
  CHECK(v != NULL);
  json_t *data = json_object_get(json_object_get(v, "packet"), "data");
  CHECK(json_array_size(data) == 4);
  CHECK(!strcmp(json_string_value(json_array_get(data, 0)), "bin"));
  CHECK_EQ_INT(bins.n, 3);
  CHECK(bins.n == 3 && sio_buf_len(bins.v[0]) == 3 && !memcmp(sio_buf_data(bins.v[0]), "\1\2\3", 3));
  CHECK(json_is_array(json_object_get(json_object_get(v, "opts"), "except")));
  json_decref(v);
  sio_mp_bins_clear(&bins);
}

static void test_decode_session(void) {
  /* spec 10.9: the value SET by Node for a1 */
  sio_mp_bins bins = {0};
  json_t *v = decode("hKNzaWS0QkpNUlM1S05NamJHT1FNU0FBQUGjcGlktExOak82VW43b2UybkJMc0lBQUFCpXJvb21zkrRCSk1"
                     "SUzVLTk1qYkdPUU1TQUFBQaVyb29tMaRkYXRhgA==", &bins);
  CHECK(v != NULL);
  CHECK(!strcmp(json_string_value(json_object_get(v, "sid")), "BJMRS5KNMjbGOQMSAAAA"));
  CHECK(!strcmp(json_string_value(json_object_get(v, "pid")), "LNjO6Un7oe2nBLsIAAAB"));
  CHECK(json_array_size(json_object_get(v, "rooms")) == 2);
  CHECK(json_is_object(json_object_get(v, "data")));
  json_decref(v);
  sio_mp_bins_clear(&bins);
}

static void test_decode_json_and_garbage(void) {
  sio_mp_bins bins = {0};
  json_t *v = decode("{\"packet\":{\"type\":2,\"data\":[\"hello\",1]},\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{}}}", &bins);
  CHECK(v && json_is_object(json_object_get(v, "opts")));
  json_decref(v);
  const char *bad[] = {"{not json", "!!!!", "wcE=", "", "a", "kQ==" /* 91: array missing its item */,
                       "gA==gA==", "{\"a\":1} trailing"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_t *w = decode(bad[i], &bins);
    if (w) fprintf(stderr, "decoded: %s\n", bad[i]);
    CHECK(w == NULL);
    json_decref(w);
  }
  sio_mp_bins_clear(&bins);
}

int main(void) {
  test_index();
  test_parse_id();
  test_decode_binary_entry();
  test_decode_session();
  test_decode_json_and_garbage();
  TEST_END();
}
