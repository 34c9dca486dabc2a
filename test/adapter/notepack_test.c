/* Unit tests of adapter/notepack.c against bytes captured from Node's
 * @socket.io/redis-adapter 8.3 (../shared/spec/redis-adapter.md, 9.x). */
#include "notepack.h"
#include "test.h"

static int hexval(char c) {
  return c <= '9' ? c - '0' : (c | 32) - 'a' + 10;
}
static size_t unhex(const char *hex, char *out) {
  size_t n = 0;
  for (const char *p = hex; p[0] && p[1];) {
    if (*p == ' ') { p++; continue; }
    out[n++] = (char)(hexval(p[0]) << 4 | hexval(p[1]));
    p += 2;
  }
  return n;
}

/* Encodes v (with bins) and compares with the captured bytes. */
static int same_bytes(const json_t *v, sio_buf **bins, size_t nb, const char *hex) {
  char want[512];
  size_t wn = unhex(hex, want);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int ok = sio_mp_pack(&pk, v, bins, nb) == 0 && sb.size == wn && memcmp(sb.data, want, wn) == 0;
  if (!ok) {
    fprintf(stderr, "got  ");
    for (size_t i = 0; i < sb.size; i++) fprintf(stderr, "%02x ", (unsigned char)sb.data[i]);
    fprintf(stderr, "\nwant %s\n", hex);
  }
  msgpack_sbuffer_destroy(&sb);
  return ok;
}

static void test_capture_9_1(void) {
  /* io.emit("hello","world",1,2.5,-3,300,70000,4294967296,true,null,{a:[1,"x"]}) */
  const char *hex =
      "93 a6 43 6e 52 78 75 34 83 a4 74 79 70 65 02 a4 64 61 74 61 9b a5 68 65 6c 6c 6f "
      "a5 77 6f 72 6c 64 01 cb 40 04 00 00 00 00 00 00 fd cd 01 2c ce 00 01 11 70 cf 00 "
      "00 00 01 00 00 00 00 c3 c0 81 a1 61 92 01 a1 78 a3 6e 73 70 a1 2f 83 a5 72 6f 6f "
      "6d 73 90 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73 80";
  json_t *v = json_pack("[s,{s:i,s:[s,s,i,f,i,i,i,I,b,n,{s:[i,s]}],s:s},{s:[],s:[],s:{}}]",
                        "CnRxu4", "type", 2, "data", "hello", "world", 1, 2.5, -3, 300,
                        70000, (json_int_t)4294967296LL, 1, "a", 1, "x", "nsp", "/",
                        "rooms", "except", "flags");
  CHECK(same_bytes(v, NULL, 0, hex));
  /* and back: decoding gives the same JSON */
  char raw[512];
  size_t n = unhex(hex, raw);
  sio_mp_bins bins = {0};
  json_t *back = sio_mp_decode(raw, n, &bins);
  CHECK(back && json_equal(back, v));
  json_decref(back);
  json_decref(v);
  sio_mp_bins_clear(&bins);
}

static void test_capture_9_5_binary(void) {
  const char *hex =
      "93 a6 43 6e 52 78 75 34 83 a4 74 79 70 65 02 a4 64 61 74 61 94 a3 62 69 6e c4 03 01 "
      "02 03 81 a6 6e 65 73 74 65 64 c4 02 68 69 c4 02 09 08 a3 6e 73 70 a1 2f 83 a5 72 6f "
      "6f 6d 73 90 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73 80";
  char raw[512];
  size_t n = unhex(hex, raw);
  sio_mp_bins bins = {0};
  json_t *v = sio_mp_decode(raw, n, &bins);
  CHECK(v != NULL);
  CHECK_EQ_INT(bins.n, 3);
  CHECK_MEM(sio_buf_data(bins.v[0]), sio_buf_len(bins.v[0]), "\x01\x02\x03");
  CHECK_MEM(sio_buf_data(bins.v[1]), sio_buf_len(bins.v[1]), "hi");
  json_t *data = json_object_get(json_array_get(v, 1), "data");
  json_t *nested = json_object_get(json_array_get(data, 2), "nested");
  CHECK(json_is_true(json_object_get(nested, "_placeholder")));
  CHECK_EQ_INT(json_integer_value(json_object_get(nested, "num")), 1);
  /* re-encoding gives the captured bytes back */
  CHECK(same_bytes(v, bins.v, bins.n, hex));
  json_decref(v);
  sio_mp_bins_clear(&bins);
}

static void test_capture_9_9_flags(void) {
  /* {uid, requestId, type:7, packet, opts:{... flags:{timeout:2000}}} */
  const char *hex =
      "85 a3 75 69 64 a6 43 6e 52 78 75 34 a9 72 65 71 75 65 73 74 49 64 a6 53 68 71 35 57 "
      "6d a4 74 79 70 65 07 a6 70 61 63 6b 65 74 83 a4 74 79 70 65 02 a4 64 61 74 61 92 a3 "
      "61 73 6b 07 a3 6e 73 70 a1 2f a4 6f 70 74 73 83 a5 72 6f 6f 6d 73 90 a6 65 78 63 65 "
      "70 74 90 a5 66 6c 61 67 73 81 a7 74 69 6d 65 6f 75 74 cd 07 d0";
  json_t *v = json_pack("{s:s,s:s,s:i,s:{s:i,s:[s,i],s:s},s:{s:[],s:[],s:{s:i}}}", "uid",
                        "CnRxu4", "requestId", "Shq5Wm", "type", 7, "packet", "type", 2,
                        "data", "ask", 7, "nsp", "/", "opts", "rooms", "except", "flags",
                        "timeout", 2000);
  CHECK(same_bytes(v, NULL, 0, hex));
  json_decref(v);
}

static void test_numbers_and_odd_types(void) {
  struct { const char *json; const char *hex; } v[] = {
      {"[0, -1, -32, -33, 127, 128, 255, 256, 65535, 65536, -129, -32769]",
       "9c 00 ff e0 d0 df 7f cc 80 cc ff cd 01 00 cd ff ff ce 00 01 00 00 d1 ff 7f d2 ff ff 7f ff"},
      {"[1.0, 0.5, -0.0]", "93 01 cb 3f e0 00 00 00 00 00 00 00"},
  };
  for (size_t i = 0; i < 2; i++) {
    json_t *j = json_loads(v[i].json, JSON_DECODE_ANY, NULL);
    CHECK(same_bytes(j, NULL, 0, v[i].hex));
    json_decref(j);
  }
  /* timestamp ext: new Date(1700000000123) -> d7 ff 1d 53 53 00 65 53 f1 00 */
  char raw[32];
  size_t n = unhex("d7 ff 1d 53 53 00 65 53 f1 00", raw);
  sio_mp_bins bins = {0};
  json_t *d = sio_mp_decode(raw, n, &bins);
  CHECK(d && strcmp(json_string_value(d), "2023-11-14T22:13:20.123Z") == 0);
  json_decref(d);
  n = unhex("d6 ff 65 53 f1 00", raw);
  d = sio_mp_decode(raw, n, &bins);
  CHECK(d && strcmp(json_string_value(d), "2023-11-14T22:13:20.000Z") == 0);
  json_decref(d);
  /* NaN float64 becomes null; notepack 2 ext 0 is binary; float32 accepted */
  n = unhex("93 cb 7f f8 00 00 00 00 00 00 c7 02 00 ab cd ca 3f c0 00 00", raw);
  d = sio_mp_decode(raw, n, &bins);
  CHECK(d && json_is_null(json_array_get(d, 0)));
  CHECK_EQ_INT(bins.n, 1);
  CHECK(json_real_value(json_array_get(d, 2)) == 1.5);
  json_decref(d);
  sio_mp_bins_clear(&bins);
  /* empty strings, keys and binaries (msgpack-c hands out NULL for them) */
  n = unhex("94 a0 da 00 00 81 a0 a0 c4 00", raw);
  d = sio_mp_decode(raw, n, &bins);
  CHECK(d && json_array_size(d) == 4 && !strcmp(json_string_value(json_array_get(d, 0)), ""));
  CHECK(d && json_object_get(json_array_get(d, 2), "") != NULL);
  json_decref(d);
  sio_mp_bins_clear(&bins);
  /* declared sizes beyond the bytes present are refused before any
   * allocation: array32 of 2^32-1, map32, str32 */
  n = unhex("dd ff ff ff ff 01", raw);
  CHECK(sio_mp_decode(raw, n, &bins) == NULL);
  n = unhex("df 10 00 00 00 a0 a0", raw);
  CHECK(sio_mp_decode(raw, n, &bins) == NULL);
  n = unhex("db 7f ff ff ff 61", raw);
  CHECK(sio_mp_decode(raw, n, &bins) == NULL);
  /* malformed: truncated, trailing bytes, non-string key */
  n = unhex("93 01 02", raw);
  CHECK(sio_mp_decode(raw, n, &bins) == NULL);
  n = unhex("01 02", raw);
  CHECK(sio_mp_decode(raw, n, &bins) == NULL);
  n = unhex("81 01 02", raw);
  CHECK(sio_mp_decode(raw, n, &bins) == NULL);
  sio_mp_bins_clear(&bins);
}

int main(void) {
  test_capture_9_1();
  test_capture_9_5_binary();
  test_capture_9_9_flags();
  test_numbers_and_odd_types();
  TEST_END();
}
