/*
 * Socket.IO parsers (Node's `parser` server option): how a Socket.IO packet
 * becomes one or more Engine.IO messages, and how the messages of one
 * connection become packets again.
 *
 * Two are built in:
 * - sio_parser_default: socket.io-parser 4.2 (text packets, binary
 *   arguments as attachments that follow in binary messages);
 * - sio_parser_msgpack: socket.io-msgpack-parser 3 (each packet is one
 *   binary message, a MessagePack map {type, data, id, nsp}; binary
 *   arguments are MessagePack bin values in place).
 * Select one with sio_options.parser; a client must use the same one.
 * A custom parser fills a sio_parser with its own functions.
 *
 * Packets are parser-neutral: data is JSON (jansson) whose binary values
 * are placeholders {"_placeholder":true,"num":N} into bins, the form
 * sio_args uses. A parser turns bins into its own wire form and back.
 *
 * Threading: a parser's functions run on the server's loop thread; the
 * sio_parser itself is read-only once handed to sio_server_new and must
 * outlive the server.
 */
#ifndef SIO_PARSER_API_H
#define SIO_PARSER_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sio/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sio_packet_type {
  SIO_PACKET_CONNECT = 0,
  SIO_PACKET_DISCONNECT = 1,
  SIO_PACKET_EVENT = 2,
  SIO_PACKET_ACK = 3,
  SIO_PACKET_CONNECT_ERROR = 4,
  SIO_PACKET_BINARY_EVENT = 5,
  SIO_PACKET_BINARY_ACK = 6,
};

#define SIO_NO_ACK (-1LL)
/* Ack ids are kept within JavaScript's safe integers (2^53 - 1). */
#define SIO_MAX_ACK_ID 9007199254740991LL

typedef struct sio_packet {
  int type;             /* enum sio_packet_type */
  char *nsp;            /* owned, NUL-terminated, "/" when absent */
  long long id;         /* SIO_NO_ACK when absent */
  json_t *data;         /* owned; NULL when absent */
  size_t attachments;   /* default parser, binary types: buffers announced */
  sio_buf **bins;       /* owned references; placeholders index this */
  size_t nbins;
} sio_packet;

/* Frees what p owns (p itself is the caller's) and resets it. */
void sio_packet_clear(sio_packet *p);

/* Bounds on what a decoder accepts, from sio_options. */
typedef struct sio_parser_limits {
  size_t max_attachments; /* 10, as socket.io-parser */
  size_t max_nsp_len;     /* 1024 */
} sio_parser_limits;

/* The Engine.IO messages of one encoded packet: a first message (text or
 * binary), then zero or more binary messages. All references are owned by
 * the structure; sio_encoded_clear drops them. */
typedef struct sio_encoded {
  sio_buf *head;
  int head_binary;      /* 1: head goes as a binary message, 0: as text */
  sio_buf **att;        /* binary messages that follow head (malloc'd) */
  size_t natt;
} sio_encoded;

void sio_encoded_clear(sio_encoded *e);

typedef struct sio_parser sio_parser;
struct sio_parser {
  const char *name;
  /*
   * Encodes p (type EVENT, ACK, CONNECT, CONNECT_ERROR or DISCONNECT; data
   * with placeholders into p->bins) into out, which starts zeroed.
   * Returns 0, or -1 (out of memory; out is left empty). The server
   * encodes a broadcast once and shares out's buffers between recipients.
   */
  int (*encode)(const sio_parser *self, const sio_packet *p, sio_encoded *out);
  /*
   * Per-connection decoding state (lim is copied). NULL when out of
   * memory: the connection is then closed.
   */
  void *(*decoder_new)(const sio_parser *self, const sio_parser_limits *lim);
  /*
   * Feeds one Engine.IO message (bytes valid during the call only).
   * Returns 1 when *out now holds a complete packet (the caller owns it
   * and clears it), 0 when the packet needs more messages, -1 on bad
   * input with *err set to a static reason: the server then closes the
   * connection as Node does on a decode error. out starts zeroed.
   */
  int (*decode)(void *decoder, const uint8_t *data, size_t len, int binary,
                sio_packet *out, const char **err);
  void (*decoder_free)(void *decoder);
  void *user_data;      /* for custom parsers */
};

/* socket.io-parser 4.2 (the default when sio_options.parser is NULL). */
extern const sio_parser sio_parser_default;
/* socket.io-msgpack-parser 3.0. */
extern const sio_parser sio_parser_msgpack;

#ifdef __cplusplus
}
#endif
#endif
