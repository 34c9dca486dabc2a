/* Unit tests of socketio/metrics.c: the exposition text of a server with no
 * network (bucket arithmetic, label escaping, reasons) and the histogram. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "metrics.h"
#include "sio/metrics.h"
#include "test.h"

static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)); p++)
    if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) return 1;
  return 0;
}

static void test_text(void) {
  struct event_base *base = event_base_new();
  sio_server *srv = sio_server_new(base, NULL);
  CHECK(srv != NULL);
  sio_of(srv, "/we\"ird\\name");
  memset(&sio_m, 0, sizeof sio_m);
  sio_m_disconnect("transport close");
  sio_m_disconnect("transport close");
  sio_m_disconnect("something new");
  sio_m_close("transport error", "output buffer limit exceeded");
  sio_m_close("transport error", "Max payload size exceeded");
  sio_m_close("transport error", "invalid frame");
  sio_m.bytes_out[SIO_M_WEBSOCKET] = 12345;
  /* one ack took "now" (first bucket), one took 3 s (+Inf only) */
  sio_m_observe(&sio_m.ack, sio_m_now_us());
  sio_m_observe(&sio_m.ack, sio_m_now_us() - 3000000);
  char *t = sio_metrics_text(srv);
  CHECK(t != NULL);
  CHECK(has_line(t, "# TYPE sio_disconnects_total counter"));
  CHECK(has_line(t, "sio_disconnects_total{reason=\"transport close\"} 2"));
  CHECK(has_line(t, "sio_disconnects_total{reason=\"other\"} 1"));
  CHECK(has_line(t, "sio_closes_by_limit_total{limit=\"output_buffer\"} 1"));
  CHECK(has_line(t, "sio_closes_by_limit_total{limit=\"max_http_buffer_size\"} 1"));
  CHECK(has_line(t, "sio_sent_bytes_total{transport=\"websocket\"} 12345"));
  CHECK(has_line(t, "sio_connected_sockets{namespace=\"/we\\\"ird\\\\name\"} 0"));
  CHECK(has_line(t, "sio_connected_sockets{namespace=\"/\"} 0"));
  CHECK(has_line(t, "# TYPE sio_ack_duration_seconds histogram"));
  CHECK(has_line(t, "sio_ack_duration_seconds_bucket{le=\"0.0005\"} 1"));
  CHECK(has_line(t, "sio_ack_duration_seconds_bucket{le=\"2.5\"} 1"));
  CHECK(has_line(t, "sio_ack_duration_seconds_bucket{le=\"+Inf\"} 2"));
  CHECK(has_line(t, "sio_ack_duration_seconds_count 2"));
  CHECK(strstr(t, "sio_ack_duration_seconds_sum 3") != NULL);
  CHECK(has_line(t, "sio_engine_clients 0"));
  free(t);
  sio_server_free(srv);
  event_base_free(base);
}

int main(void) {
  test_text();
  TEST_END();
}
