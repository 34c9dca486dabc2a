/*
 * A minimal Engine.IO server on libsio: echoes every message back, text as
 * text and binary as binary. Any engine.io-client 6.x can talk to it:
 *
 *   const { Socket } = require("engine.io-client");
 *   const s = new Socket("http://127.0.0.1:3000");
 *   s.on("open", () => s.send("hello"));
 *   s.on("message", (m) => console.log(m));
 *
 * usage: eio_echo [--host 127.0.0.1] [--port 3000]
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio/engineio.h"

static void on_message(eio_socket *s, const uint8_t *data, size_t len,
                       int binary, void *ud) {
  (void)ud;
  eio_socket_send(s, data, len, binary);
}

static void on_close(eio_socket *s, const char *reason, const char *desc,
                     void *ud) {
  (void)ud;
  printf("closed %s: %s%s%s\n", eio_socket_id(s), reason, desc ? ", " : "",
         desc ? desc : "");
}

static void on_connection(eio_server *srv, eio_socket *s, void *ud) {
  (void)srv;
  (void)ud;
  static const eio_socket_handlers h = {.on_message = on_message,
                                        .on_close = on_close};
  eio_socket_set_handlers(s, &h, NULL);
  printf("connected %s from %s over %s\n", eio_socket_id(s),
         eio_socket_request(s)->remote_address,
         eio_socket_transport(s) == EIO_TRANSPORT_POLLING ? "polling"
                                                          : "websocket");
}

static void on_signal(evutil_socket_t sig, short w, void *base) {
  (void)sig;
  (void)w;
  event_base_loopexit(base, NULL);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  long port = 3000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--host") && i + 1 < argc) host = argv[++i];
    else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = strtol(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: %s [--host ADDR] [--port N]\n", argv[0]);
      return 2;
    }
  }
  if (port < 0 || port > 65535) {
    fprintf(stderr, "invalid port %ld\n", port);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct event_base *base = event_base_new();
  eio_server *srv = eio_server_new(base, NULL); /* Node's defaults */
  int rc = eio_server_listen(srv, host, (uint16_t)port);
  if (rc != EIO_OK) {
    fprintf(stderr, "cannot listen on %s:%ld: %s\n", host, port,
            rc == EIO_ERR_SYSTEM ? strerror(errno) : "invalid address");
    return 1;
  }
  eio_server_on_connection(srv, on_connection, NULL);
  struct event *sig = evsignal_new(base, SIGINT, on_signal, base);
  event_add(sig, NULL);
  printf("engine.io echo server on http://%s:%u/engine.io/\n", host,
         eio_server_port(srv));
  event_base_dispatch(base);
  eio_server_free(srv);
  event_free(sig);
  event_base_free(base);
  return 0;
}
