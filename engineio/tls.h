/*
 * TLS for the HTTP front door with mbedtls, as a libevent filter
 * bufferevent over the socket's: the connection code above it sees plain
 * bytes. libevent 2.1's own TLS bufferevents are OpenSSL-only, hence this.
 *
 * The filter, BIO and handshake plumbing (and its data path) is
 * engineio/tls_filter.c, shared with the client side of rediss://; this
 * module keeps what is the server's own: certificate, key, ALPN.
 */
#ifndef EIO_TLS_H
#define EIO_TLS_H
#include <event2/bufferevent.h>
#include <stddef.h>

#include "sio/engineio.h"
#include "tls_filter.h"

typedef struct eio_tls_ctx eio_tls_ctx;

/* Loads and checks the certificate chain and key (PEM). Returns NULL with
 * a readable reason in err: unreadable file, bad PEM, wrong password, key
 * not matching the certificate, certificate expired or not yet valid,
 * unsupported minimum version. */
eio_tls_ctx *eio_tls_ctx_new(const eio_tls_options *o, char *err, size_t errlen);
eio_tls_ctx *eio_tls_ctx_ref(eio_tls_ctx *t);
void eio_tls_ctx_unref(eio_tls_ctx *t);

/* Wraps a socket bufferevent (taken over: freed with the result). NULL
 * when out of memory (under is then freed). *st gets the TLS state, for a
 * hand-over to another loop (tls_filter.h). */
struct bufferevent *eio_tls_wrap(eio_tls_ctx *t, struct bufferevent *under,
                                 eio_tls_state **st);
/* On the loop a connection was handed to: continues m's TLS session over
 * under (a socket bufferevent on m->fd) with t's configuration. NULL when
 * out of memory (under and the session are then freed). */
struct bufferevent *eio_tls_adopt(eio_tls_ctx *t, eio_tls_moved *m,
                                  struct bufferevent *under);
#endif
