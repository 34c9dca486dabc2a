/*
 * Random bytes for identifiers (session ids, socket ids, private ids):
 * the kernel's CSPRNG (getrandom), read in batches into a per-thread pool
 * instead of one system call per id. Every byte handed out is erased from
 * the pool; a fork empties the child's pool, so parent and child never
 * share bytes. Not for keys that must never sit in process memory (the
 * pool is plain heap memory of this process).
 */
#ifndef EIO_RAND_H
#define EIO_RAND_H

#include <stddef.h>

/* Fills out with n random bytes (n <= EIO_RAND_POOL: larger requests go
 * straight to getrandom). 0, or -1 when the kernel gives none. */
int eio_rand_bytes(void *out, size_t n);

#define EIO_RAND_POOL 1920

#endif
