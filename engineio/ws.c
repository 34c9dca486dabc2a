#include "ws.h"
#include "base64.h"

#include <mbedtls/sha1.h>
#include <string.h>

int eio_ws_parse_header(const uint8_t *b, size_t len, eio_ws_frame *f) {
  if (len < 2) return 0;
  f->fin = b[0] >> 7;
  f->rsv = (b[0] >> 4) & 7;
  f->opcode = b[0] & 0x0f;
  f->masked = b[1] >> 7;
  uint64_t pl = b[1] & 0x7f;
  size_t h = 2;
  if (pl == 126) {
    if (len < 4) return 0;
    pl = (uint64_t)b[2] << 8 | b[3];
    h = 4;
  } else if (pl == 127) {
    if (len < 10) return 0;
    if (b[2] & 0x80) return -1;
    pl = 0;
    for (int i = 2; i < 10; i++) pl = pl << 8 | b[i];
    h = 10;
  }
  if (f->masked) {
    if (len < h + 4) return 0;
    memcpy(f->mask, b + h, 4);
    h += 4;
  }
  f->payload_len = pl;
  f->header_len = h;
  return (int)h;
}

int eio_ws_check_client_frame(const eio_ws_frame *f, int in_message,
                              uint64_t message_len, uint64_t max_message,
                              const char **reason) {
  /* Order and texts follow the ws package's receiver. */
  if (f->rsv & 4) { *reason = "RSV1 must be clear"; return EIO_WS_PROTOCOL_ERROR; }
  if (f->rsv & 2) { *reason = "RSV2 and RSV3 must be clear"; return EIO_WS_PROTOCOL_ERROR; }
  if (f->rsv & 1) { *reason = "RSV2 and RSV3 must be clear"; return EIO_WS_PROTOCOL_ERROR; }
  switch (f->opcode) {
  case EIO_WS_CONT:
    if (!in_message) { *reason = "invalid opcode 0"; return EIO_WS_PROTOCOL_ERROR; }
    break;
  case EIO_WS_TEXT:
  case EIO_WS_BINARY:
    if (in_message) { *reason = "invalid opcode"; return EIO_WS_PROTOCOL_ERROR; }
    break;
  case EIO_WS_CLOSE:
  case EIO_WS_PING:
  case EIO_WS_PONG:
    if (!f->fin) { *reason = "FIN must be set"; return EIO_WS_PROTOCOL_ERROR; }
    if (f->payload_len > 125) { *reason = "invalid payload length"; return EIO_WS_PROTOCOL_ERROR; }
    break;
  default:
    *reason = "invalid opcode";
    return EIO_WS_PROTOCOL_ERROR;
  }
  if (!f->masked) { *reason = "MASK must be set"; return EIO_WS_PROTOCOL_ERROR; }
  if (f->opcode < EIO_WS_CLOSE &&
      (f->payload_len > max_message || message_len + f->payload_len > max_message)) {
    *reason = "Max payload size exceeded";
    return EIO_WS_TOO_BIG;
  }
  *reason = NULL;
  return 0;
}

void eio_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], size_t off) {
  uint8_t m[8];
  for (int i = 0; i < 8; i++) m[i] = mask[(off + (size_t)i) & 3];
  uint64_t m64;
  memcpy(&m64, m, 8);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    v ^= m64;
    memcpy(p + i, &v, 8);
  }
  for (; i < len; i++) p[i] ^= m[i & 7];
}

size_t eio_ws_write_header(uint8_t *o, int fin, int opcode, uint64_t len) {
  o[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
  if (len < 126) {
    o[1] = (uint8_t)len;
    return 2;
  }
  if (len <= 0xffff) {
    o[1] = 126;
    o[2] = (uint8_t)(len >> 8);
    o[3] = (uint8_t)len;
    return 4;
  }
  o[1] = 127;
  for (int i = 0; i < 8; i++) o[2 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 10;
}

int eio_ws_utf8_valid(const uint8_t *p, size_t len) {
  size_t i = 0;
  while (i < len) {
    /* ASCII fast path, eight bytes at a time. */
    if (i + 8 <= len) {
      uint64_t v;
      memcpy(&v, p + i, 8);
      if (!(v & 0x8080808080808080ULL)) {
        i += 8;
        continue;
      }
    }
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (len - i <= n) return 0;
    for (size_t k = 1; k <= n; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += n + 1;
  }
  return 1;
}

static int close_code_valid(int c) {
  if (c >= 1000 && c <= 1014 && c != 1004 && c != 1005 && c != 1006) return 1;
  return c >= 3000 && c <= 4999;
}

int eio_ws_check_close_payload(const uint8_t *p, size_t len, int *code) {
  if (len == 0) {
    *code = 1005;
    return 0;
  }
  if (len == 1) return EIO_WS_PROTOCOL_ERROR;
  int c = p[0] << 8 | p[1];
  if (!close_code_valid(c)) return EIO_WS_PROTOCOL_ERROR;
  if (!eio_ws_utf8_valid(p + 2, len - 2)) return EIO_WS_INVALID_DATA;
  *code = c;
  return 0;
}

int eio_ws_key_valid(const char *key, size_t len) {
  /* 22 base64 chars then "==": exactly 16 bytes. */
  if (len != 24 || key[22] != '=' || key[23] != '=') return 0;
  uint8_t out[18];
  return eio_base64_decode(key, len, out) == 16;
}

int eio_ws_accept_key(const char *key, size_t key_len, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  uint8_t digest[20];
  mbedtls_sha1_context ctx;
  mbedtls_sha1_init(&ctx);
  int rc = mbedtls_sha1_starts_ret(&ctx);
  if (!rc) rc = mbedtls_sha1_update_ret(&ctx, (const unsigned char *)key, key_len);
  if (!rc) rc = mbedtls_sha1_update_ret(&ctx, (const unsigned char *)guid, sizeof guid - 1);
  if (!rc) rc = mbedtls_sha1_finish_ret(&ctx, digest);
  mbedtls_sha1_free(&ctx);
  if (rc) return -1;
  eio_base64_encode(digest, 20, out);
  out[28] = '\0';
  return 0;
}
