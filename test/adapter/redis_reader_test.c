/* adapter/redis_reader.c: replies read as hiredis reads them, and arrays
 * whose announced size is not backed by what arrived refused before any
 * allocation (the fuzz_redis_topology out-of-memory: "*252518017\r\n"). */
#include "redis_reader.h"
#include "test.h"

static int read_one(const char *raw, size_t len, redisReply **out) {
  guard_buf g;
  const char *p = (const char *)guard_put(&g, raw, len);
  redisReader *rd = sio_rreader_new();
  void *rep = NULL;
  int rc = redisReaderFeed(rd, p, len);
  if (rc == REDIS_OK) rc = redisReaderGetReply(rd, &rep);
  if (rc != REDIS_OK) CHECK_EQ_INT(rd->err, REDIS_ERR_OOM);
  sio_rreader_free(rd);
  guard_free(&g);
  *out = rep;
  return rc;
}
#define READ(lit, out) read_one(lit, sizeof(lit) - 1, out)

int main(void) {
  redisReply *r;
  /* every kind, nested */
  CHECK_EQ_INT(READ("*5\r\n$3\r\nabc\r\n:-42\r\n$-1\r\n*2\r\n+OK\r\n-ERR no\r\n*0\r\n", &r), REDIS_OK);
  CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 5);
  if (r && r->elements == 5) {
    CHECK(r->element[0]->type == REDIS_REPLY_STRING);
    CHECK_MEM(r->element[0]->str, r->element[0]->len, "abc");
    CHECK(r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == -42);
    CHECK(r->element[2]->type == REDIS_REPLY_NIL);
    CHECK(r->element[3]->type == REDIS_REPLY_ARRAY && r->element[3]->elements == 2);
    CHECK(r->element[3]->element[0]->type == REDIS_REPLY_STATUS);
    CHECK(r->element[3]->element[1]->type == REDIS_REPLY_ERROR);
    CHECK_MEM(r->element[3]->element[1]->str, r->element[3]->element[1]->len, "ERR no");
    CHECK(r->element[4]->type == REDIS_REPLY_ARRAY && r->element[4]->elements == 0);
  }
  freeReplyObject(r);
  /* a binary-safe bulk string */
  CHECK_EQ_INT(READ("$3\r\na\0b\r\n", &r), REDIS_OK);
  CHECK(r && r->len == 3 && r->str[1] == '\0' && r->str[3] == '\0');
  freeReplyObject(r);
  /* a nil array */
  CHECK_EQ_INT(READ("*-1\r\n", &r), REDIS_OK);
  CHECK(r && r->type == REDIS_REPLY_NIL);
  freeReplyObject(r);

  /* the fuzzer's input: 12 bytes asking for 2 GB */
  CHECK_EQ_INT(READ("*252518017\r\n", &r), REDIS_ERR);
  CHECK(r == NULL);
  /* one slot over the bound, alone and nested */
  char big[64];
  int n = snprintf(big, sizeof big, "*%u\r\n", SIO_RREADER_MAX_ELEMENTS + 1);
  CHECK_EQ_INT(read_one(big, (size_t)n, &r), REDIS_ERR);
  n = snprintf(big, sizeof big, "*2\r\n:1\r\n*%u\r\n", SIO_RREADER_MAX_ELEMENTS);
  CHECK_EQ_INT(read_one(big, (size_t)n, &r), REDIS_ERR);
  /* at the bound: the header is taken (the reply is incomplete, no error) */
  n = snprintf(big, sizeof big, "*%u\r\n", SIO_RREADER_MAX_ELEMENTS);
  CHECK_EQ_INT(read_one(big, (size_t)n, &r), REDIS_OK);
  CHECK(r == NULL);
  /* the budget is per reply: a second reply on the same reader starts
   * again from zero */
  redisReader *rd = sio_rreader_new();
  void *rep = NULL;
  n = snprintf(big, sizeof big, "*1\r\n*%u\r\n", SIO_RREADER_MAX_ELEMENTS - 1);
  redisReaderFeed(rd, big, (size_t)n);
  CHECK_EQ_INT(redisReaderGetReply(rd, &rep), REDIS_OK);
  CHECK(rep == NULL);
  sio_rreader_free(rd);
  /* two replies of more than half the bound each, on one reader: each
   * is within it (the count starts again with every reply) */
  size_t k = SIO_RREADER_MAX_ELEMENTS / 2 + 1;
  char *two = malloc(32 + k * 4);
  size_t len = (size_t)sprintf(two, "*%zu\r\n", k);
  for (size_t i = 0; i < k; i++) memcpy(two + len + i * 4, ":1\r\n", 4);
  len += k * 4;
  rd = sio_rreader_new();
  for (int i = 0; i < 2; i++) {
    redisReaderFeed(rd, two, len);
    rep = NULL;
    CHECK_EQ_INT(redisReaderGetReply(rd, &rep), REDIS_OK);
    CHECK(rep && ((redisReply *)rep)->elements == k);
    freeReplyObject(rep);
  }
  sio_rreader_free(rd);
  free(two);
  TEST_END();
}
