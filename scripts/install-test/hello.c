/* Built against an installed libsio by scripts/install-test.sh (pkg-config
 * and find_package): a server that listens on a free port and stops. */
#include <event2/event.h>
#include <stdio.h>
#include <sio/socketio.h>

int main(void) {
  struct event_base *base = event_base_new();
  sio_options o;
  sio_options_init(&o);
  sio_server *io = sio_server_new(base, &o);
  if (!io || sio_server_listen(io, "127.0.0.1", 0) != 0) return 1;
  sio_args *a = sio_args_new();
  sio_args_push(a, json_string("hi"));
  int ok = sio_server_port(io) > 0 && sio_args_count(a) == 1;
  sio_args_unref(a);
  printf("libsio listening on %u: %s\n", sio_server_port(io), ok ? "ok" : "FAIL");
  sio_server_free(io);
  event_base_free(base);
  return ok ? 0 : 1;
}
