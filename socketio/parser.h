/*
 * Socket.IO v5 packet codec (socket.io-parser 4.2 semantics): decoding of
 * the text part with Node's validation, binary reconstruction, and the
 * encoder. No I/O; the event loop is never named here.
 */
#ifndef SIO_PARSER_H
#define SIO_PARSER_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "sio/buf.h"
#include "sio/parser.h"

/* The "/" a decoded packet's nsp points to when it names no namespace:
 * shared, never written nor freed (sio_packet_clear skips it). */
extern char sio_root_nsp[];

/*
 * Decodes the text of one packet into p. Returns 0, or -1 with *err set to
 * a static reason (Node's error, or ours for a limit). On success with a
 * binary type, p->attachments buffers must follow (sio_packet_add_binary).
 */
int sio_packet_decode(const char *s, size_t len, const sio_parser_limits *lim,
                      sio_packet *p, const char **err);

/*
 * Adds one received binary buffer (a reference is taken). Returns 1 when
 * the packet is now complete (placeholders validated: every placeholder's
 * num in [0, attachments)), 0 when more are awaited, -1 on a bad
 * placeholder.
 */
int sio_packet_add_binary(sio_packet *p, sio_buf *b, const char **err);

/* 1 for the event names a server must not emit nor accept. */
int sio_reserved_event(const char *name);

/*
 * Encodes a packet: the text part goes to out; the binary attachments, if
 * data holds placeholders into bins, are returned (references) in
 * *att / *n_att in wire order, and the type becomes BINARY_EVENT/ACK.
 * type must be EVENT, ACK, CONNECT, CONNECT_ERROR or DISCONNECT.
 * Returns 0 or -1 (out of memory).
 */
int sio_packet_encode(int type, const char *nsp, long long id,
                      const json_t *data, sio_buf *const *bins, size_t nbins,
                      struct evbuffer *out, sio_buf ***att, size_t *n_att);
#endif
