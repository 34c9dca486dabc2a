#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sio_json_is_placeholder(const json_t *v, long long *num) {
  if (!json_is_object(v)) return 0;
  json_t *p = json_object_get(v, "_placeholder");
  if (!json_is_true(p)) return 0;
  json_t *n = json_object_get(v, "num");
  *num = -1;
  if (json_is_integer(n) && json_integer_value(n) >= 0) *num = json_integer_value(n);
  else if (json_is_real(n) && json_real_value(n) >= 0 &&
           json_real_value(n) == floor(json_real_value(n)) &&
           json_real_value(n) < 9007199254740992.0)
    *num = (long long)json_real_value(n);
  return 1;
}

void sio_json_number(double d, char *buf, size_t size) {
  if (!isfinite(d)) {
    snprintf(buf, size, "null"); /* JSON.stringify(NaN) */
    return;
  }
  if (d == 0) {
    snprintf(buf, size, "0"); /* also -0 */
    return;
  }
  /* Shortest decimal that reads back to d. */
  char digits[40];
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(digits, sizeof digits, "%.*e", prec - 1, d);
    if (strtod(digits, NULL) == d) break;
  }
  /* digits is [-]D[.DDD]e[+-]XX: split into sign, mantissa digits, exponent */
  int neg = digits[0] == '-';
  const char *p = digits + neg;
  char mant[24];
  int k = 0;
  for (; *p && *p != 'e'; p++)
    if (*p != '.') mant[k++] = *p;
  mant[k] = '\0';
  int e = atoi(p + 1); /* value = 0.mant * 10^(e+1) */
  int n = e + 1;       /* JS: position of the decimal point */
  char *o = buf;
  size_t left = size;
#define PUT(...)                                                              \
  do {                                                                        \
    int w = snprintf(o, left, __VA_ARGS__);                                   \
    if (w < 0 || (size_t)w >= left) return;                                  \
    o += w;                                                                   \
    left -= (size_t)w;                                                        \
  } while (0)
  if (neg) PUT("-");
  if (k <= n && n <= 21) {
    PUT("%s", mant);
    for (int i = k; i < n; i++) PUT("0");
  } else if (0 < n && n <= 21) {
    PUT("%.*s.%s", n, mant, mant + n);
  } else if (-6 < n && n <= 0) {
    PUT("0.");
    for (int i = 0; i < -n; i++) PUT("0");
    PUT("%s", mant);
  } else {
    if (k == 1) PUT("%c", mant[0]);
    else PUT("%c.%s", mant[0], mant + 1);
    PUT("e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
  }
#undef PUT
}

/* ------------------------------------------------------------ writing */

int sio_jbuf_grow(sio_jbuf *b, size_t extra) {
  if (b->err) return -1;
  size_t need = b->len + extra;
  if (need < b->len) return b->err = -1;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) return b->err = -1;
    cap *= 2;
  }
  char *p = b->heap ? realloc(b->p, cap) : malloc(cap);
  if (!p) return b->err = -1;
  if (!b->heap && b->len) memcpy(p, b->p, b->len);
  b->p = p;
  b->cap = cap;
  b->heap = 1;
  return 0;
}

void sio_jbuf_release(sio_jbuf *b) {
  if (b->heap) free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
  b->heap = 0;
}

int sio_jbuf_int(sio_jbuf *b, long long v) {
  char t[24];
  size_t i = sizeof t;
  unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
  do {
    t[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) t[--i] = '-';
  return sio_jbuf_put(b, t + i, sizeof t - i);
}

static int dump_string(const char *s, size_t n, sio_jbuf *out) {
  static const char hex[] = "0123456789abcdef";
  if (sio_jbuf_putc(out, '"')) return -1;
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if (i > run && sio_jbuf_put(out, s + run, i - run)) return -1;
    run = i + 1;
    char esc[7] = {'\\', 0};
    size_t el = 2;
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      el = 6;
    }
    if (sio_jbuf_put(out, esc, el)) return -1;
  }
  if (n > run && sio_jbuf_put(out, s + run, n - run)) return -1;
  return sio_jbuf_putc(out, '"');
}

static int dump(const json_t *v, sio_jbuf *out, sio_bin_list *bins) {
  char num[40];
  switch (json_typeof(v)) {
  case JSON_NULL: return sio_jbuf_put(out, "null", 4);
  case JSON_TRUE: return sio_jbuf_put(out, "true", 4);
  case JSON_FALSE: return sio_jbuf_put(out, "false", 5);
  case JSON_INTEGER:
    return sio_jbuf_int(out, (long long)json_integer_value(v));
  case JSON_REAL:
    sio_json_number(json_real_value(v), num, sizeof num);
    return sio_jbuf_put(out, num, strlen(num));
  case JSON_STRING:
    return dump_string(json_string_value(v), json_string_length(v), out);
  case JSON_ARRAY: {
    if (sio_jbuf_putc(out, '[')) return -1;
    size_t n = json_array_size(v);
    for (size_t i = 0; i < n; i++) {
      if (i && sio_jbuf_putc(out, ',')) return -1;
      if (dump(json_array_get(v, i), out, bins)) return -1;
    }
    return sio_jbuf_putc(out, ']');
  }
  case JSON_OBJECT: {
    long long k;
    if (bins && sio_json_is_placeholder(v, &k) && k >= 0 && (size_t)k < bins->n_in) {
      if (bins->n_out == bins->cap) {
        size_t nc = bins->cap ? bins->cap * 2 : 4;
        sio_buf **nb = realloc(bins->out, nc * sizeof *nb);
        if (!nb) return -1;
        bins->out = nb;
        bins->cap = nc;
      }
      bins->out[bins->n_out] = sio_buf_ref(bins->in[k]);
      static const char ph[] = "{\"_placeholder\":true,\"num\":";
      if (sio_jbuf_put(out, ph, sizeof ph - 1) ||
          sio_jbuf_int(out, (long long)bins->n_out++))
        return -1;
      return sio_jbuf_putc(out, '}');
    }
    if (sio_jbuf_putc(out, '{')) return -1;
    const char *key;
    json_t *val;
    int first = 1;
    void *iter = json_object_iter((json_t *)v);
    while (iter) {
      key = json_object_iter_key(iter);
      val = json_object_iter_value(iter);
      if (!first && sio_jbuf_putc(out, ',')) return -1;
      first = 0;
      if (dump_string(key, json_object_iter_key_len(iter), out) ||
          sio_jbuf_putc(out, ':') || dump(val, out, bins))
        return -1;
      iter = json_object_iter_next((json_t *)v, iter);
    }
    return sio_jbuf_putc(out, '}');
  }
  }
  return -1;
}

int sio_json_write(const json_t *v, sio_jbuf *out, sio_bin_list *bins) {
  return dump(v, out, bins) || out->err ? -1 : 0;
}

int sio_json_dump(const json_t *v, struct evbuffer *out, sio_bin_list *bins) {
  char stack[512];
  sio_jbuf b = SIO_JBUF_INIT(stack);
  int r = sio_json_write(v, &b, bins);
  if (!r) r = evbuffer_add(out, b.p, b.len);
  sio_jbuf_release(&b);
  return r;
}

/* ------------------------------------------------------------ parsing
 *
 * A direct parser over the buffer that builds the same jansson values
 * json_loadb(JSON_DECODE_ANY | JSON_ALLOW_NUL) builds, and fails where it
 * fails: strict JSON grammar, whitespace " \t\n\r", input that is valid
 * UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF),
 * no control characters inside strings, \u escapes with surrogates only as
 * pairs, no U+0000 in object keys, at most JSON_PARSER_MAX_DEPTH nested
 * values (the scalar innermost counts), real numbers that do not overflow.
 * Integers without fraction or exponent are json_integer; when one is
 * beyond 64 bits the whole text is read again with every number as a real
 * (what the former json_loadb retry did). It never reads past s + len. */

typedef struct jparser {
  const unsigned char *p, *end;
  int depth;
  int int_as_real;
  int int_overflow; /* an integer beyond 64 bits was met */
  char *scratch;    /* decoded strings with escapes */
  size_t scratch_cap;
} jparser;

static void jp_ws(jparser *j) {
  while (j->p < j->end &&
         (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t jp_utf8(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t n;
  unsigned v;
  if (c >= 0xC2 && c <= 0xDF) n = 2, v = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, v = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, v = c & 0x07;
  else return 0;
  if ((size_t)(end - p) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (p[i] & 0x3F);
  }
  if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000)) return 0;
  return n;
}

static int jp_hex4(const unsigned char *p, const unsigned char *end) {
  if (end - p < 4) return -1;
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p[i], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v << 4 | d;
  }
  return v;
}

static size_t jp_put_utf8(char *o, unsigned v) {
  if (v < 0x80) {
    o[0] = (char)v;
    return 1;
  }
  if (v < 0x800) {
    o[0] = (char)(0xC0 | v >> 6);
    o[1] = (char)(0x80 | (v & 0x3F));
    return 2;
  }
  if (v < 0x10000) {
    o[0] = (char)(0xE0 | v >> 12);
    o[1] = (char)(0x80 | ((v >> 6) & 0x3F));
    o[2] = (char)(0x80 | (v & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | v >> 18);
  o[1] = (char)(0x80 | ((v >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((v >> 6) & 0x3F));
  o[3] = (char)(0x80 | (v & 0x3F));
  return 4;
}

/* A string at j->p (the opening quote). out, len: its decoded bytes,
 * pointing into the input when it has no escape, else into j->scratch. */
static int jp_string(jparser *j, const char **out, size_t *len) {
  const unsigned char *p = ++j->p, *end = j->end;
  /* the common case: no escape up to the closing quote */
  for (;;) {
    if (p >= end) return -1;
    unsigned c = *p;
    if (c == '"') {
      *out = (const char *)j->p;
      *len = (size_t)(p - j->p);
      j->p = p + 1;
      return 0;
    }
    if (c == '\\') break;
    if (c < 0x20) return -1;
    if (c < 0x80) p++;
    else {
      size_t n = jp_utf8(p, end);
      if (!n) return -1;
      p += n;
    }
  }
  /* with escapes: decoded text is never longer than its source */
  size_t need = (size_t)(end - j->p);
  if (need > j->scratch_cap) {
    char *s = realloc(j->scratch, need);
    if (!s) return -1;
    j->scratch = s;
    j->scratch_cap = need;
  }
  size_t k = (size_t)(p - j->p);
  memcpy(j->scratch, j->p, k);
  char *o = j->scratch + k;
  for (;;) {
    if (p >= end) return -1;
    unsigned c = *p;
    if (c == '"') break;
    if (c < 0x20) return -1;
    if (c >= 0x80) {
      size_t n = jp_utf8(p, end);
      if (!n) return -1;
      memcpy(o, p, n);
      o += n;
      p += n;
      continue;
    }
    if (c != '\\') {
      *o++ = (char)c;
      p++;
      continue;
    }
    if (end - p < 2) return -1;
    switch (p[1]) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '/': *o++ = '/'; break;
    case 'b': *o++ = '\b'; break;
    case 'f': *o++ = '\f'; break;
    case 'n': *o++ = '\n'; break;
    case 'r': *o++ = '\r'; break;
    case 't': *o++ = '\t'; break;
    case 'u': {
      int v = jp_hex4(p + 2, end);
      if (v < 0) return -1;
      p += 6;
      if (v >= 0xDC00 && v <= 0xDFFF) return -1;
      if (v >= 0xD800 && v <= 0xDBFF) {
        if (end - p < 2 || p[0] != '\\' || p[1] != 'u') return -1;
        int w = jp_hex4(p + 2, end);
        if (w < 0xDC00 || w > 0xDFFF) return -1;
        p += 6;
        v = ((v - 0xD800) << 10) + (w - 0xDC00) + 0x10000;
      }
      o += jp_put_utf8(o, (unsigned)v);
      continue;
    }
    default: return -1;
    }
    p += 2;
  }
  *out = j->scratch;
  *len = (size_t)(o - j->scratch);
  j->p = p + 1;
  return 0;
}

static json_t *jp_number(jparser *j) {
  const unsigned char *s = j->p, *p = s, *end = j->end;
  if (p < end && *p == '-') p++;
  if (p >= end) return NULL;
  if (*p == '0') {
    p++;
    if (p < end && *p >= '0' && *p <= '9') return NULL;
  } else if (*p >= '1' && *p <= '9') {
    while (p < end && *p >= '0' && *p <= '9') p++;
  } else {
    return NULL;
  }
  int real = 0;
  if (p < end && *p == '.') {
    p++;
    if (p >= end || *p < '0' || *p > '9') return NULL;
    while (p < end && *p >= '0' && *p <= '9') p++;
    real = 1;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || *p < '0' || *p > '9') return NULL;
    while (p < end && *p >= '0' && *p <= '9') p++;
    real = 1;
  }
  j->p = p;
  size_t n = (size_t)(p - s);
  if (!real && !j->int_as_real) {
    /* at most 19 digits always fit; more are checked as they come */
    const unsigned char *q = s;
    int neg = *q == '-';
    if (neg) q++;
    unsigned long long v = 0;
    const unsigned long long lim = neg ? 9223372036854775808ULL
                                       : 9223372036854775807ULL;
    for (; q < p; q++) {
      unsigned d = (unsigned)(*q - '0');
      if (v > (lim - d) / 10) {
        j->int_overflow = 1;
        return NULL;
      }
      v = v * 10 + d;
    }
    return json_integer(neg ? (json_int_t)(0 - v) : (json_int_t)v);
  }
  char stackbuf[64], *t = stackbuf;
  if (n >= sizeof stackbuf && !(t = malloc(n + 1))) return NULL;
  memcpy(t, s, n);
  t[n] = '\0';
  errno = 0;
  double d = strtod(t, NULL);
  int overflow = errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL);
  if (t != stackbuf) free(t);
  return overflow ? NULL : json_real(d);
}

static int jp_word(jparser *j, const char *w, size_t n) {
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0) return -1;
  j->p += n;
  /* jansson reads a whole run of letters as one word */
  if (j->p < j->end && ((*j->p | 0x20) >= 'a' && (*j->p | 0x20) <= 'z'))
    return -1;
  return 0;
}

static json_t *jp_value(jparser *j);

static json_t *jp_array(jparser *j) {
  json_t *a = json_array();
  if (!a) return NULL;
  j->p++;
  jp_ws(j);
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    return a;
  }
  for (;;) {
    json_t *v = jp_value(j);
    if (!v || json_array_append_new(a, v) != 0) break;
    jp_ws(j);
    if (j->p >= j->end) break;
    if (*j->p == ']') {
      j->p++;
      return a;
    }
    if (*j->p != ',') break;
    j->p++;
    jp_ws(j);
  }
  json_decref(a);
  return NULL;
}

static json_t *jp_object(jparser *j) {
  json_t *o = json_object();
  if (!o) return NULL;
  j->p++;
  jp_ws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    return o;
  }
  for (;;) {
    const char *k;
    size_t kl;
    if (j->p >= j->end || *j->p != '"' || jp_string(j, &k, &kl) != 0) break;
    if (memchr(k, '\0', kl)) break;
    /* A key decoded into the scratch buffer is copied: the value may
     * reuse that buffer. */
    char kb[64], *key = (char *)k;
    if (k == j->scratch) {
      key = kb;
      if (kl >= sizeof kb && !(key = malloc(kl + 1))) break;
      memcpy(key, k, kl);
    }
    jp_ws(j);
    json_t *v = NULL;
    if (j->p < j->end && *j->p == ':') {
      j->p++;
      jp_ws(j);
      v = jp_value(j);
    }
    int bad = !v || json_object_setn_new_nocheck(o, key, kl, v) != 0;
    if (key != kb && key != k) free(key);
    if (bad) break;
    jp_ws(j);
    if (j->p >= j->end) break;
    if (*j->p == '}') {
      j->p++;
      return o;
    }
    if (*j->p != ',') break;
    j->p++;
    jp_ws(j);
  }
  json_decref(o);
  return NULL;
}

/* One value at j->p (whitespace skipped already). */
static json_t *jp_value(jparser *j) {
  if (++j->depth > JSON_PARSER_MAX_DEPTH || j->p >= j->end) return NULL;
  json_t *v = NULL;
  switch (*j->p) {
  case '"': {
    const char *s;
    size_t n;
    if (jp_string(j, &s, &n) == 0) v = json_stringn_nocheck(s, n);
    break;
  }
  case '[': v = jp_array(j); break;
  case '{': v = jp_object(j); break;
  case 't': v = jp_word(j, "true", 4) ? NULL : json_true(); break;
  case 'f': v = jp_word(j, "false", 5) ? NULL : json_false(); break;
  case 'n': v = jp_word(j, "null", 4) ? NULL : json_null(); break;
  default:
    if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) v = jp_number(j);
  }
  if (v) j->depth--;
  return v;
}

static json_t *jp_parse(const char *s, size_t len, int int_as_real,
                        int *int_overflow) {
  jparser j = {(const unsigned char *)s, (const unsigned char *)s + len, 0,
               int_as_real, 0, NULL, 0};
  jp_ws(&j);
  json_t *v = jp_value(&j);
  if (v) {
    jp_ws(&j);
    if (j.p != j.end) {
      json_decref(v);
      v = NULL;
    }
  }
  free(j.scratch);
  *int_overflow = j.int_overflow;
  return v;
}

json_t *sio_json_parse(const char *s, size_t len) {
  int ovf = 0;
  json_t *v = jp_parse(s, len, 0, &ovf);
  if (!v && ovf) v = jp_parse(s, len, 1, &ovf);
  return v;
}
