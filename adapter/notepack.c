#include "notepack.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int is_placeholder(const json_t *v, long long *num) {
  if (!json_is_object(v) || !json_is_true(json_object_get(v, "_placeholder"))) return 0;
  json_t *n = json_object_get(v, "num");
  if (!json_is_integer(n)) return 0;
  *num = json_integer_value(n);
  return 1;
}

static int pack_double(msgpack_packer *pk, double d) {
  /* notepack: a finite integral number is an integer */
  if (isfinite(d) && floor(d) == d && d >= -9223372036854775808.0 &&
      d < 9223372036854775808.0) {
    if (d == 0) return msgpack_pack_int64(pk, 0); /* -0 as 00 */
    return msgpack_pack_int64(pk, (int64_t)d);
  }
  return msgpack_pack_double(pk, d);
}

int sio_mp_pack(msgpack_packer *pk, const json_t *v, sio_buf *const *bins,
                size_t nbins) {
  long long k;
  switch (json_typeof(v)) {
  case JSON_NULL: return msgpack_pack_nil(pk);
  case JSON_TRUE: return msgpack_pack_true(pk);
  case JSON_FALSE: return msgpack_pack_false(pk);
  case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(v));
  case JSON_REAL: return pack_double(pk, json_real_value(v));
  case JSON_STRING: {
    size_t n = json_string_length(v);
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, json_string_value(v), n);
  }
  case JSON_ARRAY: {
    size_t n = json_array_size(v);
    if (msgpack_pack_array(pk, n)) return -1;
    for (size_t i = 0; i < n; i++)
      if (sio_mp_pack(pk, json_array_get(v, i), bins, nbins)) return -1;
    return 0;
  }
  case JSON_OBJECT: {
    if (is_placeholder(v, &k) && k >= 0 && (size_t)k < nbins) {
      size_t n = sio_buf_len(bins[k]);
      return msgpack_pack_bin(pk, n) ||
             msgpack_pack_bin_body(pk, sio_buf_data(bins[k]), n);
    }
    if (msgpack_pack_map(pk, json_object_size(v))) return -1;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
      size_t kl = strlen(key);
      if (msgpack_pack_str(pk, kl) || msgpack_pack_str_body(pk, key, kl) ||
          sio_mp_pack(pk, val, bins, nbins))
        return -1;
    }
    return 0;
  }
  }
  return -1;
}

void sio_mp_bins_clear(sio_mp_bins *b) {
  for (size_t i = 0; i < b->n; i++) sio_buf_unref(b->v[i]);
  free(b->v);
  memset(b, 0, sizeof *b);
}

static json_t *bin_value(const void *data, size_t len, sio_mp_bins *bins) {
  if (bins->n == bins->cap) {
    size_t nc = bins->cap ? bins->cap * 2 : 4;
    sio_buf **nv = realloc(bins->v, nc * sizeof *nv);
    if (!nv) return NULL;
    bins->v = nv;
    bins->cap = nc;
  }
  sio_buf *b = sio_buf_new(data, len);
  if (!b) return NULL;
  bins->v[bins->n] = b;
  return json_pack("{s:b,s:I}", "_placeholder", 1, "num", (json_int_t)bins->n++);
}

static json_t *number(double d) {
  /* JSON has no NaN/Infinity: JSON.stringify writes null */
  return isfinite(d) ? json_real(d) : json_null();
}

/* ext -1: a Date, which reaches clients as its ISO-8601 string. */
static json_t *timestamp(const char *p, uint32_t n) {
  int64_t sec;
  uint32_t nsec = 0;
  const unsigned char *u = (const unsigned char *)p;
  if (n == 4) {
    sec = (int64_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]);
  } else if (n == 8) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | u[i];
    nsec = (uint32_t)(v >> 34);
    sec = (int64_t)(v & 0x3ffffffffULL);
  } else if (n == 12) {
    for (int i = 0; i < 4; i++) nsec = nsec << 8 | u[i];
    uint64_t v = 0;
    for (int i = 4; i < 12; i++) v = v << 8 | u[i];
    sec = (int64_t)v;
  } else {
    return NULL;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return NULL;
  char s[96];
  snprintf(s, sizeof s, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           (nsec % 1000000000u) / 1000000);
  return json_string(s);
}

json_t *sio_mp_to_json(const msgpack_object *o, sio_mp_bins *bins) {
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: return json_null();
  case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    return o->via.u64 <= (uint64_t)INT64_MAX ? json_integer((json_int_t)o->via.u64)
                                             : json_real((double)o->via.u64);
  case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer((json_int_t)o->via.i64);
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: return number(o->via.f64);
  case MSGPACK_OBJECT_STR: /* msgpack-c gives NULL for an empty string */
    return json_stringn(o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
  case MSGPACK_OBJECT_BIN: return bin_value(o->via.bin.size ? o->via.bin.ptr : "", o->via.bin.size, bins);
  case MSGPACK_OBJECT_ARRAY: {
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < o->via.array.size; i++) {
      json_t *x = sio_mp_to_json(&o->via.array.ptr[i], bins);
      if (!x || json_array_append_new(a, x)) {
        json_decref(a);
        return NULL;
      }
    }
    return a;
  }
  case MSGPACK_OBJECT_MAP: {
    json_t *m = json_object();
    for (uint32_t i = 0; m && i < o->via.map.size; i++) {
      const msgpack_object *k = &o->via.map.ptr[i].key;
      if (k->type != MSGPACK_OBJECT_STR) goto bad_map;
      char *key = strndup(k->via.str.size ? k->via.str.ptr : "", k->via.str.size);
      json_t *x = key && strlen(key) == k->via.str.size
                      ? sio_mp_to_json(&o->via.map.ptr[i].val, bins)
                      : NULL;
      if (!x || json_object_set_new(m, key, x)) {
        free(key);
        goto bad_map;
      }
      free(key);
    }
    return m;
  bad_map:
    json_decref(m);
    return NULL;
  }
  case MSGPACK_OBJECT_EXT:
    if (o->via.ext.type == -1) return timestamp(o->via.ext.ptr, o->via.ext.size);
    if (o->via.ext.type == 0) /* notepack 2 ArrayBuffer */
      return bin_value(o->via.ext.ptr, o->via.ext.size, bins);
    return json_pack("[i,o]", o->via.ext.type,
                     bin_value(o->via.ext.ptr, o->via.ext.size, bins));
  }
  return NULL;
}

/*
 * msgpack-c allocates for an array or map from its declared count before
 * it has seen the elements, so six bytes from the network could ask for
 * gigabytes. This pre-scan walks the value without allocating and checks
 * that every declared count and length fits in the bytes present (each
 * element takes at least one byte), so what the unpacker allocates stays
 * proportional to the message. Returns 0 when the buffer holds exactly one
 * well-formed value.
 */
static int be(const uint8_t *p, int n, uint64_t *v) {
  *v = 0;
  for (int i = 0; i < n; i++) *v = *v << 8 | p[i];
  return n;
}

static int mp_scan(const uint8_t *p, size_t len) {
  size_t pos = 0;
  uint64_t pending = 1; /* values still to read */
  while (pending) {
    if (pos >= len) return -1;
    uint8_t c = p[pos++];
    uint64_t n = 0, skip = 0, items = 0;
    size_t left = len - pos;
#define NEED(k) do { if (left < (k)) return -1; } while (0)
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
    } else if ((c & 0xf0) == 0x80) { items = 2 * (uint64_t)(c & 0x0f);
    } else if ((c & 0xf0) == 0x90) { items = c & 0x0f;
    } else if ((c & 0xe0) == 0xa0) { skip = c & 0x1f;
    } else {
      switch (c) {
      case 0xc4: case 0xd9: NEED(1); pos += be(p + pos, 1, &skip); break;
      case 0xc5: case 0xda: NEED(2); pos += be(p + pos, 2, &skip); break;
      case 0xc6: case 0xdb: NEED(4); pos += be(p + pos, 4, &skip); break;
      case 0xc7: NEED(2); pos += be(p + pos, 1, &skip); skip++; pos += 0; break;
      case 0xc8: NEED(3); pos += be(p + pos, 2, &skip); skip++; break;
      case 0xc9: NEED(5); pos += be(p + pos, 4, &skip); skip++; break;
      case 0xca: skip = 4; break;
      case 0xcb: skip = 8; break;
      case 0xcc: case 0xd0: skip = 1; break;
      case 0xcd: case 0xd1: skip = 2; break;
      case 0xce: case 0xd2: skip = 4; break;
      case 0xcf: case 0xd3: skip = 8; break;
      case 0xd4: skip = 2; break;
      case 0xd5: skip = 3; break;
      case 0xd6: skip = 5; break;
      case 0xd7: skip = 9; break;
      case 0xd8: skip = 17; break;
      case 0xdc: NEED(2); pos += be(p + pos, 2, &n); items = n; break;
      case 0xdd: NEED(4); pos += be(p + pos, 4, &n); items = n; break;
      case 0xde: NEED(2); pos += be(p + pos, 2, &n); items = 2 * n; break;
      case 0xdf: NEED(4); pos += be(p + pos, 4, &n); items = 2 * n; break;
      default: return -1; /* 0xc1: never used */
      }
    }
#undef NEED
    if (skip > len - pos) return -1;
    pos += skip;
    pending--;
    if (items > len - pos) return -1; /* more elements than bytes left */
    pending += items;
  }
  return pos == len ? 0 : -1;
}

json_t *sio_mp_decode(const char *buf, size_t len, sio_mp_bins *bins) {
  if (mp_scan((const uint8_t *)buf, len) != 0) return NULL;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  json_t *v = NULL;
  if (msgpack_unpack_next(&u, buf, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len)
    v = sio_mp_to_json(&u.data, bins);
  msgpack_unpacked_destroy(&u);
  return v;
}

int sio_mp_check(const char *buf, size_t len) {
  return mp_scan((const uint8_t *)buf, len);
}
