/*
 * Compression with zlib: HTTP compression of long-polling responses (Node
 * engine.io's httpCompression) and permessage-deflate on WebSocket
 * (RFC 7692, as the ws package negotiates it for engine.io's
 * perMessageDeflate).
 *
 * Three parts:
 * - pure parsers over buffers (no allocation, no I/O): the Accept-Encoding
 *   choice (negotiator's rules, as `accepts` applies them) and the
 *   Sec-WebSocket-Extensions negotiation;
 * - eio_deflater: the compressor of one server (one event loop). The server
 *   always compresses a WebSocket message on its own (it answers
 *   server_no_context_takeover), so the compressed form depends only on the
 *   message and is cached on its sio_buf: a broadcast is compressed once,
 *   not once per recipient, and the z_streams are the server's, not each
 *   connection's;
 * - eio_inflater: one WebSocket connection's decompressor (the client may
 *   keep its context across messages), with the inflated size bounded and
 *   checked as the output grows.
 */
#ifndef EIO_DEFLATE_H
#define EIO_DEFLATE_H
#include <stddef.h>
#include <stdint.h>

#include "sio/buf.h"
#include "sio/engineio.h"

/* ------------------------------------------------------ Accept-Encoding */

enum { EIO_ENC_IDENTITY = 0, EIO_ENC_GZIP = 1, EIO_ENC_DEFLATE = 2 };

/*
 * Chooses between gzip and deflate for an Accept-Encoding value (v may be
 * NULL: no header), with the rules of the negotiator package that engine.io
 * uses: the highest q wins, then an exact name over "*", then the earlier
 * entry in the header, then gzip. Returns EIO_ENC_*; IDENTITY when neither
 * is acceptable.
 */
int eio_accept_encoding(const char *v, size_t len);

/* ------------------------------------------------ permessage-deflate */

/* What was agreed for one connection. */
typedef struct eio_pmd_params {
  uint8_t server_window_bits;   /* the server compresses within this (8..15) */
  uint8_t announce_server_bits; /* server_max_window_bits=N in the answer */
  uint8_t client_window_bits;   /* 0: not in the answer; else 8..15 */
  uint8_t client_no_context_takeover;
} eio_pmd_params;

enum {
  EIO_PMD_NONE = 0,     /* no permessage-deflate offer: plain WebSocket */
  EIO_PMD_ACCEPTED = 1, /* *out filled */
  EIO_PMD_INVALID = -1, /* bad syntax, bad parameter, or no acceptable
                           offer: 400 "Invalid or unacceptable
                           Sec-WebSocket-Extensions header" (ws) */
};

/*
 * Negotiates permessage-deflate from the Sec-WebSocket-Extensions value
 * (several header lines joined by ", "), with ws's rules: the first
 * acceptable offer wins; an offer is refused when the options require
 * something it does not allow (server_max_window_bits below the option,
 * client_max_window_bits option and no client_max_window_bits offered).
 * Unknown extensions are skipped; unknown or repeated parameters and bad
 * values make the whole header invalid. The answer always carries
 * server_no_context_takeover (RFC 7692 7.1.1.1 lets the server say it
 * unasked), which is what makes compress-once possible.
 */
int eio_pmd_negotiate(const char *v, size_t len,
                      const eio_per_message_deflate *opts,
                      eio_pmd_params *out);

/* Writes "Sec-WebSocket-Extensions: permessage-deflate; ...\r\n" into out
 * (NUL-terminated); returns its length, or 0 if it does not fit (n >= 160
 * always fits). */
size_t eio_pmd_format(const eio_pmd_params *p, char *out, size_t n);

/* ----------------------------------------------------------- compressor */

typedef struct eio_deflater eio_deflater;

/* level: zlib level (-1: Z_DEFAULT_COMPRESSION, Node's default). NULL when
 * out of memory. The z_streams are created on first use. */
eio_deflater *eio_deflater_new(int level);
void eio_deflater_free(eio_deflater *d);

/*
 * The permessage-deflate payload of the WebSocket message prefix + data
 * (prefix is the Engine.IO type character, 0 for none), compressed on its
 * own within 2^window_bits, the 0x00 0x00 0xff 0xff tail removed
 * (RFC 7692 7.2.1). Cached on data: the next call for the same message and
 * window is a lookup. Returns a new reference, or NULL when out of memory.
 */
sio_buf *eio_deflate_ws(eio_deflater *d, sio_buf *data, uint8_t prefix,
                        int window_bits);

/* The gzip (EIO_ENC_GZIP) or zlib (EIO_ENC_DEFLATE) form of the n byte
 * ranges, as Node's zlib.createGzip / createDeflate make them. A new buffer
 * (one reference), or NULL when out of memory. */
typedef struct eio_chunk {
  const void *data;
  size_t len;
} eio_chunk;
sio_buf *eio_deflate_http(eio_deflater *d, int encoding, const eio_chunk *c,
                          size_t n);

/* Same as eio_deflate_http for a body made of one prefix character and the
 * bytes of data (or, with b64 set, its base64 form): the shape of a polling
 * response that carries one message, so a broadcast to polling clients is
 * compressed once. Cached on data. */
sio_buf *eio_deflate_http_one(eio_deflater *d, int encoding, sio_buf *data,
                              uint8_t prefix, int b64);

/* --------------------------------------------------------- decompressor */

typedef struct eio_inflater eio_inflater;

enum {
  EIO_INFLATE_OK = 0,
  EIO_INFLATE_TOO_BIG = -1, /* more than max bytes: close 1009 */
  EIO_INFLATE_BAD = -2,     /* not a valid deflate stream: close 1007 */
  EIO_INFLATE_NOMEM = -3,   /* close 1011 */
};

/* NULL when out of memory. The zlib state is made on first use and, with
 * no_context_takeover, dropped after every message (an idle connection then
 * holds no window). */
eio_inflater *eio_inflater_new(int no_context_takeover);
void eio_inflater_free(eio_inflater *z);

/*
 * Inflates one compressed message (in[0..len), without its tail, which is
 * added here). The output grows in steps and the bound is checked at each
 * step: more than max bytes stops at once with EIO_INFLATE_TOO_BIG. On
 * success *out is a malloc'd buffer the caller frees (NULL when *out_len is
 * 0). After an error the inflater must not be used again.
 */
int eio_inflate_message(eio_inflater *z, const uint8_t *in, size_t len,
                        size_t max, uint8_t **out, size_t *out_len);
#endif
