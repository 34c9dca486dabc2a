/* Private side of sio_buf: the lazily built base64 form used by polling. */
#ifndef EIO_BUF_PRIV_H
#define EIO_BUF_PRIV_H
#include "sio/buf.h"

/* Returns the standard base64 (with padding) of the buffer, computed on the
 * first call and cached on the buffer, so a binary broadcast to many polling
 * clients is encoded once. NULL when out of memory. *len gets its length. */
const char *sio_buf_base64(sio_buf *b, size_t *len);
/* The buffer's length as a JavaScript string (UTF-16 code units of its
 * UTF-8 text), computed once and cached: Engine.IO v3 text payloads count
 * in these units. */
size_t sio_buf_utf16_len(sio_buf *b);
#endif
