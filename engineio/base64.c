#include "base64.h"

static const char enc_tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t eio_base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

void eio_base64_encode(const uint8_t *in, size_t n, char *out) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *out++ = enc_tab[v >> 18];
    *out++ = enc_tab[(v >> 12) & 63];
    *out++ = enc_tab[(v >> 6) & 63];
    *out++ = enc_tab[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    *out++ = enc_tab[v >> 18];
    *out++ = enc_tab[(v >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    *out++ = enc_tab[v >> 18];
    *out++ = enc_tab[(v >> 12) & 63];
    *out++ = enc_tab[(v >> 6) & 63];
    *out++ = '=';
  }
}

size_t eio_base64_decoded_max(size_t n) { return (n + 3) / 4 * 3; }

static int dec_char(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long eio_base64_decode(const char *in, size_t n, uint8_t *out) {
  /* Strip up to two '=' at the end; padding is only legal there. */
  size_t pad = 0;
  while (n > 0 && pad < 2 && in[n - 1] == '=') {
    n--;
    pad++;
  }
  if (pad && (n + pad) % 4 != 0) return -1;
  if (n % 4 == 1) return -1;
  long o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = dec_char((unsigned char)in[i]);
    if (v < 0) return -1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return o;
}
