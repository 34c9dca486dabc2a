/*
 * sio_buf: an immutable, reference-counted byte buffer.
 *
 * A broadcast is encoded once and every recipient's output queue points at
 * the same sio_buf; the bytes are released when the last queue drops them.
 * Threads: a buffer belongs to the event loop thread that made it, and its
 * reference count is a plain integer, until it is marked shared with
 * sio_buf_share (by the sender, before handing it to another loop, say in
 * an eio_server_post task): from then on references are taken and dropped
 * with atomic operations on any thread, and its lazily built caches are
 * published race-free. The bytes never change once shared.
 */
#ifndef SIO_BUF_H
#define SIO_BUF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sio_buf sio_buf;

/* Copies len bytes from data into a new buffer with one reference.
 * Returns NULL when out of memory. data may be NULL when len is 0. */
sio_buf *sio_buf_new(const void *data, size_t len);

/* A new buffer of len uninitialised bytes, writable through
 * sio_buf_mutable() until it is first shared (ref'd or queued). */
sio_buf *sio_buf_alloc(size_t len);
uint8_t *sio_buf_mutable(sio_buf *b);

/* Takes one more reference; returns b. */
sio_buf *sio_buf_ref(sio_buf *b);
/* Drops one reference; frees the buffer on the last one. NULL is a no-op. */
void sio_buf_unref(sio_buf *b);

/* Marks b shared (see above); its derived forms too. Call before a second
 * thread can reach b, on the thread that owns it. NULL is a no-op. */
void sio_buf_share(sio_buf *b);
int sio_buf_is_shared(const sio_buf *b);

const uint8_t *sio_buf_data(const sio_buf *b);
size_t sio_buf_len(const sio_buf *b);

#ifdef __cplusplus
}
#endif
#endif
