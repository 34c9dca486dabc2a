/*
 * socket.io-msgpack-parser 3.0 (Node's parser option set to
 * require("socket.io-msgpack-parser")): every packet is one binary
 * Engine.IO message holding a MessagePack map {type, data, id, nsp}
 * written by notepack.io; binary arguments are MessagePack bin values in
 * place, so there are no attachments and no BINARY_* types. The decoder
 * does that parser's checks (type 0..4, nsp a string, data by type, id an
 * integer) on top of this library's limits. Pure functions over buffers.
 */
#ifndef SIO_MSGPACK_PARSER_H
#define SIO_MSGPACK_PARSER_H
#include <stddef.h>
#include <stdint.h>

#include "sio/parser.h"

/*
 * Decodes one message into p (zeroed first). Returns 0, or -1 with *err a
 * static reason; binary values become placeholders into p->bins.
 * Beyond Node: a namespace longer than lim->max_nsp_len, a negative or
 * unsafe (> 2^53 - 1) ack id, a map key that is not a string and a string
 * that is not UTF-8 are refused.
 */
int sio_mpp_decode(const uint8_t *data, size_t len, const sio_parser_limits *lim,
                   sio_packet *p, const char **err);

/* Encodes p as one binary message (out->head). 0 or -1 (out of memory). */
int sio_mpp_encode(const sio_packet *p, sio_encoded *out);
#endif
