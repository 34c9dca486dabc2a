/* adapter/redis_slot.c: CRC16 and key slots against the values Redis's
 * CLUSTER KEYSLOT gave (spec redis-cluster.md section 1), each key read
 * from right before a guard page. */
#include "redis_slot.h"
#include "test.h"

static unsigned slot_of(const char *s) {
  guard_buf g;
  size_t n = strlen(s);
  const char *p = (const char *)guard_put(&g, s, n);
  unsigned v = sio_redis_keyslot(p, n);
  guard_free(&g);
  return v;
}

int main(void) {
  CHECK_EQ_INT(sio_redis_crc16("123456789", 9), 0x31C3);
  CHECK_EQ_INT(slot_of("123456789"), 12739);
  /* hash tags (capture C-1b E) */
  unsigned b = slot_of("b");
  CHECK_EQ_INT(b, 3300);
  CHECK_EQ_INT(slot_of("a{b}c"), 3300);
  CHECK_EQ_INT(slot_of("{b}"), 3300);
  CHECK_EQ_INT(slot_of("{b}}"), 3300);
  CHECK_EQ_INT(slot_of("a}b{c}"), slot_of("c"));
  CHECK_EQ_INT(slot_of("{{b}}"), slot_of("{b"));
  CHECK_EQ_INT(slot_of("a{}c"), sio_redis_crc16("a{}c", 4) & 0x3FFF);
  CHECK_EQ_INT(slot_of("{}x"), sio_redis_crc16("{}x", 3) & 0x3FFF);
  CHECK_EQ_INT(slot_of("a{}{b}"), sio_redis_crc16("a{}{b}", 6) & 0x3FFF);
  CHECK_EQ_INT(slot_of("a{b"), sio_redis_crc16("a{b", 3) & 0x3FFF);
  CHECK(slot_of("a{}c") != 3300);
  CHECK_EQ_INT(slot_of("{x}a"), slot_of("{x}b"));
  CHECK_EQ_INT(slot_of("{"), sio_redis_crc16("{", 1) & 0x3FFF);
  CHECK_EQ_INT(slot_of(""), 0);
  /* the adapter's channels (prefix socket.io) */
  CHECK_EQ_INT(slot_of("socket.io#/#"), 13868);
  CHECK_EQ_INT(slot_of("socket.io#/admin#"), 4375);
  CHECK_EQ_INT(slot_of("socket.io#/#room1#"), 9640);
  CHECK_EQ_INT(slot_of("socket.io#/#room2#"), 12539);
  CHECK_EQ_INT(slot_of("socket.io#/#3dd151c03e4b053e#"), 10322);
  CHECK_EQ_INT(slot_of("socket.io-request#/#"), 12937);
  CHECK_EQ_INT(slot_of("socket.io#/#{room1}#"), 14439);
  TEST_END();
}
