/*
 * Engine.IO test server driven by interop/engineio.test.js. Its twin in
 * Node, interop/eio_ref_server.js, behaves the same, so every test runs
 * against both.
 *
 * usage: eio_test_server '<options JSON>'
 * Options (Node names): path, pingInterval, pingTimeout, upgradeTimeout,
 * maxHttpBufferSize, transports, allowUpgrades, cors {origin, credentials},
 * cookie (bool), denyQuery (refuse handshakes whose query has deny=1),
 * httpCompression (false or {threshold}), perMessageDeflate (true or
 * {threshold, clientNoContextTakeover, serverMaxWindowBits,
 * clientMaxWindowBits}).
 *
 * Behaviour: every message is echoed back as it came (text or binary); the
 * text message "__close__" makes the server close that session.
 * stdout gets one JSON line per event: listening {port}, connection {id,
 * transport}, upgrade {id}, close {id, reason}.
 */
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio/engineio.h"
#include "test_opts.h"

static struct event_base *base;
static eio_server *srv;
static struct event *sighup;

static void on_message(eio_socket *s, const uint8_t *data, size_t len,
                       int binary, void *ud) {
  (void)ud;
  if (!binary && len == 9 && memcmp(data, "__close__", 9) == 0) {
    eio_socket_close(s);
    return;
  }
  eio_socket_send(s, data, len, binary);
}

static void on_close(eio_socket *s, const char *reason, const char *desc,
                     void *ud) {
  (void)ud;
  (void)desc;
  topt_line(json_pack("{s:s,s:s,s:s}", "event", "close", "id",
                      eio_socket_id(s), "reason", reason));
}

static void on_upgrade(eio_socket *s, void *ud) {
  (void)ud;
  topt_line(json_pack("{s:s,s:s}", "event", "upgrade", "id", eio_socket_id(s)));
}

static void on_connection(eio_server *sv, eio_socket *s, void *ud) {
  (void)sv;
  (void)ud;
  static const eio_socket_handlers h = {on_message, on_close, NULL, on_upgrade};
  eio_socket_set_handlers(s, &h, NULL);
  const eio_request *req = eio_socket_request(s);
  const char *ua = eio_request_header(req, "user-agent");
  topt_line(json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s}", "event", "connection", "id",
                      eio_socket_id(s), "transport",
                      eio_socket_transport(s) == EIO_TRANSPORT_POLLING
                          ? "polling"
                          : "websocket",
                      "url", req->url, "userAgent", ua, "address",
                      req->remote_address));
}

static int deny_query(const eio_request *req, const char **message, void *ud) {
  (void)ud;
  char v[8];
  if (eio_request_query(req, "deny", v, sizeof v) == 1 && v[0] == '1') {
    *message = "denied by test";
    return 0;
  }
  return 1;
}

static struct event *sighup;
static void on_hup(evutil_socket_t sig, short w, void *arg) {
  (void)sig;
  (void)w;
  (void)arg;
  if (eio_server_reload_tls(srv) == EIO_OK) topt_line(json_pack("{s:s}", "event", "reloaded"));
  else topt_line(json_pack("{s:s,s:s}", "event", "reload-failed", "error", eio_last_error()));
}

static void on_signal(void *arg) {
  (void)arg;
  /* With the listener and the signal events gone, the loop ends once the
   * last connection has finished closing. */
  event_del(sighup);
  eio_server_close(srv);
}

int main(int argc, char **argv) {
  json_t *cfg = topt_load(argc, argv);
  if (!cfg) return 2;
  eio_options o;
  eio_options_init(&o);
  json_t *v;
  if ((v = json_object_get(cfg, "path"))) o.path = json_string_value(v);
  const topt_num nums[] = {
      {"pingInterval", TOPT_UINT, &o.ping_interval_ms},
      {"pingTimeout", TOPT_UINT, &o.ping_timeout_ms},
      {"upgradeTimeout", TOPT_UINT, &o.upgrade_timeout_ms},
      {"maxHttpBufferSize", TOPT_SIZE, &o.max_http_buffer_size},
      {"httpRequestTimeout", TOPT_UINT, &o.http_request_timeout_ms},
  };
  topt_nums(cfg, nums, sizeof nums / sizeof nums[0]);
  if ((v = json_object_get(cfg, "allowUpgrades"))) o.allow_upgrades = json_is_true(v);
  if ((v = json_object_get(cfg, "transports"))) {
    o.transports = 0;
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t) {
      if (strcmp(json_string_value(t), "polling") == 0) o.transports |= EIO_TRANSPORT_POLLING;
      if (strcmp(json_string_value(t), "websocket") == 0) o.transports |= EIO_TRANSPORT_WEBSOCKET;
    }
  }
  eio_cors cors;
  const char *origins[16];
  if ((v = json_object_get(cfg, "cors"))) {
    memset(&cors, 0, sizeof cors);
    cors.max_age = -1;
    json_t *org = json_object_get(v, "origin");
    if (json_is_string(org)) {
      origins[0] = json_string_value(org);
      cors.num_origins = 1;
    } else if (json_is_array(org)) {
      size_t i;
      json_t *t;
      json_array_foreach(org, i, t) if (i < 16) origins[cors.num_origins++] = json_string_value(t);
    }
    cors.origins = origins;
    cors.credentials = json_is_true(json_object_get(v, "credentials"));
    o.cors = &cors;
  }
  eio_cookie cookie = {NULL, NULL, NULL, 1};
  if (json_is_true(json_object_get(cfg, "cookie"))) o.cookie = &cookie;
  if (json_is_true(json_object_get(cfg, "denyQuery"))) o.allow_request = deny_query;
  if ((v = json_object_get(cfg, "httpCompression"))) {
    o.http_compression = !json_is_false(v);
    json_t *t = json_object_get(v, "threshold");
    if (t) o.http_compression_threshold = (size_t)json_integer_value(t);
  }
  eio_per_message_deflate pmd;
  if ((v = json_object_get(cfg, "perMessageDeflate")) && !json_is_false(v)) {
    eio_per_message_deflate_init(&pmd);
    json_t *t;
    if ((t = json_object_get(v, "threshold"))) pmd.threshold = (size_t)json_integer_value(t);
    pmd.client_no_context_takeover = json_is_true(json_object_get(v, "clientNoContextTakeover"));
    pmd.server_max_window_bits = (int)json_integer_value(json_object_get(v, "serverMaxWindowBits"));
    pmd.client_max_window_bits = (int)json_integer_value(json_object_get(v, "clientMaxWindowBits"));
    o.per_message_deflate = &pmd;
  }
  eio_tls_options tls = {0};
  if (topt_tls(cfg, &tls)) o.tls = &tls;

  signal(SIGPIPE, SIG_IGN);
  base = event_base_new();
  topt_workers(&o);
  srv = eio_server_new(base, &o);
  json_decref(cfg); /* options are copied by eio_server_new */
  if (!srv) {
    fprintf(stderr, "cannot start server: %s\n", eio_last_error());
    event_base_free(base);
    return 1;
  }
  if (eio_server_listen(srv, "127.0.0.1", 0) != EIO_OK) {
    fprintf(stderr, "cannot listen\n");
    return 1;
  }
  eio_server_on_connection(srv, on_connection, NULL);
  topt_signals(base, on_signal, NULL);
  sighup = evsignal_new(base, SIGHUP, on_hup, NULL);
  event_add(sighup, NULL);
  topt_line(json_pack("{s:s,s:i}", "event", "listening", "port", eio_server_port(srv)));
  event_base_dispatch(base);
  eio_server_free(srv);
  topt_signals_free();
  event_free(sighup);
  event_base_free(base);
  libevent_global_shutdown();
  return 0;
}
