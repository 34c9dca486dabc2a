/*
 * A strict HTTP/1.1 request-head parser and helpers. Pure functions over a
 * buffer (in the manner of picohttpparser): no I/O, no allocation, no
 * globals; results point into the caller's buffer.
 */
#ifndef EIO_HTTP_H
#define EIO_HTTP_H
#include <stddef.h>
#include <stdint.h>

#define EIO_HTTP_INCOMPLETE (-1)  /* need more bytes */
#define EIO_HTTP_BAD (-2)         /* malformed: answer 400 */
#define EIO_HTTP_TOO_LARGE (-3)   /* head over the limits: answer 431 */

typedef struct eio_http_header {
  const char *name;
  size_t name_len;
  const char *value;  /* optional whitespace trimmed at both ends */
  size_t value_len;
} eio_http_header;

typedef struct eio_http_request {
  const char *method;
  size_t method_len;
  const char *target;
  size_t target_len;
  int minor_version;  /* HTTP/1.<minor> */
  eio_http_header *headers;   /* caller's array */
  size_t num_headers;
} eio_http_request;

/*
 * Parses a request head (request line + headers + empty line) at the start
 * of buf. req->headers must point to max_headers entries. Returns the length
 * of the head in bytes (> 0), EIO_HTTP_INCOMPLETE when the head is not all
 * there yet and len < max_head, EIO_HTTP_TOO_LARGE when it would exceed
 * max_head bytes or max_headers headers, or EIO_HTTP_BAD. Lines must end in
 * CRLF; obsolete line folding, control characters and non-token names are
 * refused.
 */
int eio_http_parse_request(const char *buf, size_t len, size_t max_head,
                           eio_http_request *req, size_t max_headers);

/* The first header named name (case-insensitive), or NULL. */
const eio_http_header *eio_http_find(const eio_http_request *req,
                                     const char *name);

/* 1 when the comma-separated header value holds token (case-insensitive). */
int eio_http_has_token(const char *value, size_t len, const char *token);

/* Case-insensitive equality of a counted string with a C string. */
int eio_http_ieq(const char *s, size_t len, const char *lit);

/*
 * Body framing of the request: returns 0 and sets *chunked or *content_length
 * (0 when absent), or EIO_HTTP_BAD for a malformed or conflicting
 * Content-Length / Transfer-Encoding, or -4 for a transfer coding other than
 * chunked (answer 501).
 */
#define EIO_HTTP_UNSUPPORTED (-4)
int eio_http_body_framing(const eio_http_request *req, int *chunked,
                          uint64_t *content_length);

/*
 * Incremental chunked-body decoder. Feed it the bytes after the head; it
 * reports data slices through cb (pointers into buf) and returns the number
 * of bytes consumed (the caller drains that many and calls again when more
 * arrive), with *done set once the last chunk and trailers are read.
 * Returns EIO_HTTP_BAD on malformed framing, EIO_HTTP_TOO_LARGE when the
 * decoded size would pass max_body. Chunk extensions are skipped; trailers
 * are skipped (bounded by max_line).
 */
typedef struct eio_http_chunked {
  int state;
  uint64_t remaining;   /* bytes left in the current chunk */
  uint64_t total;       /* decoded bytes so far */
  size_t line;          /* bytes of the current size or trailer line */
} eio_http_chunked;
typedef void (*eio_http_data_cb)(void *arg, const char *data, size_t len);
long eio_http_chunked_decode(eio_http_chunked *st, const char *buf, size_t len,
                             uint64_t max_body, size_t max_line,
                             eio_http_data_cb cb, void *arg, int *done);

/*
 * Splits a request target into path and query (without '?').
 */
void eio_http_split_target(const char *target, size_t len, const char **path,
                           size_t *path_len, const char **query,
                           size_t *query_len);

/*
 * Finds query parameter name in a raw query string and percent-decodes its
 * value ('+' as space) into out (at most out_size - 1 bytes, NUL-terminated).
 * Returns the decoded length, -1 when absent, -2 when too long for out.
 * When a name repeats, the first occurrence wins.
 */
long eio_http_query_get(const char *query, size_t len, const char *name,
                        char *out, size_t out_size);

/* Percent-decodes in into out (len bytes or more); an invalid escape is
 * kept as it is, as Node's querystring does. Returns the length. */
long eio_http_pct_decode(const char *in, size_t len, char *out, int plus_space);
#endif
