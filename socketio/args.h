/* Private side of sio_args: building from a decoded packet, and moving
 * values (with their binary buffers) between argument lists. */
#ifndef SIO_ARGS_PRIV_H
#define SIO_ARGS_PRIV_H
#include "sio/socketio.h"

struct sio_args {
  unsigned refs;
  json_t *arr;      /* always a JSON array */
  sio_buf **bins;   /* placeholders' "num" index this */
  size_t nbins, cap;
};

/* Wraps arr (stolen) and shares bins (new references). */
sio_args *sio_args_wrap(json_t *arr, sio_buf *const *bins, size_t nbins);
/* Appends a deep copy of v taken from src, carrying the buffers it names
 * over into dst (renumbered). */
int sio_args_push_from(sio_args *dst, const json_t *v, const sio_args *src);
#endif
