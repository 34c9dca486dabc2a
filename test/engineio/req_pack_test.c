/* Unit tests of engineio/req_pack.c: a request head parsed, packed and
 * expanded gives the same view the session used to copy (method, url, path,
 * query, address, port, secure, headers in order); no query; no headers; a
 * string stops at an embedded NUL; the remote address read from the block. */
#include "http.h"
#include "req_pack.h"
#include "test.h"

static void test_parsed(void) {
  static const char head[] =
      "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
      "Host: 127.0.0.1:3000\r\n"
      "Upgrade: websocket\r\n"
      "X-Empty:\r\n"
      "Cookie: a=1\r\n"
      "Cookie: b=2\r\n"
      "\r\n";
  guard_buf g;
  unsigned char *p = guard_put(&g, head, sizeof head - 1);
  eio_http_header hs[16];
  eio_http_request r;
  r.headers = hs;
  long n = eio_http_parse_request((const char *)p, sizeof head - 1, 8192, &r, 16);
  CHECK_EQ_INT(n, (long)sizeof head - 1);
  char *blk = eio_rqp_pack(&r, "::ffff:10.0.0.1", 54321, 1);
  guard_free(&g); /* the block is a copy */
  CHECK(blk != NULL);
  CHECK(strcmp(eio_rqp_remote_address(blk), "::ffff:10.0.0.1") == 0);
  eio_request *v = eio_rqp_expand(blk);
  CHECK(v != NULL);
  CHECK(strcmp(v->method, "GET") == 0);
  CHECK(strcmp(v->url, "/socket.io/?EIO=4&transport=websocket") == 0);
  CHECK(strcmp(v->path, "/socket.io/") == 0);
  CHECK(strcmp(v->query, "EIO=4&transport=websocket") == 0);
  CHECK(strcmp(v->remote_address, "::ffff:10.0.0.1") == 0);
  CHECK_EQ_INT(v->remote_port, 54321);
  CHECK_EQ_INT(v->secure, 1);
  CHECK_EQ_INT(v->num_headers, 5);
  CHECK(strcmp(v->header_names[0], "Host") == 0 &&
        strcmp(v->header_values[0], "127.0.0.1:3000") == 0);
  CHECK(strcmp(v->header_names[1], "Upgrade") == 0 &&
        strcmp(v->header_values[1], "websocket") == 0);
  CHECK(strcmp(v->header_names[2], "X-Empty") == 0 && v->header_values[2][0] == '\0');
  CHECK(strcmp(v->header_names[3], "Cookie") == 0 && strcmp(v->header_values[3], "a=1") == 0);
  CHECK(strcmp(v->header_names[4], "Cookie") == 0 && strcmp(v->header_values[4], "b=2") == 0);
  CHECK(strcmp(eio_request_header(v, "cookie"), "a=1") == 0);
  char out[8];
  CHECK_EQ_INT(eio_request_query(v, "transport", out, sizeof out), -2);
  CHECK_EQ_INT(eio_request_query(v, "EIO", out, sizeof out), 1);
  CHECK(strcmp(out, "4") == 0);
  free(v);
  free(blk);
}

static void test_bare(void) {
  /* no query, no headers, plain; an embedded NUL ends a string */
  eio_http_request r = {"POST", 4, "/x\0y", 4, 1, NULL, 0};
  char *blk = eio_rqp_pack(&r, "1.2.3.4", 0, 0);
  CHECK(blk != NULL);
  eio_request *v = eio_rqp_expand(blk);
  CHECK(v != NULL);
  CHECK(strcmp(v->method, "POST") == 0);
  CHECK(strcmp(v->url, "/x") == 0 && strcmp(v->path, "/x") == 0);
  CHECK(v->query && v->query[0] == '\0');
  CHECK_EQ_INT(v->num_headers, 0);
  CHECK_EQ_INT(v->remote_port, 0);
  CHECK_EQ_INT(v->secure, 0);
  CHECK(strcmp(v->remote_address, "1.2.3.4") == 0);
  CHECK(eio_request_header(v, "host") == NULL);
  free(v);
  free(blk);

  eio_http_header h[2] = {{"A\0b", 3, "v\0w", 3}, {"B", 1, "", 0}};
  eio_http_request r2 = {"GET", 3, "/?q", 3, 1, h, 2};
  blk = eio_rqp_pack(&r2, "", 1, 0);
  v = eio_rqp_expand(blk);
  CHECK(v != NULL);
  CHECK(strcmp(v->path, "/") == 0 && strcmp(v->query, "q") == 0);
  CHECK_EQ_INT(v->num_headers, 2);
  CHECK(strcmp(v->header_names[0], "A") == 0 && strcmp(v->header_values[0], "v") == 0);
  CHECK(strcmp(v->header_names[1], "B") == 0 && v->header_values[1][0] == '\0');
  CHECK(v->remote_address[0] == '\0');
  free(v);
  free(blk);
}

int main(void) {
  test_parsed();
  test_bare();
  TEST_END();
}
