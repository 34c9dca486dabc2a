#include "buf.h"
#include "base64.h"
#include "packet_v3.h"

#include <stdlib.h>
#include <string.h>

typedef struct derived {
  struct derived *next;
  uint32_t key;
  sio_buf *form;
} derived;

/* The lazy caches are published with compare-and-swap (a shared buffer
 * may fill them on two loops at once: the loser frees its copy), so their
 * fields are read and written with __atomic builtins. */
struct sio_buf {
  unsigned refs;  /* plain until shared; then only atomic operations */
  unsigned char shared;
  size_t len;
  char *b64;      /* cached base64 form, built on demand */
  derived *forms; /* cached compressed forms (deflate.c), a push-only list */
  size_t u16_len;   /* cached UTF-16 length + 1; 0: not computed yet */
  uint8_t data[];
};

sio_buf *sio_buf_alloc(size_t len) {
  if (len > SIZE_MAX - sizeof(sio_buf)) return NULL;
  sio_buf *b = malloc(sizeof(*b) + len);
  if (!b) return NULL;
  b->refs = 1;
  b->shared = 0;
  b->len = len;
  b->b64 = NULL;
  b->forms = NULL;
  b->u16_len = 0;
  return b;
}

sio_buf *sio_buf_new(const void *data, size_t len) {
  sio_buf *b = sio_buf_alloc(len);
  if (b && len) memcpy(b->data, data, len);
  return b;
}

uint8_t *sio_buf_mutable(sio_buf *b) { return b->data; }

sio_buf *sio_buf_ref(sio_buf *b) {
  if (b->shared) __atomic_fetch_add(&b->refs, 1, __ATOMIC_RELAXED);
  else b->refs++;
  return b;
}

void sio_buf_share(sio_buf *b) {
  if (!b || b->shared) return;
  b->shared = 1;
  for (derived *d = __atomic_load_n(&b->forms, __ATOMIC_ACQUIRE); d; d = d->next)
    sio_buf_share(d->form);
}

int sio_buf_is_shared(const sio_buf *b) { return b->shared; }

void sio_buf_unref(sio_buf *b) {
  if (!b) return;
  unsigned left;
  if (b->shared) left = __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL);
  else left = --b->refs;
  if (left == 0) {
    free(b->b64);
    for (derived *d = b->forms, *n; d; d = n) {
      n = d->next;
      sio_buf_unref(d->form);
      free(d);
    }
    free(b);
  }
}

const uint8_t *sio_buf_data(const sio_buf *b) { return b->data; }
size_t sio_buf_len(const sio_buf *b) { return b->len; }

const char *sio_buf_base64(sio_buf *b, size_t *len) {
  size_t n = eio_base64_encoded_len(b->len);
  char *cur = __atomic_load_n(&b->b64, __ATOMIC_ACQUIRE);
  if (!cur) {
    char *s = malloc(n + 1);
    if (!s) return NULL;
    eio_base64_encode(b->data, b->len, s);
    s[n] = '\0';
    if (__atomic_compare_exchange_n(&b->b64, &cur, s, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
      cur = s;
    else
      free(s); /* another loop published it first: cur is theirs */
  }
  *len = n;
  return cur;
}

sio_buf *sio_buf_derived(const sio_buf *b, uint32_t key) {
  for (derived *d = __atomic_load_n(&b->forms, __ATOMIC_ACQUIRE); d; d = d->next)
    if (d->key == key) return d->form;
  return NULL;
}

int sio_buf_set_derived(sio_buf *b, uint32_t key, sio_buf *form) {
  derived *d = malloc(sizeof *d);
  if (!d) return -1;
  d->key = key;
  if (b->shared) sio_buf_share(form); /* other loops will reach it */
  d->form = sio_buf_ref(form);
  /* Pushed at the head; two loops adding the same key both succeed and
   * lookups find the newer: equal bytes either way. */
  d->next = __atomic_load_n(&b->forms, __ATOMIC_ACQUIRE);
  while (!__atomic_compare_exchange_n(&b->forms, &d->next, d, 1,
                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
  }
  return 0;
}

size_t sio_buf_utf16_len(sio_buf *b) {
  size_t v = __atomic_load_n(&b->u16_len, __ATOMIC_RELAXED);
  if (!v) {
    v = eio_v3_utf16_len(b->data, b->len) + 1;
    __atomic_store_n(&b->u16_len, v, __ATOMIC_RELAXED);
  }
  return v - 1;
}
