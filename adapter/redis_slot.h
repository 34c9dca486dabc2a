/*
 * Redis Cluster key slots: CRC16 (XMODEM: polynomial 0x1021, initial 0,
 * no reflection) of the key, or of its hash tag, modulo 16384. A pure
 * function over bytes (spec redis-cluster.md section 1).
 */
#ifndef SIO_REDIS_SLOT_H
#define SIO_REDIS_SLOT_H
#include <stddef.h>
#include <stdint.h>

#define SIO_REDIS_SLOTS 16384

uint16_t sio_redis_crc16(const char *buf, size_t len);
/* The slot of key[0..len): when the key has a '{' followed later by a '}'
 * with at least one byte between the first '{' and the first '}' after it,
 * only those bytes are hashed. */
unsigned sio_redis_keyslot(const char *key, size_t len);
#endif
