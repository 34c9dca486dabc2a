/*
 * Prometheus metrics: process-wide counters (one block per thread, summed
 * at scrape time; see metrics.h) and the text exposition format 0.0.4,
 * built at scrape time together with the gauges read from the server.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "metrics.h"
#include "replica.h"
#include "sio/metrics.h"

typedef struct m_block {
  sio_m_counters c;
  struct m_block *next;
} m_block;

static pthread_mutex_t blocks_mu = PTHREAD_MUTEX_INITIALIZER;
static m_block *blocks;
static _Thread_local m_block *mine;
static m_block fallback; /* when a block cannot be had (out of memory) */

sio_m_counters *sio_m_mine(void) {
  if (mine) return &mine->c;
  m_block *b = calloc(1, sizeof *b);
  if (!b) return &fallback.c; /* counts may be lost, nothing breaks */
  pthread_mutex_lock(&blocks_mu);
  b->next = blocks;
  blocks = b;
  pthread_mutex_unlock(&blocks_mu);
  mine = b;
  return &b->c;
}

/* The counters are all uint64_t: summed word by word. */
void sio_m_sum(sio_m_counters *out) {
  enum { WORDS = sizeof(sio_m_counters) / sizeof(uint64_t) };
  _Static_assert(sizeof(sio_m_counters) % sizeof(uint64_t) == 0, "counters are words");
  uint64_t *o = (uint64_t *)out;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&blocks_mu);
  for (m_block *b = blocks; b; b = b->next) {
    uint64_t *w = (uint64_t *)&b->c;
    for (size_t i = 0; i < WORDS; i++) o[i] += __atomic_load_n(&w[i], __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&blocks_mu);
}

/* Disconnect reasons Node uses; anything else is counted as "other". */
static const char *const reasons[SIO_M_REASONS] = {
    "transport close",          "transport error",
    "ping timeout",             "parse error",
    "forced close",             "server shutting down",
    "client namespace disconnect", "server namespace disconnect",
    "forced server close",      "other",
};
static const char *const transports[SIO_M_TRANSPORTS] = {"polling", "websocket"};
static const char *const req_kinds[SIO_M_REQ_KINDS] = {
    "fetch_sockets", "server_side_emit", "broadcast_ack", "other"};
static const char *const limits[3] = {"output_buffer", "max_http_buffer_size", "other"};
/* Upper bounds of the histogram buckets, in seconds (+Inf last). */
static const double bounds[SIO_M_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                 0.025, 0.1, 0.5, 2.5};

uint64_t sio_m_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int sio_m_transport(const eio_socket *conn) {
  return conn && eio_socket_transport(conn) == EIO_TRANSPORT_WEBSOCKET ? SIO_M_WEBSOCKET
                                                                       : SIO_M_POLLING;
}

void sio_m_disconnect(const char *reason) {
  size_t i = 0;
  while (i < SIO_M_REASONS - 1 && reasons[i] && strcmp(reasons[i], reason) != 0) i++;
  if (i >= SIO_M_REASONS || !reasons[i]) i = 9; /* "other" */
  SIO_M_ADD(sio_m.disconnects[i], 1);
}

void sio_m_close(const char *reason, const char *desc) {
  (void)reason;
  if (!desc) return;
  if (!strcmp(desc, "output buffer limit exceeded")) SIO_M_ADD(sio_m.closes_by_limit[0], 1);
  else if (!strcmp(desc, "Max payload size exceeded")) SIO_M_ADD(sio_m.closes_by_limit[1], 1);
}

/* h is a histogram of this thread's block (sio_m.ack, sio_m.handshake). */
void sio_m_observe(sio_m_hist *h, uint64_t since_us) {
  uint64_t us = sio_m_now_us() - since_us;
  double s = (double)us / 1e6;
  size_t i = 0;
  while (i < SIO_M_BUCKETS - 1 && s > bounds[i]) i++;
  SIO_M_ADD(h->counts[i], 1);
  SIO_M_ADD(h->count, 1);
  SIO_M_ADD(h->sum_us, us);
}

/* ------------------------------------------------------------ exposition */

typedef struct out {
  char *p;
  size_t len, cap;
  int failed;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...) {
  if (o->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      o->failed = 1;
      return;
    }
    if ((size_t)n < o->cap - o->len) {
      o->len += (size_t)n;
      return;
    }
    size_t cap = (o->cap + (size_t)n) * 2;
    char *q = realloc(o->p, cap);
    if (!q) {
      o->failed = 1;
      return;
    }
    o->p = q;
    o->cap = cap;
  }
}

static void head(out *o, const char *name, const char *type, const char *help) {
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped. */
static void put_label(out *o, const char *v) {
  for (; *v; v++) {
    if (*v == '\\') put(o, "\\\\");
    else if (*v == '"') put(o, "\\\"");
    else if (*v == '\n') put(o, "\\n");
    else put(o, "%c", *v);
  }
}

static void hist(out *o, const char *name, const char *help, const sio_m_hist *h) {
  head(o, name, "histogram", help);
  uint64_t cum = 0;
  for (size_t i = 0; i < SIO_M_BUCKETS; i++) {
    cum += h->counts[i];
    if (i < SIO_M_BUCKETS - 1) put(o, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                                   (unsigned long long)cum);
    else put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
  }
  put(o, "%s_sum %.9g\n%s_count %llu\n", name, (double)h->sum_us / 1e6, name,
      (unsigned long long)h->count);
}

static void per_transport(out *o, const char *name, const char *help, const uint64_t *v) {
  head(o, name, "counter", help);
  for (int t = 0; t < SIO_M_TRANSPORTS; t++)
    put(o, "%s{transport=\"%s\"} %llu\n", name, transports[t], (unsigned long long)v[t]);
}

static void put_gauge(const char *nsp, long n, void *ud) {
  out *o = ud;
  put(o, "sio_connected_sockets{namespace=\"");
  put_label(o, nsp);
  put(o, "\"} %ld\n", n);
}

/* The output bytes queued for this loop's sessions. */
static size_t loop_queued(sio_server *r) {
  size_t n = 0;
  for (sio_client *c = r->clients; c; c = c->next)
    if (c->conn) n += eio_socket_buffered(c->conn);
  return n;
}

static void queued_count(sio_server *r, void *arg, int cancelled) {
  (void)arg;
  if (!cancelled && r->group)
    __atomic_store_n(&r->group->queued[r->index], loop_queued(r), __ATOMIC_RELAXED);
}

/* Several loops: this loop's count now, the others' as they last counted
 * them (each recounts on its own thread after every scrape, so a scrape
 * sees the others as of the previous one). */
static size_t process_queued(sio_server *srv) {
  sio_server *here = sio_here(srv);
  size_t n = loop_queued(here);
  sio_group *g = srv->group;
  if (!g || !g->queued) return n;
  __atomic_store_n(&g->queued[here->index], n, __ATOMIC_RELAXED);
  for (size_t i = 0; i < g->n; i++) {
    if (i == here->index) continue;
    n += __atomic_load_n(&g->queued[i], __ATOMIC_RELAXED);
    sio_server_post(g->reps[i], queued_count, NULL);
  }
  return n;
}

char *sio_metrics_text(sio_server *srv) {
  out o = {malloc(4096), 0, 4096, 0};
  if (!o.p) return NULL;
  sio_m_counters tot;
  sio_m_sum(&tot);
  head(&o, "sio_connected_sockets", "gauge", "Connected Socket.IO sockets per namespace.");
  size_t it;
  if (srv->group) /* several loops: the sums they keep */
    sio_group_gauges(srv, put_gauge, &o);
  for (sio_map_entry *e = srv->group ? NULL : sio_map_first(&srv->nsps, &it); e;
       e = sio_map_next(&srv->nsps, e, &it)) {
    sio_namespace *nsp = e->value;
    put(&o, "sio_connected_sockets{namespace=\"");
    put_label(&o, nsp->name);
    put(&o, "\"} %zu\n", nsp->sockets.count);
  }
  head(&o, "sio_engine_clients", "gauge", "Open Engine.IO sessions.");
  put(&o, "sio_engine_clients %zu\n", eio_server_clients_count(srv->eio));
  size_t queued = process_queued(srv);
  head(&o, "sio_output_queued_bytes", "gauge",
       "Output bytes queued for the Engine.IO sessions and not yet written.");
  put(&o, "sio_output_queued_bytes %zu\n", queued);
  head(&o, "sio_engine_connections_total", "counter", "Engine.IO sessions opened.");
  put(&o, "sio_engine_connections_total %llu\n", (unsigned long long)tot.engine_opens);
  head(&o, "sio_connects_total", "counter", "Socket.IO namespace connections.");
  put(&o, "sio_connects_total %llu\n", (unsigned long long)tot.connects);
  head(&o, "sio_disconnects_total", "counter", "Socket.IO disconnections by reason.");
  for (int i = 0; i < SIO_M_REASONS; i++)
    if (reasons[i])
      put(&o, "sio_disconnects_total{reason=\"%s\"} %llu\n", reasons[i],
          (unsigned long long)tot.disconnects[i]);
  per_transport(&o, "sio_packets_received_total", "Engine.IO messages received.",
                tot.packets_in);
  per_transport(&o, "sio_packets_sent_total", "Engine.IO messages sent.", tot.packets_out);
  per_transport(&o, "sio_received_bytes_total", "Bytes of the Engine.IO messages received.",
                tot.bytes_in);
  per_transport(&o, "sio_sent_bytes_total", "Bytes of the Engine.IO messages sent.",
                tot.bytes_out);
  head(&o, "sio_broadcast_deliveries_total", "counter",
       "Packets of broadcasts handed to local sockets.");
  put(&o, "sio_broadcast_deliveries_total %llu\n",
      (unsigned long long)tot.broadcast_deliveries);
  head(&o, "sio_closes_by_limit_total", "counter", "Sessions closed by a size limit.");
  for (int i = 0; i < 2; i++)
    put(&o, "sio_closes_by_limit_total{limit=\"%s\"} %llu\n", limits[i],
        (unsigned long long)tot.closes_by_limit[i]);
  head(&o, "sio_adapter_requests_total", "counter", "Requests sent to the other servers.");
  for (int i = 0; i < SIO_M_REQ_KINDS; i++)
    put(&o, "sio_adapter_requests_total{type=\"%s\"} %llu\n", req_kinds[i],
        (unsigned long long)tot.adapter_requests[i]);
  head(&o, "sio_adapter_request_timeouts_total", "counter",
       "Requests to the other servers that timed out.");
  for (int i = 0; i < SIO_M_REQ_KINDS; i++)
    put(&o, "sio_adapter_request_timeouts_total{type=\"%s\"} %llu\n", req_kinds[i],
        (unsigned long long)tot.adapter_timeouts[i]);
  head(&o, "sio_redis_reconnects_total", "counter",
       "Established Redis connections lost (a reconnection follows).");
  put(&o, "sio_redis_reconnects_total %llu\n", (unsigned long long)tot.redis_reconnects);
  hist(&o, "sio_handshake_duration_seconds",
       "From the Engine.IO session opening to a namespace connection.", &tot.handshake);
  hist(&o, "sio_ack_duration_seconds",
       "From an emit with ack to the client's acknowledgement.", &tot.ack);
  if (o.failed) {
    free(o.p);
    return NULL;
  }
  return o.p;
}

int sio_server_serve_metrics(sio_server *srv, const char *path) {
  char *p = path ? strdup(path) : NULL;
  if (path && !p) return SIO_ERR_NOMEM;
  free(srv->metrics_path);
  srv->metrics_path = p;
  sio_server_on_request(srv, srv->on_request, srv->on_request_ud);
  return SIO_OK;
}

/* Called by the server's HTTP dispatcher: 1 when it answered. */
int sio_metrics_handle(sio_server *srv, const eio_request *req, eio_http_response *res) {
  if (!srv->metrics_path || strcmp(req->path, srv->metrics_path) != 0) return 0;
  char *text = sio_metrics_text(srv);
  sio_buf *b = text ? sio_buf_new(text, strlen(text)) : NULL;
  free(text);
  if (!b) {
    eio_response_status(res, 500);
    return 1;
  }
  eio_response_status(res, 200);
  eio_response_header(res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  eio_response_body(res, b);
  sio_buf_unref(b);
  return 1;
}
