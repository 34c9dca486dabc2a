#include "json.h"

#include <math.h>
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

static int dump_string(const char *s, size_t n, struct evbuffer *out) {
  static const char hex[] = "0123456789abcdef";
  if (evbuffer_add(out, "\"", 1)) return -1;
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if (i > run && evbuffer_add(out, s + run, i - run)) return -1;
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
    if (evbuffer_add(out, esc, el)) return -1;
  }
  if (n > run && evbuffer_add(out, s + run, n - run)) return -1;
  return evbuffer_add(out, "\"", 1);
}

static int dump(const json_t *v, struct evbuffer *out, sio_bin_list *bins) {
  char num[40];
  switch (json_typeof(v)) {
  case JSON_NULL: return evbuffer_add(out, "null", 4);
  case JSON_TRUE: return evbuffer_add(out, "true", 4);
  case JSON_FALSE: return evbuffer_add(out, "false", 5);
  case JSON_INTEGER:
    return evbuffer_add_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0 ? -1 : 0;
  case JSON_REAL:
    sio_json_number(json_real_value(v), num, sizeof num);
    return evbuffer_add(out, num, strlen(num));
  case JSON_STRING:
    return dump_string(json_string_value(v), json_string_length(v), out);
  case JSON_ARRAY: {
    if (evbuffer_add(out, "[", 1)) return -1;
    for (size_t i = 0; i < json_array_size(v); i++) {
      if (i && evbuffer_add(out, ",", 1)) return -1;
      if (dump(json_array_get(v, i), out, bins)) return -1;
    }
    return evbuffer_add(out, "]", 1);
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
      return evbuffer_add_printf(out, "{\"_placeholder\":true,\"num\":%zu}",
                                 bins->n_out++) < 0 ? -1 : 0;
    }
    if (evbuffer_add(out, "{", 1)) return -1;
    const char *key;
    json_t *val;
    int first = 1;
    void *iter = json_object_iter((json_t *)v);
    while (iter) {
      key = json_object_iter_key(iter);
      val = json_object_iter_value(iter);
      if (!first && evbuffer_add(out, ",", 1)) return -1;
      first = 0;
      if (dump_string(key, strlen(key), out) || evbuffer_add(out, ":", 1) ||
          dump(val, out, bins))
        return -1;
      iter = json_object_iter_next((json_t *)v, iter);
    }
    return evbuffer_add(out, "}", 1);
  }
  }
  return -1;
}

int sio_json_dump(const json_t *v, struct evbuffer *out, sio_bin_list *bins) {
  return dump(v, out, bins);
}

json_t *sio_json_parse(const char *s, size_t len) {
  json_error_t err;
  size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
  json_t *v = json_loadb(s, len, flags, &err);
  if (!v && strstr(err.text, "too big integer"))
    v = json_loadb(s, len, flags | JSON_DECODE_INT_AS_REAL, &err);
  return v;
}
