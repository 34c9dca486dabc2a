#include "msgpack_parser.h"

#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "notepack.h"

/* JavaScript's Number.isInteger over a decoded value; *v gets it. */
static int js_integer(const json_t *x, double *v) {
  if (json_is_integer(x)) {
    *v = (double)json_integer_value(x);
    return 1;
  }
  if (json_is_real(x)) {
    double d = json_real_value(x);
    if (isfinite(d) && floor(d) == d) {
      *v = d;
      return 1;
    }
  }
  return 0;
}

/* A MessagePack bin value, which the decoder turned into a placeholder:
 * not an "[object Object]" for the parser's checks. */
static int is_bin(const json_t *x, size_t nbins) {
  long long k;
  return nbins && sio_json_is_placeholder(x, &k);
}

/* socket.io-msgpack-parser's isDataValid (d NULL: undefined). */
static int data_valid(int type, const json_t *d, size_t nbins) {
  switch (type) {
  case SIO_PACKET_CONNECT:
    return !d || (json_is_object(d) && !is_bin(d, nbins));
  case SIO_PACKET_DISCONNECT:
    return !d;
  case SIO_PACKET_CONNECT_ERROR:
    return d && (json_is_string(d) || (json_is_object(d) && !is_bin(d, nbins)));
  default:
    return json_is_array(d);
  }
}

/* notepack.io 2.2 writes undefined as fixext 1 of type 0 (d4 00 00). */
static char undefined_tag;
#define UNDEFINED ((json_t *)(void *)&undefined_tag)

/* A decoded value as JSON, as notepack.io 2.2 reads it: undefined is
 * UNDEFINED (dropped from maps, null inside arrays, absent at the top);
 * other values as the Redis adapter's codec reads them (bin values become
 * placeholders into bins). NULL when it cannot be represented. */
static json_t *to_json(const msgpack_object *o, sio_mp_bins *bins) {
  if (o->type == MSGPACK_OBJECT_EXT && o->via.ext.type == 0 && o->via.ext.size == 1)
    return UNDEFINED;
  if (o->type == MSGPACK_OBJECT_ARRAY) {
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < o->via.array.size; i++) {
      json_t *x = to_json(&o->via.array.ptr[i], bins);
      if (x == UNDEFINED) x = json_null();
      if (!x || json_array_append_new(a, x)) {
        json_decref(a);
        return NULL;
      }
    }
    return a;
  }
  if (o->type == MSGPACK_OBJECT_MAP) {
    json_t *m = json_object();
    for (uint32_t i = 0; m && i < o->via.map.size; i++) {
      const msgpack_object *k = &o->via.map.ptr[i].key;
      if (k->type != MSGPACK_OBJECT_STR) goto bad;
      char *key = strndup(k->via.str.size ? k->via.str.ptr : "", k->via.str.size);
      json_t *x = key && strlen(key) == k->via.str.size
                      ? to_json(&o->via.map.ptr[i].val, bins)
                      : NULL;
      if (x == UNDEFINED) {
        json_object_del(m, key ? key : ""); /* later keys win, as in JS */
        free(key);
        continue;
      }
      if (!x || json_object_set_new(m, key, x)) {
        free(key);
        goto bad;
      }
      free(key);
    }
    return m;
  bad:
    json_decref(m);
    return NULL;
  }
  return sio_mp_to_json(o, bins);
}

static json_t *decode_value(const uint8_t *data, size_t len, sio_mp_bins *bins) {
  if (sio_mp_check((const char *)data, len) != 0) return NULL;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  json_t *v = NULL;
  if (msgpack_unpack_next(&u, (const char *)data, len, &off) == MSGPACK_UNPACK_SUCCESS &&
      off == len)
    v = to_json(&u.data, bins);
  msgpack_unpacked_destroy(&u);
  return v == UNDEFINED ? json_null() : v;
}

int sio_mpp_decode(const uint8_t *data, size_t len, const sio_parser_limits *lim,
                   sio_packet *p, const char **err) {
  memset(p, 0, sizeof *p);
  p->id = SIO_NO_ACK;
  sio_mp_bins bins = {0};
  json_t *v = decode_value(data, len, &bins);
  double num;
  int rc = -1;
  if (!v) {
    *err = "Could not parse";
    goto out;
  }
  const json_t *t = json_object_get(v, "type");
  if (!js_integer(t, &num) || num < SIO_PACKET_CONNECT ||
      num > SIO_PACKET_CONNECT_ERROR) {
    *err = "invalid packet type";
    goto out;
  }
  p->type = (int)num;
  const json_t *nsp = json_object_get(v, "nsp");
  if (!json_is_string(nsp)) {
    *err = "invalid namespace";
    goto out;
  }
  size_t nl = json_string_length(nsp);
  if (nl > lim->max_nsp_len) {
    *err = "namespace too long";
    goto out;
  }
  if (strlen(json_string_value(nsp)) != nl) {
    *err = "invalid namespace";
    goto out;
  }
  json_t *d = json_object_get(v, "data");
  if (!data_valid(p->type, d, bins.n)) {
    *err = "invalid payload";
    goto out;
  }
  const json_t *id = json_object_get(v, "id");
  if (id) {
    if (!js_integer(id, &num)) {
      *err = "invalid packet id";
      goto out;
    }
    if (num < 0 || num > (double)SIO_MAX_ACK_ID) {
      *err = "ack id out of range";
      goto out;
    }
    p->id = (long long)num;
  }
  if (!(p->nsp = strdup(json_string_value(nsp)))) {
    *err = "out of memory";
    goto out;
  }
  p->data = d ? json_incref(d) : NULL;
  p->bins = bins.v;
  p->nbins = bins.n;
  memset(&bins, 0, sizeof bins);
  rc = 0;
out:
  json_decref(v);
  sio_mp_bins_clear(&bins);
  if (rc) sio_packet_clear(p);
  return rc;
}

static int pack_key(msgpack_packer *pk, const char *k) {
  size_t n = strlen(k);
  return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, k, n);
}

int sio_mpp_encode(const sio_packet *p, sio_encoded *out) {
  memset(out, 0, sizeof *out);
  int type = p->type;
  if (type == SIO_PACKET_BINARY_EVENT) type = SIO_PACKET_EVENT;
  else if (type == SIO_PACKET_BINARY_ACK) type = SIO_PACKET_ACK;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  const char *nsp = p->nsp ? p->nsp : "/";
  /* The key order of Node's packet objects: type, data, id, then nsp
   * (added last by socket.packet). */
  int rc = msgpack_pack_map(&pk, 2 + (p->data != NULL) + (p->id >= 0)) ||
           pack_key(&pk, "type") || msgpack_pack_int(&pk, type);
  if (!rc && p->data)
    rc = pack_key(&pk, "data") || sio_mp_pack(&pk, p->data, p->bins, p->nbins);
  if (!rc && p->id >= 0) rc = pack_key(&pk, "id") || msgpack_pack_int64(&pk, p->id);
  if (!rc)
    rc = pack_key(&pk, "nsp") || msgpack_pack_str(&pk, strlen(nsp)) ||
         msgpack_pack_str_body(&pk, nsp, strlen(nsp));
  if (!rc) {
    out->head = sio_buf_new(sb.data, sb.size);
    out->head_binary = 1;
    if (!out->head) rc = -1;
  }
  msgpack_sbuffer_destroy(&sb);
  return rc ? -1 : 0;
}

/* -------------------------------------------------- the parser object */

static int mpp_encode(const sio_parser *self, const sio_packet *p, sio_encoded *out) {
  (void)self;
  return sio_mpp_encode(p, out);
}

static void *mpp_decoder_new(const sio_parser *self, const sio_parser_limits *lim) {
  (void)self;
  sio_parser_limits *l = malloc(sizeof *l);
  if (l) *l = *lim;
  return l;
}

static int mpp_decode(void *dec, const uint8_t *data, size_t len, int binary,
                      sio_packet *out, const char **err) {
  if (!binary) {
    /* notepack.decode of a string cannot parse it. */
    *err = "Could not parse";
    return -1;
  }
  return sio_mpp_decode(data, len, dec, out, err) == 0 ? 1 : -1;
}

static void mpp_decoder_free(void *dec) { free(dec); }

const sio_parser sio_parser_msgpack = {"socket.io-msgpack-parser", mpp_encode,
                                       mpp_decoder_new, mpp_decode,
                                       mpp_decoder_free, NULL};
