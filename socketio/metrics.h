/* Counters behind include/sio/metrics.h, bumped by the hooks in
 * socketio/hooks.h and by the Redis layer. Each thread (event loop) bumps
 * its own block, as relaxed atomic loads and stores (one writer: no
 * locked instruction, no shared cache line); a scrape sums the blocks. */
#ifndef SIO_METRICS_PRIV_H
#define SIO_METRICS_PRIV_H
#include <stddef.h>
#include <stdint.h>

#include "sio/engineio.h"

enum { SIO_M_POLLING = 0, SIO_M_WEBSOCKET = 1, SIO_M_TRANSPORTS = 2 };

/* Adapter request kinds (the Redis adapter's request types). */
enum {
  SIO_M_REQ_FETCH_SOCKETS = 0,
  SIO_M_REQ_SERVER_SIDE_EMIT,
  SIO_M_REQ_BROADCAST_ACK,
  SIO_M_REQ_OTHER,
  SIO_M_REQ_KINDS
};

#define SIO_M_BUCKETS 10
typedef struct sio_m_hist {
  uint64_t counts[SIO_M_BUCKETS]; /* per bucket, not cumulative */
  uint64_t count;
  uint64_t sum_us;
} sio_m_hist;

#define SIO_M_REASONS 12
typedef struct sio_m_counters {
  uint64_t connects;
  uint64_t disconnects[SIO_M_REASONS];
  uint64_t packets_in[SIO_M_TRANSPORTS], packets_out[SIO_M_TRANSPORTS];
  uint64_t bytes_in[SIO_M_TRANSPORTS], bytes_out[SIO_M_TRANSPORTS];
  uint64_t broadcast_deliveries;
  uint64_t engine_opens;
  uint64_t closes_by_limit[3];
  uint64_t adapter_requests[SIO_M_REQ_KINDS];
  uint64_t adapter_timeouts[SIO_M_REQ_KINDS];
  uint64_t redis_reconnects;
  sio_m_hist handshake, ack;
} sio_m_counters;

/* This thread's block (made on first use; kept for the process's life). */
sio_m_counters *sio_m_mine(void);
#define sio_m (*sio_m_mine())
/* lv += n on this thread's block (lv is a field of sio_m). */
#define SIO_M_ADD(lv, n)                                                      \
  do {                                                                        \
    uint64_t *p_ = &(lv);                                                     \
    __atomic_store_n(p_, __atomic_load_n(p_, __ATOMIC_RELAXED) + (uint64_t)(n), \
                     __ATOMIC_RELAXED);                                       \
  } while (0)
/* The sum over every thread's block. */
void sio_m_sum(sio_m_counters *out);

/* Monotonic microseconds. */
uint64_t sio_m_now_us(void);
int sio_m_transport(const eio_socket *conn);
void sio_m_disconnect(const char *reason);
void sio_m_close(const char *reason, const char *desc);
void sio_m_observe(sio_m_hist *h, uint64_t since_us);

struct sio_server;
struct eio_http_response;
/* The server's HTTP dispatcher asks first: 1 when it answered. */
int sio_metrics_handle(struct sio_server *srv, const eio_request *req,
                       struct eio_http_response *res);
#endif
