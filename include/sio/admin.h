/*
 * The server side of @socket.io/admin-ui 0.5 (Node's instrument(io, opts)):
 * an admin namespace whose events and payloads are those of the npm
 * package, so the unmodified UI (hosted or bundled) shows and drives a
 * libsio server. Through a cluster adapter (call sio_server_use_redis
 * first or after, either works) one UI sees every server of a mixed
 * Node/C cluster.
 *
 *   sio_admin_options ao;
 *   sio_admin_options_init(&ao);
 *   ao.username = "admin";
 *   ao.password_hash = "$2b$10$...";          // bcrypt, checked with crypt(3)
 *   if (sio_admin_instrument(io, &ao, err, sizeof err) != SIO_OK) ...
 *
 * Modes: development (default) sends every socket, room and event
 * (socket_connected/updated/disconnected, room_joined/left,
 * event_received/event_sent, all_sockets); production sends only the
 * server stats every 2 s. readonly refuses the admin commands (emit, join,
 * leave, _disconnect). The admin state lives until sio_server_free.
 * Checking a bcrypt hash blocks the loop for its cost (about 50-100 ms at
 * cost 10), once per login; later reconnections use the session id.
 */
#ifndef SIO_ADMIN_H
#define SIO_ADMIN_H

#include <stddef.h>

#include "sio/socketio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sio_admin_options {
  const char *namespace_name; /* "/admin" */
  /* Basic authentication: both set, or both NULL for auth: false. The
   * hash is a bcrypt hash ($2a$, $2b$ or $2y$), as the npm package wants. */
  const char *username;
  const char *password_hash;
  int readonly;               /* 0 */
  int production;             /* 0: mode "development" */
  const char *server_id;      /* NULL: the host name */
  unsigned stats_interval_ms; /* 2000, as the npm package */
} sio_admin_options;

void sio_admin_options_init(sio_admin_options *o);

/* Sets up the admin namespace on srv (strings are copied). Returns SIO_OK,
 * or SIO_ERR_INVALID (bad hash, already instrumented; reason in err) or
 * SIO_ERR_NOMEM. */
int sio_admin_instrument(sio_server *srv, const sio_admin_options *o, char *err,
                         size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
