/*
 * Engine.IO v3 packet and polling-payload codec (engine.io-parser 2.x, as
 * Node's engine.io 6.6 speaks it to allowEIO3 clients): pure functions over
 * buffers, no I/O, no allocation.
 *
 * v3 differs from v4 in framing only: a text payload is "<len>:<packet>"
 * records where len counts UTF-16 code units (JavaScript string length); a
 * binary payload is records "<kind><decimal digits as byte values>\xff
 * <bytes>"; a binary packet, in a payload or a WebSocket frame, starts with
 * its type as a byte; base64 binary is "b<type><base64>".
 */
#ifndef EIO_PACKET_V3_H
#define EIO_PACKET_V3_H
#include <stddef.h>
#include <stdint.h>

#include "packet.h"

/* Longest record header either encoder writes (20 digits + 2). */
#define EIO_V3_MAX_HEADER 24

/* Length of UTF-8 text as a JavaScript string (UTF-16 code units): 4-byte
 * sequences count 2, an invalid byte counts 1. */
size_t eio_v3_utf16_len(const uint8_t *s, size_t n);

/*
 * One text packet (a WebSocket text frame, or one record of a text
 * payload): "<type digit><data>", or "b<type digit><base64>" for binary
 * when scratch is not NULL (it must then hold eio_base64_decoded_max(len)
 * bytes). 0, or -1 on a parse error.
 */
int eio_v3_packet_decode_text(const uint8_t *in, size_t len, uint8_t *scratch,
                              eio_packet *out);

/*
 * One binary packet (a WebSocket binary frame, or a binary record of a
 * binary payload): the first byte is the type. A type byte Node does not
 * know (or an empty frame) gives EIO_NOOP, which the session ignores as
 * Node ignores a packet of unknown type. Only a message is flagged binary.
 */
void eio_v3_packet_decode_binary(const uint8_t *in, size_t len, eio_packet *out);

/*
 * Text payload (the body of a v3 POST without application/octet-stream).
 * Calls cb per non-empty record in order; stops at a non-zero return of
 * cb. scratch as for eio_v3_packet_decode_text (NULL: "b" packets are parse
 * errors). Returns 0, -1 on a parse error (earlier packets delivered), or
 * cb's non-zero return. An empty payload is a parse error, as in Node.
 */
int eio_v3_payload_decode_text(const uint8_t *in, size_t len, uint8_t *scratch,
                               eio_payload_cb cb, void *arg);

/*
 * Binary payload (a v3 POST with application/octet-stream). The framing of
 * the whole payload is checked before any packet is delivered (Node splits
 * it first); then packets are decoded and delivered one by one as above.
 */
int eio_v3_payload_decode_binary(const uint8_t *in, size_t len,
                                 uint8_t *scratch, eio_payload_cb cb,
                                 void *arg);

/* "<n>:" into out (EIO_V3_MAX_HEADER bytes); returns its length. */
size_t eio_v3_text_header(char *out, size_t utf16_len);

/* A binary payload record header: 0 (string) or 1 (binary), the decimal
 * digits of len as byte values, 0xFF. Returns its length. */
size_t eio_v3_binary_header(uint8_t *out, int is_binary, size_t len);
#endif
