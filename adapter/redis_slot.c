#include "redis_slot.h"

#include <string.h>

static uint16_t crc_table[256];
static int crc_ready;

static void crc_init(void) {
  for (unsigned i = 0; i < 256; i++) {
    uint16_t c = (uint16_t)(i << 8);
    for (int b = 0; b < 8; b++) c = (uint16_t)((c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1);
    crc_table[i] = c;
  }
  crc_ready = 1;
}

uint16_t sio_redis_crc16(const char *buf, size_t len) {
  if (!crc_ready) crc_init();
  uint16_t crc = 0;
  for (size_t i = 0; i < len; i++)
    crc = (uint16_t)((crc << 8) ^ crc_table[((crc >> 8) ^ (unsigned char)buf[i]) & 0xff]);
  return crc;
}

unsigned sio_redis_keyslot(const char *key, size_t len) {
  const char *open = len ? memchr(key, '{', len) : NULL;
  if (open) {
    size_t rest = len - (size_t)(open - key) - 1;
    const char *close = rest ? memchr(open + 1, '}', rest) : NULL;
    if (close && close > open + 1) {
      key = open + 1;
      len = (size_t)(close - open - 1);
    }
  }
  return sio_redis_crc16(key, len) & (SIO_REDIS_SLOTS - 1);
}
