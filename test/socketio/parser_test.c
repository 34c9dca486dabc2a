/* Unit tests of socketio/parser.c and json.c against the bytes Node's
 * socket.io-parser produces and accepts (../shared/spec/socketio-v5.md). */
#include "parser.h"
#include "test.h"

static const sio_parser_limits LIM = {10, 1024};

static int dec(const char *s, sio_packet *p, const char **err) {
  guard_buf g;
  const char *q = (const char *)guard_put(&g, s, strlen(s));
  int r = sio_packet_decode(q, strlen(s), &LIM, p, err);
  guard_free(&g);
  return r;
}

static char *enc(int type, const char *nsp, long long id, json_t *data,
                 sio_buf **bins, size_t nbins, size_t *n_att, sio_buf ***att) {
  struct evbuffer *out = evbuffer_new();
  sio_buf **a;
  size_t na;
  CHECK_EQ_INT(sio_packet_encode(type, nsp, id, data, bins, nbins, out, &a, &na), 0);
  size_t n = evbuffer_get_length(out);
  char *s = malloc(n + 1);
  evbuffer_remove(out, s, n);
  s[n] = '\0';
  evbuffer_free(out);
  if (att) *att = a;
  else {
    for (size_t i = 0; i < na; i++) sio_buf_unref(a[i]);
    free(a);
  }
  if (n_att) *n_att = na;
  return s;
}

static void test_decode_valid(void) {
  sio_packet p;
  const char *err;
  CHECK_EQ_INT(dec("0", &p, &err), 0);
  CHECK_EQ_INT(p.type, 0);
  CHECK(strcmp(p.nsp, "/") == 0);
  CHECK(p.data == NULL);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("0/admin,{\"token\":\"123\"}", &p, &err), 0);
  CHECK(strcmp(p.nsp, "/admin") == 0);
  CHECK(strcmp(json_string_value(json_object_get(p.data, "token")), "123") == 0);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("0/random", &p, &err), 0); /* namespace to the end */
  CHECK(strcmp(p.nsp, "/random") == 0);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", &p, &err), 0);
  CHECK_EQ_INT(p.id, 456);
  CHECK_EQ_INT(json_array_size(p.data), 4);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("3/admin,13[\"ok\"]", &p, &err), 0);
  CHECK_EQ_INT(p.type, 3);
  CHECK_EQ_INT(p.id, 13);
  CHECK(strcmp(p.nsp, "/admin") == 0);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("2", &p, &err), 0); /* Node quirk: event without payload */
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("2[42]", &p, &err), 0); /* numeric event name */
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("3[]", &p, &err), 0);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("4{\"message\":\"x\"}", &p, &err), 0);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("1/admin,", &p, &err), 0);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("2[\"big\",123456789012345678901234]", &p, &err), 0);
  sio_packet_clear(&p);

  /* Binary: two attachments, then reconstruction. */
  CHECK_EQ_INT(dec("52-[\"message\",{\"_placeholder\":true,\"num\":0},"
                   "{\"_placeholder\":true,\"num\":1}]", &p, &err), 0);
  CHECK_EQ_INT(p.type, 5);
  CHECK_EQ_INT(p.attachments, 2);
  sio_buf *b1 = sio_buf_new("\x01\x02\x03", 3), *b2 = sio_buf_new("\x04", 1);
  CHECK_EQ_INT(sio_packet_add_binary(&p, b1, &err), 0);
  CHECK_EQ_INT(sio_packet_add_binary(&p, b2, &err), 1);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("61-/admin,789[{\"_placeholder\":true,\"num\":0}]", &p, &err), 0);
  CHECK_EQ_INT(p.id, 789);
  CHECK(strcmp(p.nsp, "/admin") == 0);
  CHECK_EQ_INT(sio_packet_add_binary(&p, b1, &err), 1);
  sio_packet_clear(&p);
  /* A placeholder outside [0, count) is illegal. */
  CHECK_EQ_INT(dec("51-[\"m\",{\"_placeholder\":true,\"num\":1}]", &p, &err), 0);
  CHECK_EQ_INT(sio_packet_add_binary(&p, b1, &err), -1);
  sio_packet_clear(&p);
  CHECK_EQ_INT(dec("51-[\"m\",{\"_placeholder\":true,\"num\":\"0\"}]", &p, &err), 0);
  CHECK_EQ_INT(sio_packet_add_binary(&p, b1, &err), -1);
  sio_packet_clear(&p);
  sio_buf_unref(b1);
  sio_buf_unref(b2);
}

static void test_decode_invalid(void) {
  const char *bad[] = {
      "", "7", "a", "x[]", "2{}", "2abc[1]", "2[]", "2[\"disconnect\"]",
      "2[\"connect\"]", "2[\"newListener\"]", "2[true]", "2[null]", "0[]",
      "0\"str\"", "1{}", "3{}", "4[]", "4 5", "5-[\"a\"]", "50-[\"a\"]",
      "511-[\"a\"]", "5a-[\"a\"]", "51[\"a\"]", "2[1", "2[\"a\"]x",
      "299999999999999999999[\"a\"]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sio_packet p;
    const char *err = NULL;
    int r = dec(bad[i], &p, &err);
    if (r != -1) fprintf(stderr, "accepted: %s\n", bad[i]);
    CHECK_EQ_INT(r, -1);
    CHECK(err != NULL);
    if (r == 0) sio_packet_clear(&p);
  }
  /* JSON nested past jansson's bound (2048) is refused, without a crash
   * (Node's iterative JSON.parse accepts any depth). */
  {
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    strcpy(deep, "2[\"x\",");
    size_t k = strlen(deep);
    memset(deep + k, '[', depth);
    memset(deep + k + depth, ']', depth);
    strcpy(deep + k + 2 * depth, "]");
    sio_packet dp;
    const char *derr;
    CHECK_EQ_INT(dec(deep, &dp, &derr), -1);
    free(deep);
  }
  /* A namespace over the limit. */
  char longns[1100] = "0/";
  memset(longns + 2, 'n', 1030);
  sio_packet p;
  const char *err;
  CHECK_EQ_INT(dec(longns, &p, &err), -1);
}

static void test_encode(void) {
  char *s;
  json_t *d = json_pack("[s,i,s,{s:[b]}]", "message-back", 1, "2", "3", 1);
  s = enc(SIO_PACKET_EVENT, "/", SIO_NO_ACK, d, NULL, 0, NULL, NULL);
  CHECK(strcmp(s, "2[\"message-back\",1,\"2\",{\"3\":[true]}]") == 0);
  free(s);
  s = enc(SIO_PACKET_EVENT, "/admin", 13, d, NULL, 0, NULL, NULL);
  CHECK(strcmp(s, "2/admin,13[\"message-back\",1,\"2\",{\"3\":[true]}]") == 0);
  free(s);
  json_decref(d);
  s = enc(SIO_PACKET_DISCONNECT, "/admin", SIO_NO_ACK, NULL, NULL, 0, NULL, NULL);
  CHECK(strcmp(s, "1/admin,") == 0);
  free(s);
  d = json_pack("{s:s}", "sid", "abc");
  s = enc(SIO_PACKET_CONNECT, "/", SIO_NO_ACK, d, NULL, 0, NULL, NULL);
  CHECK(strcmp(s, "0{\"sid\":\"abc\"}") == 0);
  free(s);
  json_decref(d);
  /* Binary: placeholders renumbered in depth-first order, buffers follow. */
  sio_buf *bins[2] = {sio_buf_new("AA", 2), sio_buf_new("B", 1)};
  d = json_pack("[s,{s:{s:b,s:i}},{s:{s:b,s:i}}]", "x", "deep", "_placeholder", 1,
                "num", 1, "top", "_placeholder", 1, "num", 0);
  size_t na;
  sio_buf **att;
  s = enc(SIO_PACKET_EVENT, "/", SIO_NO_ACK, d, bins, 2, &na, &att);
  CHECK(strcmp(s, "52-[\"x\",{\"deep\":{\"_placeholder\":true,\"num\":0}},"
                  "{\"top\":{\"_placeholder\":true,\"num\":1}}]") == 0);
  CHECK_EQ_INT(na, 2);
  CHECK(att[0] == bins[1] && att[1] == bins[0]);
  for (size_t i = 0; i < na; i++) sio_buf_unref(att[i]);
  free(att);
  free(s);
  json_decref(d);
  d = json_pack("[{s:b,s:i}]", "_placeholder", 1, "num", 0);
  s = enc(SIO_PACKET_ACK, "/admin", 789, d, bins, 1, &na, NULL);
  CHECK(strcmp(s, "61-/admin,789[{\"_placeholder\":true,\"num\":0}]") == 0);
  free(s);
  /* Without buffers a placeholder-looking object is plain data. */
  s = enc(SIO_PACKET_ACK, "/", 1, d, NULL, 0, &na, NULL);
  CHECK(strcmp(s, "31[{\"_placeholder\":true,\"num\":0}]") == 0);
  CHECK_EQ_INT(na, 0);
  free(s);
  json_decref(d);
  sio_buf_unref(bins[0]);
  sio_buf_unref(bins[1]);
}

static void test_json_like_js(void) {
  struct { double d; const char *js; } nums[] = {
      {0, "0"},          {-0.0, "0"},       {1, "1"},         {-1.5, "-1.5"},
      {0.1, "0.1"},      {1e21, "1e+21"},   {1e20, "100000000000000000000"},
      {123456789012345678901234.0, "1.2345678901234569e+23"},
      {1e-7, "1e-7"},    {1.5e-7, "1.5e-7"}, {0.000001, "0.000001"},
      {3.14159, "3.14159"}, {2.5e300, "2.5e+300"}, {12345678901234567890.0, "12345678901234567000"},
  };
  for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
    char b[40];
    sio_json_number(nums[i].d, b, sizeof b);
    if (strcmp(b, nums[i].js)) fprintf(stderr, "%g -> %s, want %s\n", nums[i].d, b, nums[i].js);
    CHECK(strcmp(b, nums[i].js) == 0);
  }
  const char *in = "[\"a\\u0001\\n\\\"/\xc3\xa9\",1.0,2.50,{\"k\":null}]";
  json_t *v = sio_json_parse(in, strlen(in));
  CHECK(v != NULL);
  struct evbuffer *out = evbuffer_new();
  sio_json_dump(v, out, NULL);
  size_t n = evbuffer_get_length(out);
  char s[128];
  evbuffer_remove(out, s, n);
  s[n] = '\0';
  CHECK(strcmp(s, "[\"a\\u0001\\n\\\"/\xc3\xa9\",1,2.5,{\"k\":null}]") == 0);
  evbuffer_free(out);
  json_decref(v);
  CHECK(sio_json_parse("{", 1) == NULL);
}

/* The parser object (sio/parser.h) the server drives: a binary event is
 * its text message, then its attachments; misplaced messages are errors. */
static void test_default_parser_object(void) {
  const sio_parser *ps = &sio_parser_default;
  void *d = ps->decoder_new(ps, &LIM);
  sio_packet p;
  const char *err = NULL;
  const char *t = "51-[\"echo\",{\"_placeholder\":true,\"num\":0}]";
  memset(&p, 0, sizeof p);
  CHECK_EQ_INT(ps->decode(d, (const uint8_t *)t, strlen(t), 0, &p, &err), 0);
  CHECK_EQ_INT(ps->decode(d, (const uint8_t *)"\x01\x02", 2, 1, &p, &err), 1);
  CHECK_EQ_INT(p.type, SIO_PACKET_BINARY_EVENT);
  CHECK(p.nbins == 1 && sio_buf_len(p.bins[0]) == 2);
  sio_packet_clear(&p);
  CHECK_EQ_INT(ps->decode(d, (const uint8_t *)"\x01", 1, 1, &p, &err), -1);
  CHECK(err && strcmp(err, "got binary data when not reconstructing a packet") == 0);
  CHECK_EQ_INT(ps->decode(d, (const uint8_t *)t, strlen(t), 0, &p, &err), 0);
  CHECK_EQ_INT(ps->decode(d, (const uint8_t *)"2[\"x\"]", 6, 0, &p, &err), -1);
  CHECK(err && strcmp(err, "got plaintext data when reconstructing a packet") == 0);
  CHECK_EQ_INT(ps->decode(d, (const uint8_t *)"2[\"x\"]", 6, 0, &p, &err), 1);
  sio_packet_clear(&p);
  /* a pending packet is freed with the decoder */
  CHECK_EQ_INT(ps->decode(d, (const uint8_t *)t, strlen(t), 0, &p, &err), 0);
  ps->decoder_free(d);
  /* encode: the text head, then the attachments */
  sio_buf *b = sio_buf_new("\x07", 1);
  sio_packet e = {SIO_PACKET_EVENT, "/", SIO_NO_ACK,
                  json_pack("[s,{s:b,s:i}]", "x", "_placeholder", 1, "num", 0), 0, &b, 1};
  sio_encoded out = {0};
  CHECK_EQ_INT(ps->encode(ps, &e, &out), 0);
  CHECK_EQ_INT(out.head_binary, 0);
  CHECK_MEM(sio_buf_data(out.head), sio_buf_len(out.head),
            "51-[\"x\",{\"_placeholder\":true,\"num\":0}]");
  CHECK(out.natt == 1 && out.att[0] == b);
  sio_encoded_clear(&out);
  json_decref(e.data);
  sio_buf_unref(b);
}

int main(void) {
  test_default_parser_object();
  test_decode_valid();
  test_decode_invalid();
  test_encode();
  test_json_like_js();
  TEST_END();
}
