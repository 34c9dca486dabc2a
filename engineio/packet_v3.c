#include "packet_v3.h"
#include "base64.h"

#include <string.h>

/* Bytes of the UTF-8 sequence led by c, or 0 for a byte that cannot lead. */
static size_t seq_len(uint8_t c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

/* Size of the well-formed sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const uint8_t *s, size_t n) {
  size_t k = seq_len(s[0]);
  if (k == 0 || k > n) return 0;
  for (size_t i = 1; i < k; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  if (k == 3 && s[0] == 0xE0 && s[1] < 0xA0) return 0;
  if (k == 4 && s[0] == 0xF0 && s[1] < 0x90) return 0;
  if (k == 4 && s[0] == 0xF4 && s[1] > 0x8F) return 0;
  return k;
}

size_t eio_v3_utf16_len(const uint8_t *s, size_t n) {
  size_t units = 0, i = 0;
  while (i < n) {
    if (s[i] < 0x80) { /* the common case, fast */
      units++;
      i++;
      continue;
    }
    size_t k = utf8_seq(s + i, n - i);
    if (k == 0) k = 1; /* an invalid byte: one U+FFFD */
    units += k == 4 ? 2 : 1;
    i += k;
  }
  return units;
}

int eio_v3_packet_decode_text(const uint8_t *in, size_t len, uint8_t *scratch,
                              eio_packet *out) {
  if (len == 0) return -1;
  uint8_t c = in[0];
  if (c >= '0' && c <= '6') {
    out->type = c - '0';
    out->binary = 0;
    out->data = in + 1;
    out->len = len - 1;
    return 0;
  }
  if (c == 'b' && scratch && len >= 2) {
    uint8_t t = in[1];
    long n = eio_base64_decode((const char *)in + 2, len - 2, scratch);
    if (n < 0) return -1;
    /* Node takes an unknown type here as a packet it then ignores. */
    out->type = (t >= '0' && t <= '6') ? t - '0' : EIO_NOOP;
    out->binary = out->type == EIO_MESSAGE;
    out->data = scratch;
    out->len = (size_t)n;
    return 0;
  }
  return -1;
}

void eio_v3_packet_decode_binary(const uint8_t *in, size_t len, eio_packet *out) {
  if (len == 0 || in[0] > EIO_NOOP) {
    out->type = EIO_NOOP;
    out->binary = 0;
    out->data = in;
    out->len = 0;
    return;
  }
  out->type = in[0];
  out->binary = out->type == EIO_MESSAGE;
  out->data = in + 1;
  out->len = len - 1;
}

/* Bytes that hold `units` UTF-16 code units from s (at most n bytes), or
 * (size_t)-1 when the text is shorter or a pair would be split. */
static size_t bytes_for_units(const uint8_t *s, size_t n, size_t units) {
  size_t i = 0;
  while (units) {
    if (i >= n) return (size_t)-1;
    size_t k = s[i] < 0x80 ? 1 : utf8_seq(s + i, n - i);
    if (k == 0) k = 1;
    size_t u = k == 4 ? 2 : 1;
    if (u > units) return (size_t)-1;
    units -= u;
    i += k;
  }
  return i;
}

int eio_v3_payload_decode_text(const uint8_t *in, size_t len, uint8_t *scratch,
                               eio_payload_cb cb, void *arg) {
  if (len == 0) return -1;
  size_t pos = 0;
  while (pos < len) {
    /* the length: decimal digits, then ':' */
    size_t n = 0, digits = 0;
    while (pos < len && in[pos] >= '0' && in[pos] <= '9') {
      if (++digits > 15) return -1; /* beyond any body we accept */
      n = n * 10 + (size_t)(in[pos] - '0');
      pos++;
    }
    if (pos >= len || in[pos] != ':' || digits == 0) return -1;
    pos++;
    size_t b = bytes_for_units(in + pos, len - pos, n);
    if (b == (size_t)-1) return -1;
    if (b) {
      eio_packet p;
      if (eio_v3_packet_decode_text(in + pos, b, scratch, &p) != 0) return -1;
      int r = cb(arg, &p);
      if (r) return r;
    }
    pos += b;
  }
  return 0;
}

/* Reads one binary payload record header at in[pos]; sets the record's
 * kind, data offset and length. -1 when malformed or truncated. */
static int binary_record(const uint8_t *in, size_t len, size_t pos, int *is_str,
                         size_t *data, size_t *dlen) {
  *is_str = in[pos] == 0;
  size_t i = pos + 1, n = 0, digits = 0;
  while (i < len && in[i] != 0xFF) {
    if (in[i] > 9 || ++digits > 15) return -1;
    n = n * 10 + in[i];
    i++;
  }
  if (i >= len || digits == 0) return -1;
  i++;
  if (n > len - i) return -1;
  *data = i;
  *dlen = n;
  return 0;
}

int eio_v3_payload_decode_binary(const uint8_t *in, size_t len,
                                 uint8_t *scratch, eio_payload_cb cb,
                                 void *arg) {
  int is_str;
  size_t d, n, pos = 0;
  while (pos < len) { /* framing first: nothing is delivered from a bad one */
    if (binary_record(in, len, pos, &is_str, &d, &n) != 0) return -1;
    pos = d + n;
  }
  pos = 0;
  while (pos < len) {
    binary_record(in, len, pos, &is_str, &d, &n);
    pos = d + n;
    eio_packet p;
    if (is_str) {
      if (eio_v3_packet_decode_text(in + d, n, scratch, &p) != 0) return -1;
    } else {
      eio_v3_packet_decode_binary(in + d, n, &p);
    }
    int r = cb(arg, &p);
    if (r) return r;
  }
  return 0;
}

size_t eio_v3_text_header(char *out, size_t utf16_len) {
  char tmp[24];
  size_t k = 0;
  do {
    tmp[k++] = (char)('0' + utf16_len % 10);
    utf16_len /= 10;
  } while (utf16_len);
  for (size_t i = 0; i < k; i++) out[i] = tmp[k - 1 - i];
  out[k] = ':';
  return k + 1;
}

size_t eio_v3_binary_header(uint8_t *out, int is_binary, size_t len) {
  uint8_t tmp[24];
  size_t k = 0;
  do {
    tmp[k++] = (uint8_t)(len % 10);
    len /= 10;
  } while (len);
  out[0] = is_binary ? 1 : 0;
  for (size_t i = 0; i < k; i++) out[1 + i] = tmp[k - 1 - i];
  out[1 + k] = 0xFF;
  return k + 2;
}
