/*
 * Engine.IO v4 packet and polling-payload codec: pure functions over
 * buffers, no I/O, no allocation except where stated.
 */
#ifndef EIO_PACKET_H
#define EIO_PACKET_H
#include <stddef.h>
#include <stdint.h>

enum eio_packet_type {
  EIO_OPEN = 0,
  EIO_CLOSE = 1,
  EIO_PING = 2,
  EIO_PONG = 3,
  EIO_MESSAGE = 4,
  EIO_UPGRADE = 5,
  EIO_NOOP = 6,
};

/* The record separator that joins packets in a polling payload. */
#define EIO_RECORD_SEP 0x1e

typedef struct eio_packet {
  int type;             /* enum eio_packet_type */
  int binary;           /* 1: data is binary (type is EIO_MESSAGE) */
  const uint8_t *data;  /* points into the input, or into scratch for base64 */
  size_t len;
} eio_packet;

/*
 * Decodes one text packet (a WebSocket text frame, or one record of a
 * polling payload). "b<base64>" is a binary message: its bytes are decoded
 * into scratch, which must hold eio_base64_decoded_max(len - 1) bytes (or be
 * NULL, which makes "b..." a parse error, as on WebSocket where binary comes
 * as binary frames). Returns 0, or -1 on a parse error (empty input, unknown
 * type character, bad base64).
 */
int eio_packet_decode_text(const uint8_t *in, size_t len, uint8_t *scratch,
                           eio_packet *out);

/*
 * Calls cb once per packet of a polling payload, in order, stopping at the
 * first invalid packet or at a non-zero return of cb. scratch must hold
 * eio_base64_decoded_max(len) bytes when the payload may carry binary.
 * Returns 0 when every packet decoded, -1 on a parse error (earlier packets
 * have been delivered), or cb's non-zero return.
 */
typedef int (*eio_payload_cb)(void *arg, const eio_packet *p);
int eio_payload_decode(const uint8_t *in, size_t len, uint8_t *scratch,
                       eio_payload_cb cb, void *arg);
#endif
