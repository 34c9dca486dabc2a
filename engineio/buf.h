/* Private side of sio_buf: the lazily built base64 form used by polling,
 * and the compressed forms. */
#ifndef EIO_BUF_PRIV_H
#define EIO_BUF_PRIV_H
#include "sio/buf.h"

/* Returns the standard base64 (with padding) of the buffer, computed on the
 * first call and cached on the buffer, so a binary broadcast to many polling
 * clients is encoded once. NULL when out of memory. *len gets its length. */
const char *sio_buf_base64(sio_buf *b, size_t *len);

/* Other derived forms (the compressed ones of deflate.c), cached on the
 * buffer under a key and released with it. sio_buf_derived returns a
 * borrowed pointer or NULL; sio_buf_set_derived takes its own reference to
 * form and returns 0, or -1 when out of memory (nothing is cached). */
sio_buf *sio_buf_derived(const sio_buf *b, uint32_t key);
int sio_buf_set_derived(sio_buf *b, uint32_t key, sio_buf *form);
/* The buffer's length as a JavaScript string (UTF-16 code units of its
 * UTF-8 text), computed once and cached: Engine.IO v3 text payloads count
 * in these units. */
size_t sio_buf_utf16_len(sio_buf *b);
#endif
