/*
 * The handshake request a session keeps, packed: one allocation holding the
 * port, the TLS flag, the header count and the strings (method, target,
 * remote address, then each header's name and value), each NUL-terminated,
 * with no pointers. The public eio_request view (pointer arrays, path and
 * query split) is built from it only when someone asks (eio_socket_request),
 * so an idle socket whose request is never read pays only for the bytes.
 *
 * Ownership: eio_rqp_pack returns a block the caller frees with free();
 * eio_rqp_expand returns one allocation (freed with free()) whose method,
 * url, remote_address and header strings point into the block: the block
 * must outlive it.
 */
#ifndef EIO_REQ_PACK_H
#define EIO_REQ_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "sio/engineio.h"

/* Packs r (its head strings) with the peer's address and port. A string
 * stops at its first NUL byte, as the C strings of the view would. NULL
 * when out of memory. */
char *eio_rqp_pack(const eio_http_request *r, const char *remote_addr,
                   uint16_t remote_port, int secure);
/* The view of a packed block, or NULL when out of memory. */
eio_request *eio_rqp_expand(const char *blk);
/* The remote address in a packed block (no view needed). */
const char *eio_rqp_remote_address(const char *blk);

#endif
