/*
 * Engine.IO v3 long-polling bodies (Node's allowEIO3): the encoding of a
 * session's queued packets as a v3 payload, sharing the queued bytes.
 */
#ifndef EIO_POLLING_V3_H
#define EIO_POLLING_V3_H
#include "internal.h"

/*
 * Appends the v3 payload of the packets from head (and a close packet when
 * add_close) to out. The packet bytes are added by reference (their sio_buf
 * stays alive until out lets go); only the record headers are written.
 * With supports_binary (the client did not ask b64=1) and a binary packet
 * in the list, the payload is binary (application/octet-stream); otherwise
 * text, binary packets as "b4<base64>" (base64 cached on the buffer).
 * Returns 1 for a binary payload, 0 for text, -1 when out of memory.
 */
int eio_polling_v3_encode(const eio_qpkt *head, struct evbuffer *out,
                          int add_close, int supports_binary);
#endif
