/*
 * The client side of TLS for Redis connections (rediss://), with mbedtls,
 * as a libevent filter bufferevent over a connected socket bufferevent:
 * the Redis connection above it sees plain bytes (engineio/tls.c is the
 * server side, for the HTTP front door).
 *
 * The server's certificate is always verified: against the CA file given,
 * or the system's CA bundle. The name checked is the configured server
 * name, else the host of the URL: a DNS name is sent as SNI and must match
 * a dNSName (or the CN) of the certificate; an IP address must match an
 * iPAddress entry of its subjectAltName (as Node's tls does; mbedtls 2.28
 * does not check those itself).
 */
#ifndef SIO_REDIS_TLS_H
#define SIO_REDIS_TLS_H
#include <event2/bufferevent.h>
#include <stddef.h>

typedef struct sio_redis_tls sio_redis_tls;

/* Loads the CA file (NULL: the system bundle), and the client certificate
 * and key (both or neither; key_password may be NULL) once; server_name
 * (NULL: each connection's host) is copied. Returns NULL with a readable
 * reason in err (unreadable or bad file, key not matching the
 * certificate). The result is reference-counted: each connection takes a
 * reference; the creator drops its own with sio_redis_tls_unref. */
sio_redis_tls *sio_redis_tls_new(const char *ca_file, const char *cert_file,
                                 const char *key_file, const char *key_password,
                                 const char *server_name, char *err, size_t errlen);
sio_redis_tls *sio_redis_tls_ref(sio_redis_tls *t);
void sio_redis_tls_unref(sio_redis_tls *t);

/* From the adapter's options: when url is rediss:// or any tls_* option
 * is set, creates the TLS configuration into url->tls_ctx (the caller
 * owns that reference); also copies the on_error callback into url.
 * 0, or -1 with the reason in err. */
struct sio_redis_options;
struct sio_redis_url;
int sio_redis_tls_setup(struct sio_redis_url *url, const struct sio_redis_options *o,
                        char *err, size_t errlen);

/* Wraps a connected socket bufferevent (taken over: freed with the
 * result) and starts the handshake with host. The result reports
 * BEV_EVENT_CONNECTED to its event callback once the handshake is done,
 * and BEV_EVENT_ERROR when it fails; then the reason (e.g. "certificate
 * verification failed: The certificate is not correctly signed by the
 * trusted CA") is written to err, which must stay valid as long as the
 * result lives. NULL when out of memory (under is then freed). */
struct bufferevent *sio_redis_tls_wrap(sio_redis_tls *t, struct bufferevent *under,
                                       const char *host, char *err, size_t errlen);

/* 1 when a certificate's extensions (the DER of mbedtls's crt->v3_ext:
 * SEQUENCE OF { OID, [BOOLEAN], OCTET STRING }) hold a subjectAltName that
 * lists the address ip (4 or 16 bytes) as an iPAddress ([7] IMPLICIT
 * OCTET STRING); 0 otherwise, also for anything malformed. A pure
 * function over the buffer; never reads past ext + ext_len. */
int sio_redis_tls_san_has_ip(const unsigned char *ext, size_t ext_len, const unsigned char *ip,
                             size_t iplen);
#endif
