/* Unit tests of socketio/msgpack_parser.c against the bytes notepack.io 2.2
 * (socket.io-msgpack-parser 3.0) writes and reads. Every decode reads its
 * input placed right before a PROT_NONE page. */
#include "msgpack_parser.h"
#include "test.h"

static const sio_parser_limits LIM = {10, 1024};

static size_t unhex(const char *h, unsigned char *out) {
  size_t n = 0;
  for (; h[0] && h[1]; h += 2) {
    unsigned x;
    sscanf(h, "%2x", &x);
    out[n++] = (unsigned char)x;
  }
  return n;
}

static int dec_bytes(const unsigned char *b, size_t n, sio_packet *p, const char **err) {
  guard_buf g;
  const uint8_t *q = guard_put(&g, b, n);
  int r = sio_mpp_decode(q, n, &LIM, p, err);
  guard_free(&g);
  return r;
}

static int dec(const char *hex, sio_packet *p, const char **err) {
  unsigned char b[512];
  size_t n = unhex(hex, b);
  return dec_bytes(b, n, p, err);
}

static char *dump(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

static void check_json(const json_t *v, const char *want) {
  char *s = dump(v);
  CHECK(s && strcmp(s, want) == 0);
  if (s && strcmp(s, want) != 0) fprintf(stderr, "  got %s\n  want %s\n", s, want);
  free(s);
}

static void check_enc(const sio_packet *p, const char *hex) {
  unsigned char want[512];
  size_t n = unhex(hex, want);
  sio_encoded e;
  CHECK_EQ_INT(sio_mpp_encode(p, &e), 0);
  CHECK_EQ_INT(e.head_binary, 1);
  CHECK_EQ_INT(e.natt, 0);
  int same = e.head && sio_buf_len(e.head) == n && memcmp(sio_buf_data(e.head), want, n) == 0;
  CHECK(same);
  if (!same && e.head) {
    fprintf(stderr, "  got  ");
    for (size_t i = 0; i < sio_buf_len(e.head); i++) fprintf(stderr, "%02x", sio_buf_data(e.head)[i]);
    fprintf(stderr, "\n  want %s\n", hex);
  }
  sio_encoded_clear(&e);
}

static void test_decode_client_packets(void) {
  sio_packet p;
  const char *err = NULL;
  /* CONNECT without auth: socket.io-client sends data: undefined */
  CHECK_EQ_INT(dec("83a47479706500a464617461d40000a36e7370a12f", &p, &err), 0);
  CHECK_EQ_INT(p.type, SIO_PACKET_CONNECT);
  CHECK(strcmp(p.nsp, "/") == 0);
  CHECK(p.data == NULL);
  CHECK_EQ_INT(p.id, SIO_NO_ACK);
  sio_packet_clear(&p);
  /* an event with an ack id, a binary value and undefined values */
  CHECK_EQ_INT(dec("84a47479706502a46461746194a46563686fc40301020382a161d40000a162"
                   "0191d40000a2696407a36e7370a72f637573746f6d", &p, &err), 0);
  CHECK_EQ_INT(p.type, SIO_PACKET_EVENT);
  CHECK_EQ_INT(p.id, 7);
  CHECK(strcmp(p.nsp, "/custom") == 0);
  check_json(p.data, "[\"echo\",{\"_placeholder\":true,\"num\":0},{\"b\":1},[null]]");
  CHECK_EQ_INT(p.nbins, 1);
  CHECK(p.nbins == 1 && sio_buf_len(p.bins[0]) == 3 && sio_buf_data(p.bins[0])[2] == 3);
  sio_packet_clear(&p);
  /* an ack with an empty array */
  CHECK_EQ_INT(dec("84a47479706503a46461746190a2696407a36e7370a22f78", &p, &err), 0);
  CHECK_EQ_INT(p.type, SIO_PACKET_ACK);
  CHECK_EQ_INT(json_array_size(p.data), 0);
  sio_packet_clear(&p);
  /* an empty event array is valid for this parser (Array.isArray) */
  CHECK_EQ_INT(dec("83a47479706502a46461746190a36e7370a12f", &p, &err), 0);
  sio_packet_clear(&p);
  /* type as an integral float (Number.isInteger(2.0)) */
  CHECK_EQ_INT(dec("83a474797065cb4000000000000000a46461746190a36e7370a12f", &p, &err), 0);
  CHECK_EQ_INT(p.type, SIO_PACKET_EVENT);
  sio_packet_clear(&p);
}

static void test_decode_refused(void) {
  static const struct {
    const char *hex, *err;
  } bad[] = {
      {"", "Could not parse"},
      {"c1", "Could not parse"},
      {"83a47479706500a464617461d40000a36e7370a12f00", "Could not parse"}, /* trailing */
      {"82a47479706500a36e7370", "Could not parse"},                       /* truncated */
      {"dd7fffffff", "Could not parse"},  /* a huge declared array */
      {"93000102", "invalid packet type"}, /* not a map */
      {"82a47479706505a36e7370a12f", "invalid packet type"},       /* 5: no binary types */
      {"82a474797065ffa36e7370a12f", "invalid packet type"},       /* -1 */
      {"82a474797065cb3ff8000000000000a36e7370a12f", "invalid packet type"}, /* 1.5 */
      {"81a47479706500", "invalid namespace"},                   /* no nsp */
      {"82a47479706500a36e737001", "invalid namespace"},         /* nsp a number */
      {"83a47479706500a464617461c0a36e7370a12f", "invalid payload"},    /* CONNECT null */
      {"83a47479706500a46461746190a36e7370a12f", "invalid payload"},    /* CONNECT [] */
      {"83a47479706500a464617461c401aaa36e7370a12f", "invalid payload"}, /* CONNECT bin */
      {"83a47479706501a46461746180a36e7370a12f", "invalid payload"},   /* DISCONNECT data */
      {"82a47479706502a36e7370a12f", "invalid payload"},               /* EVENT no data */
      {"83a47479706502a46461746180a36e7370a12f", "invalid payload"},   /* EVENT {} */
      {"83a47479706503a464617461a178a36e7370a12f", "invalid payload"}, /* ACK "x" */
      {"82a47479706504a36e7370a12f", "invalid payload"},               /* CONNECT_ERROR */
      {"84a47479706502a46461746190a26964c0a36e7370a12f", "invalid packet id"}, /* id null */
      {"84a47479706502a46461746190a26964a131a36e7370a12f", "invalid packet id"},
      {"84a47479706502a46461746190a26964cb3fe0000000000000a36e7370a12f", "invalid packet id"},
      {"84a47479706502a46461746190a26964ffa36e7370a12f", "ack id out of range"},
      {"84a47479706502a46461746190a26964cf0020000000000000a36e7370a12f", "ack id out of range"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sio_packet p;
    const char *err = NULL;
    int r = dec(bad[i].hex, &p, &err);
    CHECK_EQ_INT(r, -1);
    CHECK(err && strcmp(err, bad[i].err) == 0);
    if (r != -1 || !err || strcmp(err, bad[i].err) != 0)
      fprintf(stderr, "  case %zu (%s): %s\n", i, bad[i].hex, err ? err : "(none)");
    if (r == 0) sio_packet_clear(&p);
  }
}

static void test_limits(void) {
  /* a namespace one byte over the limit */
  unsigned char b[1200];
  size_t n = 0;
  const unsigned char head[] = {0x82, 0xa4, 't', 'y', 'p', 'e', 0x00, 0xa3, 'n', 's', 'p', 0xda, 0x04, 0x01};
  memcpy(b, head, sizeof head);
  n = sizeof head;
  b[n++] = '/';
  memset(b + n, 'a', 1024);
  n += 1024;
  sio_packet p;
  const char *err = NULL;
  CHECK_EQ_INT(dec_bytes(b, n, &p, &err), -1);
  CHECK(err && strcmp(err, "namespace too long") == 0);
  /* exactly at the limit */
  b[sizeof head - 1] = 0x00;
  CHECK_EQ_INT(dec_bytes(b, n - 1, &p, &err), 0);
  CHECK_EQ_INT(strlen(p.nsp), 1024);
  sio_packet_clear(&p);
  /* a NUL inside the namespace */
  CHECK_EQ_INT(dec("82a47479706500a36e7370a22f00", &p, &err), -1);
  CHECK(err && strcmp(err, "invalid namespace") == 0);
}

static void test_encode_as_node(void) {
  /* what Node's server writes with notepack.io 2.2 */
  sio_packet p = {SIO_PACKET_CONNECT, "/", SIO_NO_ACK, json_pack("{s:s}", "sid", "abc"), 0, NULL, 0};
  check_enc(&p, "83a47479706500a46461746181a3736964a3616263a36e7370a12f");
  json_decref(p.data);
  sio_packet d = {SIO_PACKET_DISCONNECT, "/a", SIO_NO_ACK, NULL, 0, NULL, 0};
  check_enc(&d, "82a47479706501a36e7370a22f61");
  sio_packet a = {SIO_PACKET_ACK, "/x", 7, json_array(), 0, NULL, 0};
  check_enc(&a, "84a47479706503a46461746190a2696407a36e7370a22f78");
  json_decref(a.data);
  sio_buf *bin = sio_buf_new("\x09", 1);
  char forty[41];
  memset(forty, 'x', 40);
  forty[40] = '\0';
  sio_packet e = {SIO_PACKET_EVENT, "/", SIO_NO_ACK,
                  json_pack("[s,f,i,i,{s:b,s:i},s]", "hello", 1.5, 200, -100,
                            "_placeholder", 1, "num", 0, forty),
                  0, &bin, 1};
  check_enc(&e, "83a47479706502a46461746196a568656c6c6fcb3ff8000000000000ccc8d09cc40109"
                "d928" "7878787878787878787878787878787878787878" /* 40 x */
                "7878787878787878787878787878787878787878" "a36e7370a12f");
  /* and it decodes back to the same packet */
  sio_encoded out;
  CHECK_EQ_INT(sio_mpp_encode(&e, &out), 0);
  sio_packet back;
  const char *err;
  CHECK_EQ_INT(dec_bytes(sio_buf_data(out.head), sio_buf_len(out.head), &back, &err), 0);
  CHECK(json_equal(back.data, e.data));
  CHECK(back.nbins == 1 && sio_buf_len(back.bins[0]) == 1 && sio_buf_data(back.bins[0])[0] == 9);
  sio_packet_clear(&back);
  sio_encoded_clear(&out);
  json_decref(e.data);
  sio_buf_unref(bin);
}

static void test_parser_object(void) {
  const sio_parser *ps = &sio_parser_msgpack;
  void *d = ps->decoder_new(ps, &LIM);
  CHECK(d != NULL);
  unsigned char b[64];
  size_t n = unhex("83a47479706500a464617461d40000a36e7370a12f", b);
  sio_packet p;
  const char *err = NULL;
  memset(&p, 0, sizeof p);
  CHECK_EQ_INT(ps->decode(d, b, n, 1, &p, &err), 1);
  sio_packet_clear(&p);
  /* a text message cannot be MessagePack for this parser */
  CHECK_EQ_INT(ps->decode(d, b, n, 0, &p, &err), -1);
  ps->decoder_free(d);
}

int main(void) {
  test_decode_client_packets();
  test_decode_refused();
  test_limits();
  test_encode_as_node();
  test_parser_object();
  TEST_END();
}
