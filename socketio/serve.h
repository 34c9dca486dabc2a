/* serveClient: the official client bundle at <path>socket.io[.msgpack|.esm]
 * [.min].js[.map], with Node's headers, ETag and 304s. */
#ifndef SIO_SERVE_H
#define SIO_SERVE_H
#include "sio/socketio.h"

typedef struct sio_serve sio_serve;
/* dir: the socket.io-client "dist" folder; its version is read from
 * dir/../package.json. NULL when the folder has no bundle. */
sio_serve *sio_serve_new(const char *dir, const char *path);
void sio_serve_free(sio_serve *sv);
/* 1 when req was a client-bundle request (res filled), else 0. */
int sio_serve_handle(sio_serve *sv, const eio_request *req, eio_http_response *res);
#endif
