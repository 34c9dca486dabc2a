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

struct sio_buf {
  unsigned refs;
  size_t len;
  char *b64;      /* cached base64 form, built on demand */
  size_t b64_len;
  derived *forms; /* cached compressed forms (deflate.c) */
  size_t u16_len;   /* cached UTF-16 length + 1; 0: not computed yet */
  uint8_t data[];
};

sio_buf *sio_buf_alloc(size_t len) {
  if (len > SIZE_MAX - sizeof(sio_buf)) return NULL;
  sio_buf *b = malloc(sizeof(*b) + len);
  if (!b) return NULL;
  b->refs = 1;
  b->len = len;
  b->b64 = NULL;
  b->b64_len = 0;
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
  b->refs++;
  return b;
}

void sio_buf_unref(sio_buf *b) {
  if (!b) return;
  if (--b->refs == 0) {
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
  if (!b->b64) {
    size_t n = eio_base64_encoded_len(b->len);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    eio_base64_encode(b->data, b->len, s);
    s[n] = '\0';
    b->b64 = s;
    b->b64_len = n;
  }
  *len = b->b64_len;
  return b->b64;
}

sio_buf *sio_buf_derived(const sio_buf *b, uint32_t key) {
  for (derived *d = b->forms; d; d = d->next)
    if (d->key == key) return d->form;
  return NULL;
}

int sio_buf_set_derived(sio_buf *b, uint32_t key, sio_buf *form) {
  derived *d = malloc(sizeof *d);
  if (!d) return -1;
  d->key = key;
  d->form = sio_buf_ref(form);
  d->next = b->forms;
  b->forms = d;
  return 0;
}

size_t sio_buf_utf16_len(sio_buf *b) {
  if (!b->u16_len) b->u16_len = eio_v3_utf16_len(b->data, b->len) + 1;
  return b->u16_len - 1;
}
