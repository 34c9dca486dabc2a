/* Unit tests of engineio/http.c: request heads, limits, framing, chunked
 * bodies, query strings. Every parse runs on a buffer that ends right
 * before an inaccessible page, so any over-read crashes the test. */
#include "http.h"
#include "test.h"

static int parse(const char *s, size_t max_head, eio_http_request *req,
                 eio_http_header *h, size_t max_headers) {
  guard_buf g;
  size_t n = strlen(s);
  const char *p = (const char *)guard_put(&g, s, n);
  req->headers = h;
  int r = eio_http_parse_request(p, n, max_head, req, max_headers);
  /* Pointers in req refer to the guarded copy: compare before freeing. */
  if (r > 0) {
    static char keep[65536];
    memcpy(keep, p, n);
    ptrdiff_t d = keep - p;
    req->method += d;
    req->target += d;
    for (size_t i = 0; i < req->num_headers; i++) {
      h[i].name += d;
      h[i].value += d;
    }
  }
  guard_free(&g);
  return r;
}

static void test_request_heads(void) {
  eio_http_request req;
  eio_http_header h[8];
  const char *ok = "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\n"
                   "Host: x\r\nX-Pad:   spaced value  \r\nEmpty:\r\n\r\nBODY";
  int r = parse(ok, 16384, &req, h, 8);
  CHECK_EQ_INT(r, (int)(strlen(ok) - 4));
  CHECK_MEM(req.method, req.method_len, "GET");
  CHECK_MEM(req.target, req.target_len, "/engine.io/?EIO=4&transport=polling");
  CHECK_EQ_INT(req.minor_version, 1);
  CHECK_EQ_INT(req.num_headers, 3);
  CHECK_MEM(h[1].value, h[1].value_len, "spaced value");
  CHECK_EQ_INT(h[2].value_len, 0);
  CHECK(eio_http_find(&req, "x-pad") == &h[1]);
  CHECK(eio_http_find(&req, "nope") == NULL);

  /* Every prefix of a valid head is incomplete, never an error. */
  for (size_t i = 0; i < strlen(ok) - 4; i++) {
    char buf[256];
    memcpy(buf, ok, i);
    buf[i] = '\0';
    CHECK_EQ_INT(parse(buf, 16384, &req, h, 8), EIO_HTTP_INCOMPLETE);
  }
  CHECK_EQ_INT(parse("GET / HTTP/1.0\r\n\r\n", 100, &req, h, 8), 18);
  CHECK_EQ_INT(req.minor_version, 0);
  /* Leading empty lines are tolerated. */
  CHECK(parse("\r\nGET / HTTP/1.1\r\n\r\n", 100, &req, h, 8) > 0);
}

static void test_bad_heads(void) {
  eio_http_request req;
  eio_http_header h[4];
  const char *bad[] = {
      "HELLO THERE\r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/1.1 \r\n\r\n",
      "GET /a\x01 HTTP/1.1\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\nHost: x\r\n\r\n",      /* bare LF */
      "GET / HTTP/1.1\r\nHost x\r\n\r\n",     /* no colon */
      "GET / HTTP/1.1\r\n folded\r\n\r\n",    /* obs-fold */
      "GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
      " / HTTP/1.1\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int r = parse(bad[i], 16384, &req, h, 4);
    if (r != EIO_HTTP_BAD) fprintf(stderr, "case %zu: %d\n", i, r);
    CHECK_EQ_INT(r, EIO_HTTP_BAD);
  }
}

static void test_limits(void) {
  eio_http_request req;
  eio_http_header h[4];
  char buf[400];
  /* A head of exactly max_head bytes passes; one more is too large. */
  const char *head = "GET / HTTP/1.1\r\nX: ";
  size_t base = strlen(head) + 4;
  size_t max = 200;
  memset(buf, 0, sizeof buf);
  strcpy(buf, head);
  memset(buf + strlen(head), 'a', max - base);
  strcat(buf, "\r\n\r\n");
  CHECK_EQ_INT(parse(buf, max, &req, h, 4), (int)max);
  CHECK_EQ_INT(parse(buf, max - 1, &req, h, 4), EIO_HTTP_TOO_LARGE);
  /* Incomplete and already at the limit: too large. */
  buf[max - 4] = '\0';
  CHECK_EQ_INT(parse(buf, max - 4, &req, h, 4), EIO_HTTP_TOO_LARGE);
  CHECK_EQ_INT(parse(buf, max, &req, h, 4), EIO_HTTP_INCOMPLETE);
  /* Header count. */
  const char *four = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n";
  CHECK(parse(four, 1000, &req, h, 4) > 0);
  CHECK_EQ_INT(parse(four, 1000, &req, h, 3), EIO_HTTP_TOO_LARGE);
}

static void test_framing(void) {
  eio_http_request req;
  eio_http_header h[4];
  int chunked;
  uint64_t cl;
  parse("POST / HTTP/1.1\r\nContent-Length: 42\r\n\r\n", 1000, &req, h, 4);
  CHECK_EQ_INT(eio_http_body_framing(&req, &chunked, &cl), 0);
  CHECK_EQ_INT(cl, 42);
  CHECK_EQ_INT(chunked, 0);
  parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 1000, &req, h, 4);
  CHECK_EQ_INT(eio_http_body_framing(&req, &chunked, &cl), 0);
  CHECK_EQ_INT(chunked, 1);
  parse("POST / HTTP/1.1\r\nContent-Length: 4x\r\n\r\n", 1000, &req, h, 4);
  CHECK_EQ_INT(eio_http_body_framing(&req, &chunked, &cl), EIO_HTTP_BAD);
  parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 1000, &req, h, 4);
  CHECK_EQ_INT(eio_http_body_framing(&req, &chunked, &cl), EIO_HTTP_BAD);
  parse("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", 1000, &req, h, 4);
  CHECK_EQ_INT(eio_http_body_framing(&req, &chunked, &cl), 0);
  parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 1000, &req, h, 4);
  CHECK_EQ_INT(eio_http_body_framing(&req, &chunked, &cl), EIO_HTTP_BAD);
  parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 1000, &req, h, 4);
  CHECK_EQ_INT(eio_http_body_framing(&req, &chunked, &cl), EIO_HTTP_UNSUPPORTED);
  parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 1000, &req, h, 4);
  CHECK_EQ_INT(eio_http_body_framing(&req, &chunked, &cl), EIO_HTTP_BAD);
}

static char got[256];
static size_t got_len;
static void collect(void *arg, const char *d, size_t n) {
  (void)arg;
  memcpy(got + got_len, d, n);
  got_len += n;
}

static long chunked(const char *in, uint64_t max, int *done) {
  eio_http_chunked st;
  memset(&st, 0, sizeof st);
  got_len = 0;
  guard_buf g;
  const char *p = (const char *)guard_put(&g, in, strlen(in));
  long r = eio_http_chunked_decode(&st, p, strlen(in), max, 64, collect, NULL, done);
  guard_free(&g);
  return r;
}

static void test_chunked(void) {
  int done;
  const char *ok = "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  CHECK_EQ_INT(chunked(ok, 100, &done), (long)strlen(ok) - 4);
  CHECK_EQ_INT(done, 1);
  CHECK_MEM(got, got_len, "hello world!");
  /* Byte-at-a-time feeding gives the same result. */
  eio_http_chunked st;
  memset(&st, 0, sizeof st);
  got_len = 0;
  size_t used = 0;
  done = 0;
  for (size_t i = 0; i < strlen(ok) && !done; i++) {
    long r = eio_http_chunked_decode(&st, ok + i, 1, 100, 64, collect, NULL, &done);
    CHECK_EQ_INT(r, 1);
    used++;
  }
  CHECK_EQ_INT(used, strlen(ok) - 4);
  CHECK_MEM(got, got_len, "hello world!");
  CHECK_EQ_INT(chunked("5\r\nhelloX\r\n", 100, &done), EIO_HTTP_BAD);
  CHECK_EQ_INT(chunked("z\r\n", 100, &done), EIO_HTTP_BAD);
  CHECK_EQ_INT(chunked("\r\n", 100, &done), EIO_HTTP_BAD);
  CHECK_EQ_INT(chunked("5\nhello", 100, &done), EIO_HTTP_BAD);
  CHECK_EQ_INT(chunked("ff\r\n", 100, &done), EIO_HTTP_TOO_LARGE);
  CHECK_EQ_INT(chunked("ffffffffffffffffffff\r\n", 1000, &done), EIO_HTTP_TOO_LARGE);
  char zeros[200];
  memset(zeros, '0', sizeof zeros - 1);
  zeros[sizeof zeros - 1] = '\0';
  CHECK_EQ_INT(chunked(zeros, 100, &done), EIO_HTTP_TOO_LARGE);
  /* Exactly the limit passes. */
  CHECK(chunked("a\r\n0123456789\r\n0\r\n\r\n", 10, &done) > 0 && done);
  CHECK_EQ_INT(chunked("b\r\n0123456789a\r\n0\r\n\r\n", 10, &done), EIO_HTTP_TOO_LARGE);
}

static void test_query(void) {
  const char *q = "EIO=4&transport=polling&t=abc&sid=a%2Fb+c&empty=&flag&bad=%zz%4";
  char out[16];
  CHECK_EQ_INT(eio_http_query_get(q, strlen(q), "EIO", out, sizeof out), 1);
  CHECK(strcmp(out, "4") == 0);
  CHECK_EQ_INT(eio_http_query_get(q, strlen(q), "transport", out, sizeof out), 7);
  CHECK_EQ_INT(eio_http_query_get(q, strlen(q), "sid", out, sizeof out), 5);
  CHECK(strcmp(out, "a/b c") == 0);
  CHECK_EQ_INT(eio_http_query_get(q, strlen(q), "empty", out, sizeof out), 0);
  CHECK_EQ_INT(eio_http_query_get(q, strlen(q), "flag", out, sizeof out), 0);
  CHECK_EQ_INT(eio_http_query_get(q, strlen(q), "bad", out, sizeof out), 5);
  CHECK(strcmp(out, "%zz%4") == 0);
  CHECK_EQ_INT(eio_http_query_get(q, strlen(q), "missing", out, sizeof out), -1);
  CHECK_EQ_INT(eio_http_query_get(q, strlen(q), "transport", out, 7), -2);
  CHECK_EQ_INT(eio_http_query_get("", 0, "x", out, sizeof out), -1);
  const char *path, *query;
  size_t pl, ql;
  eio_http_split_target("/a/b?x=1", 8, &path, &pl, &query, &ql);
  CHECK_EQ_INT(pl, 4);
  CHECK_EQ_INT(ql, 3);
  eio_http_split_target("/a", 2, &path, &pl, &query, &ql);
  CHECK_EQ_INT(pl, 2);
  CHECK_EQ_INT(ql, 0);
  CHECK(eio_http_has_token("keep-alive, Upgrade", 19, "upgrade"));
  CHECK(!eio_http_has_token("keep-alive, Upgrades", 20, "upgrade"));
}

int main(void) {
  test_request_heads();
  test_bad_heads();
  test_limits();
  test_framing();
  test_chunked();
  test_query();
  TEST_END();
}
