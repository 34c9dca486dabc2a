/* The C test servers' shared option and signal handling (test_opts.h). */
#include "test_opts.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *topt_load(int argc, char **argv) {
  json_error_t jerr;
  json_t *cfg = json_loads(argc > 1 ? argv[1] : "{}", 0, &jerr);
  if (!cfg || !json_is_object(cfg)) {
    fprintf(stderr, "bad options JSON: %s\n", cfg ? "not an object" : jerr.text);
    json_decref(cfg);
    return NULL;
  }
  return cfg;
}

void topt_nums(const json_t *cfg, const topt_num *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_object_get(cfg, t[i].key);
    if (!v) continue;
    json_int_t x = json_integer_value(v);
    if (t[i].kind == TOPT_UINT) *(unsigned *)t[i].dst = (unsigned)x;
    else if (t[i].kind == TOPT_SIZE) *(size_t *)t[i].dst = (size_t)x;
    else *(int *)t[i].dst = (int)x;
  }
}

char *topt_str(const json_t *cfg, const char *key, char *buf, size_t size) {
  const char *s = json_string_value(json_object_get(cfg, key));
  snprintf(buf, size, "%s", s ? s : "");
  return buf;
}

int topt_tls(const json_t *cfg, eio_tls_options *tls) {
  static char cert[4096], key[4096], pass[1024];
  json_t *v = json_object_get(cfg, "tls");
  if (!v) return 0;
  memset(tls, 0, sizeof *tls);
  tls->cert_file = topt_str(v, "cert", cert, sizeof cert);
  tls->key_file = topt_str(v, "key", key, sizeof key);
  if (json_string_value(json_object_get(v, "passphrase")))
    tls->key_password = topt_str(v, "passphrase", pass, sizeof pass);
  return 1;
}

void topt_line(json_t *o) {
  char *s = json_dumps(o, JSON_COMPACT);
  if (s) printf("%s\n", s);
  fflush(stdout);
  free(s);
  json_decref(o);
}

void topt_workers(eio_options *o) {
  const char *w = getenv("SIO_WORKERS");
  if (w && *w) o->workers = (unsigned)strtoul(w, NULL, 10);
}

int topt_sio_start(struct event_base **base, sio_server **srv, const sio_options *o) {
  signal(SIGPIPE, SIG_IGN);
  sio_options with = *o;
  topt_workers(&with.eio);
  *base = event_base_new();
  *srv = *base ? sio_server_new(*base, &with) : NULL;
  if (!*srv) {
    fprintf(stderr, "cannot start server: %s\n", eio_last_error());
    if (*base) event_base_free(*base);
    return 1;
  }
  if (sio_server_listen(*srv, "127.0.0.1", 0) != EIO_OK) {
    fprintf(stderr, "cannot listen\n");
    return 1;
  }
  return 0;
}

static struct event *sig_term, *sig_int;
static void (*stop_fn)(void *);
static void *stop_arg;

static void on_signal(evutil_socket_t sig, short w, void *arg) {
  (void)sig;
  (void)w;
  (void)arg;
  event_del(sig_term);
  event_del(sig_int);
  stop_fn(stop_arg);
}

int topt_signals(struct event_base *base, void (*stop)(void *arg), void *arg) {
  stop_fn = stop;
  stop_arg = arg;
  sig_term = evsignal_new(base, SIGTERM, on_signal, NULL);
  sig_int = evsignal_new(base, SIGINT, on_signal, NULL);
  if (!sig_term || !sig_int || event_add(sig_term, NULL) || event_add(sig_int, NULL)) {
    topt_signals_free();
    return -1;
  }
  return 0;
}

void topt_signals_free(void) {
  if (sig_term) event_free(sig_term);
  if (sig_int) event_free(sig_int);
  sig_term = sig_int = NULL;
}
