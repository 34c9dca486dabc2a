/*
 * The chat example: a Socket.IO chat server with its page, on libsio.
 * Events: "add user", "new message", "typing", "stop typing" from clients;
 * "login", "new message", "user joined", "user left", "typing",
 * "stop typing" to them. The page (public/) and the official client bundle
 * (/socket.io/socket.io.min.js, as Node's serveClient) are served by the
 * same server.
 */
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sio/log.h"
#include "sio/redis.h"
#include "sio/socketio.h"

#ifndef CHAT_PUBLIC_DIR
#define CHAT_PUBLIC_DIR "examples/chat/public"
#endif
#ifndef CHAT_CLIENT_DIR
#define CHAT_CLIENT_DIR "interop/node_modules/socket.io-client/dist"
#endif

static const char *public_dir = CHAT_PUBLIC_DIR;
static struct event_base *base;
static sio_server *io;
static struct event *sig_int, *sig_term, *sig_hup;
/* Handlers run on every loop (one per core): the count is shared. */
static _Atomic int num_users;

static const char *username_of(sio_socket *s) {
  return json_string_value(json_object_get(sio_socket_data(s), "username"));
}

static sio_args *obj_args(json_t *o) {
  sio_args *a = sio_args_new();
  sio_args_push(a, o);
  return a;
}

static void on_add_user(sio_socket *s, const char *ev, sio_args *args,
                        sio_ack *ack, void *ud) {
  (void)ev;
  (void)ack;
  (void)ud;
  const char *name = json_string_value(sio_args_get(args, 0));
  if (username_of(s) || !name || !*name || strlen(name) > 64) return;
  json_object_set_new(sio_socket_data(s), "username", json_string(name));
  int users = ++num_users;
  sio_log(SIO_LOG_INFO, "chat", "user joined name=\"%s\" id=%s users=%d", name,
          sio_socket_id(s), users);
  sio_emit(s, "login", obj_args(json_pack("{s:i}", "numUsers", users)));
  sio_bc_emit(sio_socket_broadcast(s), "user joined",
              obj_args(json_pack("{s:s,s:i}", "username", name, "numUsers", users)));
}

static void on_new_message(sio_socket *s, const char *ev, sio_args *args,
                           sio_ack *ack, void *ud) {
  (void)ev;
  (void)ack;
  (void)ud;
  const char *name = username_of(s);
  json_t *text = sio_args_get(args, 0);
  if (!name || !json_is_string(text)) return;
  sio_log(SIO_LOG_DEBUG, "chat", "message from \"%s\" (%zu bytes)", name,
          json_string_length(text));
  sio_bc_emit(sio_socket_broadcast(s), "new message",
              obj_args(json_pack("{s:s,s:O}", "username", name, "message", text)));
}

static void on_typing(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                      void *ud) {
  (void)args;
  (void)ack;
  (void)ud;
  const char *name = username_of(s);
  if (name)
    sio_bc_emit(sio_socket_broadcast(s), ev, obj_args(json_pack("{s:s}", "username", name)));
}

static void on_disconnect(sio_socket *s, const char *reason, void *ud) {
  (void)ud;
  const char *name = username_of(s);
  if (!name) return;
  int users = --num_users;
  sio_log(SIO_LOG_INFO, "chat", "user left name=\"%s\" reason=\"%s\" users=%d", name,
          reason, users);
  sio_bc_emit(sio_socket_broadcast(s), "user left",
              obj_args(json_pack("{s:s,s:i}", "username", name, "numUsers", users)));
}

static void on_connection(sio_socket *s, void *ud) {
  (void)ud;
  sio_socket_on(s, "add user", on_add_user, NULL);
  sio_socket_on(s, "new message", on_new_message, NULL);
  sio_socket_on(s, "typing", on_typing, NULL);
  sio_socket_on(s, "stop typing", on_typing, NULL);
  sio_socket_on_disconnect(s, on_disconnect, NULL);
}

/* ---- the page ---- */

static const char *content_type(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return "application/octet-stream";
  if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
  if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
  if (!strcmp(dot, ".js")) return "application/javascript; charset=utf-8";
  if (!strcmp(dot, ".png")) return "image/png";
  if (!strcmp(dot, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

static sio_buf *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  sio_buf *b = NULL;
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
      (b = sio_buf_alloc((size_t)st.st_size)) &&
      fread(sio_buf_mutable(b), 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
    sio_buf_unref(b);
    b = NULL;
  }
  fclose(f);
  return b;
}

static int on_request(const eio_request *req, eio_http_response *res, void *ud) {
  (void)ud;
  if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) return 0;
  const char *name = strcmp(req->path, "/") == 0 ? "/index.html" : req->path;
  /* Flat folder: one path segment of safe characters, no "..". */
  if (strchr(name + 1, '/') || strstr(name, "..") || strlen(name) > 128) return 0;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s%s", public_dir, name);
  sio_buf *body = read_file(path);
  if (!body) return 0;
  eio_response_status(res, 200);
  eio_response_header(res, "Content-Type", content_type(name));
  eio_response_header(res, "Cache-Control", "no-cache");
  eio_response_body(res, body);
  sio_buf_unref(body);
  return 1;
}

/* SIGHUP: read the certificate and key again; open connections stay. */
static void on_hup(evutil_socket_t sig, short w, void *arg) {
  (void)sig;
  (void)w;
  (void)arg;
  if (eio_server_reload_tls(sio_server_engine(io)) == EIO_OK)
    sio_log(SIO_LOG_INFO, "chat", "SIGHUP: certificate and key reloaded");
  else
    sio_log(SIO_LOG_ERROR, "chat", "SIGHUP: reload failed, keeping the old ones: %s",
            eio_last_error());
}

static void on_signal(evutil_socket_t sig, short w, void *arg) {
  (void)w;
  (void)arg;
  sio_log(SIO_LOG_INFO, "chat", "%s: closing", sig == SIGINT ? "SIGINT" : "SIGTERM");
  event_del(sig_int);
  event_del(sig_term);
  event_del(sig_hup);
  sio_server_close(io); /* the loop ends once the connections are closed */
}

static void usage(FILE *f, const char *argv0) {
  fprintf(f,
          "usage: %s [options]\n"
          "  --host ADDR        address to listen on (default 127.0.0.1)\n"
          "  --port N           port (default 3000; 0 picks a free one)\n"
          "  --public DIR       the page's folder (default %s)\n"
          "  --client-dir DIR   socket.io-client's dist folder, served at\n"
          "                     /socket.io/socket.io.min.js (default %s)\n"
          "  --redis URL        join a cluster through Redis (redis://[:pw@]host[:port][/db]);\n"
          "                     without it the in-memory adapter is used\n"
          "  --cert FILE        serve https/wss with this PEM certificate (chain)\n"
          "  --key FILE         ... and this PEM private key (SIGHUP reloads both)\n"
          "  --key-password PW  password of an encrypted key\n"
          "  --workers N        event loops (threads) serving clients (default: one per\n"
          "                     core)\n"
          "  --debug            debug logs (same as DEBUG=sio:*,chat)\n"
          "  --help             this text\n",
          argv0, CHAT_PUBLIC_DIR, CHAT_CLIENT_DIR);
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *client_dir = CHAT_CLIENT_DIR;
  eio_tls_options tls = {0};
  const char *redis_url = NULL;
  long port = 3000;
  long workers = sysconf(_SC_NPROCESSORS_ONLN);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, argv[0]);
      return 0;
    } else if (!strcmp(a, "--host") && more) {
      host = argv[++i];
    } else if (!strcmp(a, "--port") && more) {
      char *end;
      port = strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535) {
        fprintf(stderr, "%s: invalid port \"%s\"\n", argv[0], argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--public") && more) {
      public_dir = argv[++i];
    } else if (!strcmp(a, "--client-dir") && more) {
      client_dir = argv[++i];
    } else if (!strcmp(a, "--redis") && more) {
      redis_url = argv[++i];
    } else if (!strcmp(a, "--cert") && more) {
      tls.cert_file = argv[++i];
    } else if (!strcmp(a, "--key") && more) {
      tls.key_file = argv[++i];
    } else if (!strcmp(a, "--key-password") && more) {
      tls.key_password = argv[++i];
    } else if (!strcmp(a, "--workers") && more) {
      char *end;
      workers = strtol(argv[++i], &end, 10);
      if (*end || workers < 1 || workers > 64) {
        fprintf(stderr, "%s: invalid worker count \"%s\"\n", argv[0], argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--debug")) {
      sio_log_set_debug("sio:*,chat");
    } else {
      fprintf(stderr, "%s: unknown or incomplete option \"%s\"\n\n", argv[0], a);
      usage(stderr, argv[0]);
      return 2;
    }
  }
  if (!tls.cert_file != !tls.key_file) {
    fprintf(stderr, "%s: --cert and --key go together\n", argv[0]);
    return 2;
  }
  char index[PATH_MAX];
  snprintf(index, sizeof index, "%s/index.html", public_dir);
  if (!is_dir(public_dir) || access(index, R_OK) != 0) {
    fprintf(stderr, "%s: the page is missing: %s not found (use --public DIR)\n",
            argv[0], index);
    return 1;
  }
  char bundle[PATH_MAX];
  snprintf(bundle, sizeof bundle, "%s/socket.io.min.js", client_dir);
  if (access(bundle, R_OK) != 0) {
    fprintf(stderr,
            "%s: the socket.io client bundle is missing: %s not found\n"
            "  (run scripts/deps.sh, which installs it with npm, or use --client-dir)\n",
            argv[0], bundle);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  base = event_base_new();
  sio_options o;
  sio_options_init(&o);
  o.serve_client_dir = client_dir;
  o.eio.workers = workers > 1 ? (unsigned)(workers > 64 ? 64 : workers) : 1;
  if (tls.cert_file) o.eio.tls = &tls;
  io = sio_server_new(base, &o);
  if (!io) {
    const char *why = eio_last_error();
    fprintf(stderr, "%s: cannot create the server: %s\n", argv[0],
            *why ? why : "the client bundle is unreadable");
    event_base_free(base);
    return 1;
  }
  if (redis_url) {
    sio_redis_options ro;
    sio_redis_options_init(&ro);
    ro.url = redis_url;
    char err[256];
    if (sio_server_use_redis(io, &ro, err, sizeof err) != SIO_OK) {
      fprintf(stderr, "%s: %s\n", argv[0], err);
      sio_server_free(io);
      event_base_free(base);
      return 2;
    }
    sio_log(SIO_LOG_INFO, "chat", "joining the cluster on %s (Redis adapter); until Redis "
            "answers, messages reach this server's users only", redis_url);
  }
  sio_server_on_request(io, on_request, NULL);
  int rc = sio_server_listen(io, host, (uint16_t)port);
  if (rc != SIO_OK) {
    fprintf(stderr, "%s: cannot listen on %s:%ld: %s\n", argv[0], host, port,
            rc == EIO_ERR_SYSTEM ? strerror(errno) : "invalid address");
    sio_server_free(io);
    event_base_free(base);
    return 1;
  }
  sio_on_connection(sio_of(io, "/"), on_connection, NULL);
  sig_int = evsignal_new(base, SIGINT, on_signal, NULL);
  sig_term = evsignal_new(base, SIGTERM, on_signal, NULL);
  sig_hup = evsignal_new(base, SIGHUP, on_hup, NULL);
  event_add(sig_int, NULL);
  event_add(sig_term, NULL);
  event_add(sig_hup, NULL);
  sio_log(SIO_LOG_INFO, "chat", "listening on %s://%s:%u/", tls.cert_file ? "https" : "http",
          host, sio_server_port(io));
  event_base_dispatch(base);
  sio_server_free(io);
  event_free(sig_int);
  event_free(sig_term);
  event_free(sig_hup);
  event_base_free(base);
  libevent_global_shutdown();
  return 0;
}
