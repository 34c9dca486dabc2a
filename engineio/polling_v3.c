#include "polling_v3.h"

#include "buf.h"
#include "packet_v3.h"

static void unref_cleanup(const void *data, size_t len, void *arg) {
  (void)data;
  (void)len;
  sio_buf_unref(arg);
}

static int add_shared(struct evbuffer *out, sio_buf *b, const void *bytes,
                      size_t n) {
  if (!n) return 0;
  sio_buf_ref(b);
  if (evbuffer_add_reference(out, bytes, n, unref_cleanup, b) != 0) {
    sio_buf_unref(b);
    return -1;
  }
  return 0;
}

static int encode_binary(const eio_qpkt *head, struct evbuffer *out,
                         int add_close) {
  uint8_t h[EIO_V3_MAX_HEADER + 1];
  for (const eio_qpkt *p = head; p; p = p->next) {
    size_t n = p->data ? sio_buf_len(p->data) : 0;
    size_t k = eio_v3_binary_header(h, p->binary, n + 1);
    h[k++] = p->binary ? p->type : (uint8_t)('0' + p->type);
    if (evbuffer_add(out, h, k) != 0) return -1;
    if (p->data && add_shared(out, p->data, sio_buf_data(p->data), n) != 0)
      return -1;
  }
  if (add_close) {
    static const uint8_t c[] = {0, 1, 0xFF, '1'};
    if (evbuffer_add(out, c, sizeof c) != 0) return -1;
  }
  return 1;
}

int eio_polling_v3_encode(const eio_qpkt *head, struct evbuffer *out,
                          int add_close, int supports_binary) {
  if (supports_binary)
    for (const eio_qpkt *p = head; p; p = p->next)
      if (p->binary) return encode_binary(head, out, add_close);
  char h[EIO_V3_MAX_HEADER + 2];
  for (const eio_qpkt *p = head; p; p = p->next) {
    size_t k;
    if (p->binary) {
      size_t n;
      const char *b64 = sio_buf_base64(p->data, &n);
      if (!b64) return -1;
      k = eio_v3_text_header(h, n + 2);
      h[k++] = 'b';
      h[k++] = (char)('0' + p->type);
      if (evbuffer_add(out, h, k) != 0 || add_shared(out, p->data, b64, n) != 0)
        return -1;
    } else {
      size_t n = p->data ? sio_buf_len(p->data) : 0;
      k = eio_v3_text_header(h, (p->data ? sio_buf_utf16_len(p->data) : 0) + 1);
      h[k++] = (char)('0' + p->type);
      if (evbuffer_add(out, h, k) != 0) return -1;
      if (p->data && add_shared(out, p->data, sio_buf_data(p->data), n) != 0)
        return -1;
    }
  }
  if (add_close && evbuffer_add(out, "1:1", 3) != 0) return -1;
  return 0;
}
