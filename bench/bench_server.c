/*
 * bench_server: the libsio side of bench/run.sh, on the public API only.
 * Handlers (the same in bench_server.js and, by hand, in floor.c):
 *   "echo" with an ack: the ack answers the same arguments;
 *   "bcast": socket.broadcast.emit("tick", ...same arguments).
 * Usage: bench_server [port [workers]]   (port 0 or none: a free port;
 * workers: event loops, default 1; bench/workers.sh compares 1 and 2). Prints
 * "listening <port>" on stdout once listening; SIGTERM/SIGINT stop it.
 */
#include <sio/socketio.h>

#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static void on_echo(sio_socket *s, const char *event, sio_args *args,
                    sio_ack *ack, void *ud) {
  (void)s; (void)event; (void)ud;
  if (ack)
    sio_ack_send(ack, sio_args_ref(args));
}

static void on_bcast(sio_socket *s, const char *event, sio_args *args,
                     sio_ack *ack, void *ud) {
  (void)event; (void)ack; (void)ud;
  sio_bc_emit(sio_socket_broadcast(s), "tick", sio_args_ref(args));
}

static void on_connection(sio_socket *s, void *ud) {
  (void)ud;
  sio_socket_on(s, "echo", on_echo, NULL);
  sio_socket_on(s, "bcast", on_bcast, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  (void)sig; (void)what;
  event_base_loopbreak(arg);
}

int main(int argc, char **argv) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  struct event_base *base = event_base_new();
  sio_options o;
  sio_options_init(&o);
  o.eio.workers = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
  sio_server *io = sio_server_new(base, &o);
  if (!io) {
    fprintf(stderr, "bench_server: cannot create the server\n");
    return 1;
  }
  sio_on_connection(sio_of(io, "/"), on_connection, NULL);
  if (sio_server_listen(io, "127.0.0.1",
                        (uint16_t)(argc > 1 ? atoi(argv[1]) : 0)) != SIO_OK) {
    fprintf(stderr, "bench_server: cannot listen\n");
    return 1;
  }
  struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
  struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
  event_add(sigterm, NULL);
  event_add(sigint, NULL);
  printf("listening %u\n", sio_server_port(io));
  fflush(stdout);
  event_base_dispatch(base);
  event_free(sigterm);
  event_free(sigint);
  sio_server_free(io);
  event_base_free(base);
  return 0;
}
