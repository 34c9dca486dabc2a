/*
 * RFC 6455 framing for the server side: pure functions over buffers.
 */
#ifndef EIO_WS_H
#define EIO_WS_H
#include <stddef.h>
#include <stdint.h>

enum {
  EIO_WS_CONT = 0x0,
  EIO_WS_TEXT = 0x1,
  EIO_WS_BINARY = 0x2,
  EIO_WS_CLOSE = 0x8,
  EIO_WS_PING = 0x9,
  EIO_WS_PONG = 0xA,
};

/* Close codes used by the server (RFC 6455 7.4.1). */
enum {
  EIO_WS_NORMAL = 1000,
  EIO_WS_GOING_AWAY = 1001,
  EIO_WS_PROTOCOL_ERROR = 1002,
  EIO_WS_INVALID_DATA = 1007,
  EIO_WS_TOO_BIG = 1009,
};

typedef struct eio_ws_frame {
  int fin;
  int rsv;       /* the three RSV bits, as 0..7 */
  int opcode;
  int masked;
  uint8_t mask[4];
  uint64_t payload_len;
  size_t header_len;
} eio_ws_frame;

/* Largest frame header: 2 + 8 (length) + 4 (mask). */
#define EIO_WS_MAX_HEADER 14

/*
 * Parses a frame header at the start of buf. Returns the header length
 * (> 0) and fills f, 0 when more bytes are needed, or -1 when the 64-bit
 * length has its top bit set (RFC 6455 5.2).
 */
int eio_ws_parse_header(const uint8_t *buf, size_t len, eio_ws_frame *f);

/*
 * Checks a client frame header against the protocol and the limits, given
 * whether a fragmented data message is in progress and how many bytes of it
 * have been gathered. Returns 0 when acceptable, else the close code to send
 * (1002 protocol error, 1009 too big), with *reason set to a static text.
 */
int eio_ws_check_client_frame(const eio_ws_frame *f, int in_message,
                              uint64_t message_len, uint64_t max_message,
                              const char **reason);

/* XORs len bytes at p with the mask, starting at mask offset off. */
void eio_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], size_t off);

/* Writes an unmasked server frame header for a payload of len bytes into
 * out (at least 10 bytes); returns its length. */
size_t eio_ws_write_header(uint8_t *out, int fin, int opcode, uint64_t len);

/* 1 when p[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
int eio_ws_utf8_valid(const uint8_t *p, size_t len);

/*
 * Validates a received close frame payload. Returns 0 and sets *code
 * (1005 when the payload is empty) or returns the close code to answer with
 * (1002 for a bad length or code, 1007 for a reason that is not UTF-8).
 */
int eio_ws_check_close_payload(const uint8_t *p, size_t len, int *code);

/* Computes Sec-WebSocket-Accept for a client key: 28 chars + NUL in out.
 * Returns 0, or -1 on a hashing failure. */
int eio_ws_accept_key(const char *key, size_t key_len, char out[29]);

/* 1 when key is a valid Sec-WebSocket-Key: base64 of 16 bytes. */
int eio_ws_key_valid(const char *key, size_t len);
#endif
