/* Hooks of the admin-ui namespace (admin.c), called through hooks.h. */
#ifndef SIO_ADMIN_PRIV_H
#define SIO_ADMIN_PRIV_H
#include <jansson.h>
#include <stddef.h>

#include "sio/admin.h"

typedef struct sio_admin sio_admin;
typedef struct sio_client sio_client;

void sio_admin_eio_open(sio_client *c);
void sio_admin_eio_close(sio_client *c, const char *reason);
void sio_admin_eio_upgrade(sio_client *c);
/* A message in (out == 0) or out of len bytes. */
void sio_admin_traffic(sio_admin *a, int out, size_t len);
void sio_admin_connected(sio_socket *s);
void sio_admin_disconnected(sio_socket *s, const char *reason);
/* socket.data was replaced (old is still alive): keeps data._admin. */
void sio_admin_data_set(sio_socket *s, json_t *old);
void sio_admin_room(sio_namespace *nsp, const char *sid, const char *room, int joined);
/* Stops the stats timer and every emit (server closing). NULL is fine. */
void sio_admin_stop(sio_admin *a);
void sio_admin_free(sio_admin *a);
#endif
