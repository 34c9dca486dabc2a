#include "args.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

sio_args *sio_args_wrap(json_t *arr, sio_buf *const *bins, size_t nbins) {
  if (!json_is_array(arr)) {
    json_decref(arr);
    return NULL;
  }
  sio_args *a = calloc(1, sizeof *a);
  if (!a) {
    json_decref(arr);
    return NULL;
  }
  a->refs = 1;
  a->arr = arr;
  if (nbins) {
    a->bins = malloc(nbins * sizeof *a->bins);
    if (!a->bins) {
      json_decref(arr);
      free(a);
      return NULL;
    }
    for (size_t i = 0; i < nbins; i++) a->bins[i] = sio_buf_ref(bins[i]);
    a->nbins = a->cap = nbins;
  }
  return a;
}

sio_args *sio_args_new(void) { return sio_args_wrap(json_array(), NULL, 0); }

sio_args *sio_args_from_json(json_t *array) {
  return sio_args_wrap(array, NULL, 0);
}

int sio_args_push(sio_args *a, json_t *v) {
  if (!v) return SIO_ERR_INVALID;
  return json_array_append_new(a->arr, v) == 0 ? SIO_OK : SIO_ERR_NOMEM;
}

static long add_buf(sio_args *a, sio_buf *b) {
  if (a->nbins == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 2;
    sio_buf **nb = realloc(a->bins, nc * sizeof *nb);
    if (!nb) return -1;
    a->bins = nb;
    a->cap = nc;
  }
  a->bins[a->nbins] = sio_buf_ref(b);
  return (long)a->nbins++;
}

json_t *sio_args_binary_buf(sio_args *a, sio_buf *buf) {
  long k = add_buf(a, buf);
  if (k < 0) return NULL;
  return json_pack("{s:b,s:I}", "_placeholder", 1, "num", (json_int_t)k);
}

json_t *sio_args_binary(sio_args *a, const void *data, size_t len) {
  sio_buf *b = sio_buf_new(data, len);
  if (!b) return NULL;
  json_t *v = sio_args_binary_buf(a, b);
  sio_buf_unref(b);
  return v;
}

int sio_args_push_binary(sio_args *a, const void *data, size_t len) {
  return sio_args_push(a, sio_args_binary(a, data, len));
}

size_t sio_args_count(const sio_args *a) { return json_array_size(a->arr); }
json_t *sio_args_get(const sio_args *a, size_t i) { return json_array_get(a->arr, i); }
json_t *sio_args_json(const sio_args *a) { return a->arr; }

sio_buf *sio_args_get_buf(const sio_args *a, const json_t *v) {
  long long k;
  if (sio_json_is_placeholder(v, &k) && k >= 0 && (size_t)k < a->nbins)
    return a->bins[k];
  return NULL;
}

int sio_args_get_binary(const sio_args *a, const json_t *v,
                        const uint8_t **data, size_t *len) {
  sio_buf *b = sio_args_get_buf(a, v);
  if (!b) return 0;
  *data = sio_buf_data(b);
  *len = sio_buf_len(b);
  return 1;
}

sio_args *sio_args_ref(sio_args *a) {
  a->refs++;
  return a;
}

void sio_args_unref(sio_args *a) {
  if (!a || --a->refs) return;
  json_decref(a->arr);
  for (size_t i = 0; i < a->nbins; i++) sio_buf_unref(a->bins[i]);
  free(a->bins);
  free(a);
}

/* Deep copy of v; placeholders of src become placeholders of dst. */
static json_t *import(sio_args *dst, const json_t *v, const sio_args *src) {
  sio_buf *b = src ? sio_args_get_buf(src, v) : NULL;
  if (b) return sio_args_binary_buf(dst, b);
  if (json_is_array(v)) {
    json_t *out = json_array();
    for (size_t i = 0; out && i < json_array_size(v); i++)
      json_array_append_new(out, import(dst, json_array_get(v, i), src));
    return out;
  }
  if (json_is_object(v)) {
    json_t *out = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) json_object_set_new(out, k, import(dst, x, src));
    return out;
  }
  return json_deep_copy(v);
}

json_t *sio_args_import(sio_args *dst, const sio_args *src, const json_t *v) {
  return import(dst, v ? v : json_null(), src);
}

int sio_args_push_from(sio_args *dst, const json_t *v, const sio_args *src) {
  return sio_args_push(dst, import(dst, v ? v : json_null(), src));
}

sio_args *sio_args_copy(const sio_args *a) {
  sio_args *c = sio_args_new();
  if (!c) return NULL;
  for (size_t i = 0; i < sio_args_count(a); i++)
    sio_args_push_from(c, sio_args_get(a, i), a);
  return c;
}
