/*
 * Prometheus metrics of a libsio server, in the text exposition format
 * 0.0.4, served on an HTTP path of the server's own port.
 *
 *   sio_server_serve_metrics(io, "/metrics");
 *
 * Counters are plain integers bumped on the loop thread; they are
 * process-wide (one loop today), so two servers in one process share them.
 * Gauges (sockets per namespace, queued output) are read from the server
 * at scrape time. The metric names and labels are listed in README.md.
 */
#ifndef SIO_METRICS_H
#define SIO_METRICS_H

#include "sio/socketio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Serves GET <path> (e.g. "/metrics", copied) with the exposition text;
 * NULL stops serving it. Returns SIO_OK or SIO_ERR_NOMEM. Requests for
 * other paths go to the application's handler as before. */
int sio_server_serve_metrics(sio_server *srv, const char *path);

/* The exposition text (owned by the caller, free()), or NULL. */
char *sio_metrics_text(sio_server *srv);

#ifdef __cplusplus
}
#endif
#endif
