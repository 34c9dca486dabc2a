/*
 * MessagePack as @socket.io/redis-adapter (notepack.io 3) writes and reads
 * it, for JSON values whose binary parts are placeholders into a buffer
 * list (the sio_args form). Encoding matches notepack byte for byte:
 * smallest integer widths, float64 for non-integers, str8+ for strings,
 * bin for binary. Decoding accepts any valid MessagePack, plus notepack 2
 * leftovers (ext 0 = binary), timestamps (ext -1 -> ISO-8601 string).
 */
#ifndef SIO_NOTEPACK_H
#define SIO_NOTEPACK_H
#include <jansson.h>
#include <msgpack.h>

#include "sio/buf.h"

/* Writes v; placeholders {"_placeholder":true,"num":k} with k < nbins
 * become bin values. Returns 0 or -1. */
int sio_mp_pack(msgpack_packer *pk, const json_t *v, sio_buf *const *bins,
                size_t nbins);

/* A list of buffers collected while decoding. */
typedef struct sio_mp_bins {
  sio_buf **v;
  size_t n, cap;
} sio_mp_bins;
void sio_mp_bins_clear(sio_mp_bins *b);

/* Converts a decoded object to JSON; bin values are appended to bins and
 * replaced by placeholders. NULL when the object cannot be represented
 * (non-string map key, invalid UTF-8, out of memory). */
json_t *sio_mp_to_json(const msgpack_object *o, sio_mp_bins *bins);

/* 0 when buf holds exactly one well-formed value whose declared counts
 * and lengths fit in it (what the unpacker allocates stays proportional
 * to len); -1 otherwise. */
int sio_mp_check(const char *buf, size_t len);

/* Decodes exactly one value from buf (trailing bytes are an error). */
json_t *sio_mp_decode(const char *buf, size_t len, sio_mp_bins *bins);
#endif
