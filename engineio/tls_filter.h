/*
 * The mbedtls <-> libevent plumbing shared by both ends of TLS: a filter
 * bufferevent over a socket bufferevent, the mbedtls BIO callbacks on the
 * socket's buffers, the handshake, and record reading and writing. The
 * role-specific parts stay with their owners: engineio/tls.c (the server
 * side of the HTTP front door: certificate and key, ALPN) and
 * adapter/redis_tls.c (the client side of rediss://: CA, SNI, the IP SAN
 * check, error reasons, the CONNECTED event).
 *
 * It lives in engineio/ because the layering lets adapter/ use engineio's
 * helpers (as it uses engineio/map.h) and never the other way round; it
 * knows nothing of HTTP or Redis.
 *
 * Data path: incoming records are read by mbedtls straight from the socket
 * bufferevent's input and decrypted into space reserved in the filter's
 * input (no intermediate buffer); outgoing plaintext is handed to mbedtls
 * chunk by chunk from the evbuffer's own memory (evbuffer_peek, so shared
 * broadcast buffers are not linearised), and each record goes once into
 * the socket's output.
 */
#ifndef EIO_TLS_FILTER_H
#define EIO_TLS_FILTER_H
#include <event2/bufferevent.h>
#include <mbedtls/ssl.h>
#include <stddef.h>
#include <stdint.h>

/* What differs between the roles. Every hook may be NULL. arg is the
 * role's own per-connection state, handed to eio_tls_filter_new. */
typedef struct eio_tls_filter_role {
  /* The client speaks first: the handshake starts in eio_tls_filter_new
   * (the ClientHello goes out at once) instead of at the first bytes in. */
  int starts_handshake;
  /* Called once mbedtls_ssl_setup has run, before any byte moves (SNI,
   * verify callbacks). Nonzero fails eio_tls_filter_new. */
  int (*setup)(void *arg, mbedtls_ssl_context *ssl);
  /* The handshake is done; plaintext queued before it has gone out. */
  void (*handshake_done)(void *arg, struct bufferevent *filter);
  /* The handshake failed with mbedtls code rc (not TLS, bad hello, no
   * shared cipher, certificate rejected, ...). */
  void (*handshake_failed)(void *arg, mbedtls_ssl_context *ssl, int rc);
  /* After the handshake, the peer sent close_notify or a fatal alert
   * (mbedtls code rc). */
  void (*closed)(void *arg, int rc);
  /* Frees arg (called exactly once: when the filter is freed, or when
   * eio_tls_filter_new fails). */
  void (*free)(void *arg);
} eio_tls_filter_role;

/* Wraps a socket bufferevent `under` (taken over: freed with the result)
 * in a TLS filter configured by conf, which must outlive the result (the
 * role's arg normally holds a reference to its owner). role is not copied
 * and must outlive the result (a static table). A failed handshake or a
 * closed peer reports BEV_EVENT_ERROR | BEV_EVENT_READING, deferred, to
 * the result's event callback. NULL when out of memory or when
 * role->setup fails: under is then freed and role->free(arg) has run. */
struct bufferevent *eio_tls_filter_new(struct bufferevent *under, const mbedtls_ssl_config *conf,
                                       const eio_tls_filter_role *role, void *arg);

/* Same, and *st (when not NULL) gets the connection's TLS state, for a
 * hand-over to another loop below. */
typedef struct eio_tls_state eio_tls_state;
struct bufferevent *eio_tls_filter_new_st(struct bufferevent *under,
                                          const mbedtls_ssl_config *conf,
                                          const eio_tls_filter_role *role, void *arg,
                                          eio_tls_state **st);

/* A TLS connection on its way to another loop's event_base: the socket,
 * the TLS session, encrypted bytes read but not yet decrypted (raw_in) and
 * records not yet written (raw_out). */
typedef struct eio_tls_moved {
  evutil_socket_t fd;
  eio_tls_state *st;
  uint8_t *raw_in, *raw_out;
  size_t raw_in_len, raw_out_len;
} eio_tls_moved;
/* Takes st (of a filter whose handshake is done and whose plaintext output
 * is empty) out of its filter, on the filter's loop: freeing the filter
 * then frees neither the TLS session nor the socket. The plaintext already
 * decrypted (the filter's input) stays for the caller to move. 0; -1
 * (nothing moved: not possible now, or out of memory); -2 (out of memory
 * after bytes left: the connection must be dropped). */
int eio_tls_state_detach(eio_tls_state *st, eio_tls_moved *m);
/* On the new loop: a filter over under (a socket bufferevent on m->fd)
 * continuing m's session under conf, whose role state becomes arg (the
 * old one is released by the role's free). NULL when out of memory (under,
 * the session and arg are then freed). */
struct bufferevent *eio_tls_state_attach(eio_tls_moved *m, struct bufferevent *under,
                                         const mbedtls_ssl_config *conf, void *arg);
/* Releases what m holds (not the socket). */
void eio_tls_moved_free(eio_tls_moved *m);

/* Writes "what[ file][: mbedtls's text for rc]" into err (rc 0: no text). */
void eio_tls_filter_reason(char *err, size_t n, const char *what, const char *file, int rc);
#endif
