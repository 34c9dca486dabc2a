/*
 * Socket.IO test server for interop/abuse.test.js (slow readers, floods,
 * slowloris, fd exhaustion, shutdown); its Node twin is
 * interop/abuse_ref_server.js with the same handlers.
 * usage: abuse_test_server '<options JSON>'
 * stdout: one JSON line per event (listening, connection, disconnect,
 * stream-done, closed).
 *
 * Every socket joins the room "stream". Events:
 *   echo(...args, ack)            acks the arguments back
 *   stream({count, size, perTick, intervalMs, volatile}, ack)
 *                                 broadcasts count events "s" [seq, ms, data]
 *                                 (data: size bytes of text) to "stream",
 *                                 perTick every intervalMs, then "end"
 *   count(ack)                    acks the number of "spam" events seen
 *   spam                          counted
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "sio/socketio.h"
#include "test_opts.h"

static struct event_base *base;
static sio_server *srv;
static sio_namespace *main_nsp;
static struct event *stream_timer;
static long long spam_count; /* atomic: "spam" arrives on every loop */
static unsigned shutdown_ms;

static struct {
  long count, size, per_tick, interval_ms, seq;
  int vol;
  char *data;
} st;

static double now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec * 1000.0 + (double)tv.tv_usec / 1000.0;
}

static void stream_tick(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  (void)arg;
  for (long i = 0; i < st.per_tick && st.seq < st.count; i++) {
    sio_args *a = sio_args_new();
    sio_args_push(a, json_integer(st.seq++));
    sio_args_push(a, json_real(now_ms()));
    sio_args_push(a, json_stringn(st.data, (size_t)st.size));
    sio_broadcast *b = sio_to(main_nsp, "stream");
    if (st.vol) sio_bc_volatile(b);
    sio_bc_emit(b, "s", a);
  }
  if (st.seq >= st.count) {
    sio_bc_emit(sio_to(main_nsp, "stream"), "end", NULL);
    topt_line(json_pack("{s:s,s:I}", "event", "stream-done", "count", (json_int_t)st.seq));
    free(st.data);
    st.data = NULL;
    return;
  }
  struct timeval tv = {st.interval_ms / 1000, (st.interval_ms % 1000) * 1000};
  event_add(stream_timer, &tv);
}

/* The stream runs on loop 0 (its timer is on base); "stream" may arrive
 * on any loop, so its parameters travel there in a task. */
typedef struct stream_req {
  long count, size, per_tick, interval_ms;
  int vol;
} stream_req;

static void stream_start(eio_server *target, void *arg, int cancelled) {
  (void)target;
  stream_req *r = arg;
  if (!cancelled && !st.data) {
    st.count = r->count;
    st.size = r->size;
    st.per_tick = r->per_tick;
    st.interval_ms = r->interval_ms;
    st.vol = r->vol;
    st.seq = 0;
    st.data = malloc((size_t)st.size + 1);
    memset(st.data, 'x', (size_t)st.size);
    st.data[st.size] = '\0';
    struct timeval tv = {0, 0};
    event_add(stream_timer, &tv);
  }
  free(r);
}

static void on_stream(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                      void *ud) {
  (void)s;
  (void)ev;
  (void)ud;
  json_t *o = sio_args_get(args, 0);
  stream_req *r = json_is_object(o) ? malloc(sizeof *r) : NULL;
  if (r) {
    r->count = (long)json_integer_value(json_object_get(o, "count"));
    r->size = (long)json_integer_value(json_object_get(o, "size"));
    r->per_tick = (long)json_integer_value(json_object_get(o, "perTick"));
    r->interval_ms = (long)json_integer_value(json_object_get(o, "intervalMs"));
    r->vol = json_is_true(json_object_get(o, "volatile"));
    if (r->size < 0 || r->size > 16 * 1024 * 1024) r->size = 0;
    if (r->per_tick < 1) r->per_tick = 1;
    if (eio_server_post(eio_server_worker(sio_server_engine(srv), 0), stream_start, r) != 0)
      free(r);
  }
  if (ack) sio_ack_send(ack, NULL);
}

static void on_echo(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                    void *ud) {
  (void)ud;
  if (ack) sio_ack_send(ack, sio_args_ref(args));
  else sio_emit(s, ev, sio_args_ref(args));
}

static void on_spam(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                    void *ud) {
  (void)s;
  (void)ev;
  (void)args;
  (void)ud;
  __atomic_fetch_add(&spam_count, 1, __ATOMIC_RELAXED);
  if (ack) sio_ack_send(ack, NULL);
}

static void on_count(sio_socket *s, const char *ev, sio_args *args, sio_ack *ack,
                     void *ud) {
  (void)s;
  (void)ev;
  (void)args;
  (void)ud;
  sio_args *a = sio_args_new();
  sio_args_push(a, json_integer(__atomic_load_n(&spam_count, __ATOMIC_RELAXED)));
  if (ack) sio_ack_send(ack, a);
  else sio_args_unref(a);
}

static void on_disconnect(sio_socket *s, const char *reason, void *ud) {
  (void)ud;
  topt_line(json_pack("{s:s,s:s,s:s}", "event", "disconnect", "id", sio_socket_id(s),
                 "reason", reason));
}

static void on_connection(sio_socket *s, void *ud) {
  (void)ud;
  sio_join(s, "stream");
  sio_socket_on(s, "echo", on_echo, NULL);
  sio_socket_on(s, "stream", on_stream, NULL);
  sio_socket_on(s, "spam", on_spam, NULL);
  sio_socket_on(s, "count", on_count, NULL);
  sio_socket_on_disconnect(s, on_disconnect, NULL);
  topt_line(json_pack("{s:s,s:s}", "event", "connection", "id", sio_socket_id(s)));
}

static void on_signal(void *arg) {
  (void)arg;
  event_del(stream_timer);
  topt_line(json_pack("{s:s}", "event", "shutting-down"));
  if (shutdown_ms) sio_server_shutdown(srv, shutdown_ms);
  else sio_server_close(srv);
}

int main(int argc, char **argv) {
  json_t *cfg = topt_load(argc, argv);
  if (!cfg) return 2;
  sio_options o;
  sio_options_init(&o);
  const topt_num nums[] = {
      {"pingInterval", TOPT_UINT, &o.eio.ping_interval_ms},
      {"pingTimeout", TOPT_UINT, &o.eio.ping_timeout_ms},
      {"maxOutputBytes", TOPT_SIZE, &o.eio.max_output_bytes},
      {"maxTotalOutputBytes", TOPT_SIZE, &o.eio.max_total_output_bytes},
      {"softOutputBytes", TOPT_SIZE, &o.eio.soft_output_bytes},
      {"softOutputMs", TOPT_UINT, &o.eio.soft_output_ms},
      {"maxConnectionsPerAddress", TOPT_UINT, &o.eio.max_connections_per_address},
      {"connectionsPerAddressPerSec", TOPT_UINT, &o.eio.connections_per_address_per_sec},
      {"maxInboundPacketsPerSec", TOPT_UINT, &o.eio.max_inbound_packets_per_sec},
      {"httpRequestTimeout", TOPT_UINT, &o.eio.http_request_timeout_ms},
      {"maxPendingConnections", TOPT_UINT, &o.eio.max_pending_connections},
      {"headersTimeout", TOPT_UINT, &o.eio.http_headers_timeout_ms},
      {"shutdownMs", TOPT_UINT, &shutdown_ms},
  };
  topt_nums(cfg, nums, sizeof nums / sizeof nums[0]);
  static eio_tls_options tls;
  if (topt_tls(cfg, &tls)) o.eio.tls = &tls;
  json_decref(cfg);

  int status = topt_sio_start(&base, &srv, &o);
  if (status) return status;
  main_nsp = sio_of(srv, "/");
  sio_on_connection(main_nsp, on_connection, NULL);
  stream_timer = evtimer_new(base, stream_tick, NULL);
  topt_signals(base, on_signal, NULL);
  topt_line(json_pack("{s:s,s:i}", "event", "listening", "port", sio_server_port(srv)));
  event_base_dispatch(base);
  sio_server_free(srv);
  free(st.data);
  event_free(stream_timer);
  topt_signals_free();
  event_base_free(base);
  libevent_global_shutdown();
  topt_line(json_pack("{s:s}", "event", "closed"));
  return 0;
}
