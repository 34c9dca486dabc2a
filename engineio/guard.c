/*
 * Accept backoff and per-address limits. See guard.h.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sio/log.h"

#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 500
/* Episodes starting within this of the last warning do not warn again. */
#define WARN_EVERY_MS 60000

typedef struct addr_count {
  unsigned open;           /* connections now */
  double tokens;           /* rate bucket */
  uint64_t last_ms;
} addr_count;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void resume_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  eio_server *srv = arg;
  if (srv->listener && !srv->closing) evconnlistener_enable(srv->listener);
}

int eio_guard_init(eio_server *srv) {
  if (!srv->o.max_pending_connections) srv->o.max_pending_connections = 10000;
  sio_map_init(&srv->guard.addrs);
  srv->guard.resume = evtimer_new(srv->base, resume_cb, srv);
  return srv->guard.resume ? 0 : -1;
}

void eio_guard_free(eio_server *srv) {
  if (srv->guard.resume) event_free(srv->guard.resume);
  srv->guard.resume = NULL;
  size_t it;
  for (sio_map_entry *e = sio_map_first(&srv->guard.addrs, &it); e;
       e = sio_map_next(&srv->guard.addrs, e, &it))
    free(e->value);
  sio_map_clear(&srv->guard.addrs);
}

/* EMFILE/ENFILE (or no buffers): the listener stays readable, so libevent
 * would call us again at once, forever. Pause accepting and retry with a
 * growing delay; the kernel keeps the queued connections meanwhile. */
void eio_guard_accept_error(eio_server *srv) {
  int err = errno;
  eio_guard *g = &srv->guard;
  if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) return;
  if (!srv->listener || srv->closing) return;
  g->refused++;
  if (!g->delay_ms) {
    g->delay_ms = BACKOFF_FIRST_MS;
    g->episode_start = now_ms();
    g->quiet = g->last_warn && g->episode_start - g->last_warn < WARN_EVERY_MS;
    if (g->quiet) {
      g->quiet_episodes++;
    } else {
      g->last_warn = g->episode_start;
      if (g->quiet_episodes)
        sio_log(SIO_LOG_WARN, "engine",
                "accept: %s; pausing new connections until descriptors free"
                " up (%lu short pauses since the last warning)",
                strerror(err), g->quiet_episodes);
      else
        sio_log(SIO_LOG_WARN, "engine",
                "accept: %s; pausing new connections until descriptors free up",
                strerror(err));
      g->quiet_episodes = 0;
    }
  } else if (g->delay_ms < BACKOFF_MAX_MS) {
    g->delay_ms *= 2;
    if (g->delay_ms > BACKOFF_MAX_MS) g->delay_ms = BACKOFF_MAX_MS;
  }
  evconnlistener_disable(srv->listener);
  struct timeval tv = {g->delay_ms / 1000, (g->delay_ms % 1000) * 1000};
  evtimer_add(g->resume, &tv);
}

int eio_guard_admit(eio_server *srv, const char *addr) {
  eio_guard *g = &srv->guard;
  if (g->delay_ms) {
    if (!g->quiet)
      sio_log(SIO_LOG_INFO, "engine",
              "accepting again after %llu ms out of descriptors (%lu retries)",
              (unsigned long long)(now_ms() - g->episode_start), g->refused);
    g->delay_ms = 0;
    g->refused = 0;
  }
  const eio_options *o = &srv->o;
  if (!o->max_connections_per_address && !o->connections_per_address_per_sec)
    return 0;
  addr_count *a = sio_map_get(&g->addrs, addr);
  uint64_t now = now_ms();
  if (!a) {
    a = calloc(1, sizeof *a);
    if (!a || sio_map_put(&g->addrs, addr, a) < 0) {
      free(a);
      return -1;
    }
    a->tokens = o->connections_per_address_per_sec;
    a->last_ms = now;
  }
  if (o->connections_per_address_per_sec) {
    double rate = o->connections_per_address_per_sec;
    a->tokens += (double)(now - a->last_ms) * rate / 1000.0;
    if (a->tokens > rate) a->tokens = rate; /* a burst of one second */
    a->last_ms = now;
    if (a->tokens < 1.0) goto refuse;
    a->tokens -= 1.0;
  }
  if (o->max_connections_per_address && a->open >= o->max_connections_per_address)
    goto refuse;
  a->open++;
  return 0;
refuse:
  if (!a->open && !o->connections_per_address_per_sec) {
    sio_map_del(&g->addrs, addr);
    free(a);
  }
  return -1;
}

void eio_guard_release(eio_server *srv, const char *addr) {
  const eio_options *o = &srv->o;
  if (!o->max_connections_per_address && !o->connections_per_address_per_sec)
    return;
  addr_count *a = sio_map_get(&srv->guard.addrs, addr);
  if (!a) return;
  if (a->open) a->open--;
  /* Forget an address once it holds nothing and its bucket is full. */
  if (!a->open && (!o->connections_per_address_per_sec ||
                   a->tokens + (double)(now_ms() - a->last_ms) *
                                   o->connections_per_address_per_sec / 1000.0 >=
                       o->connections_per_address_per_sec)) {
    sio_map_del(&srv->guard.addrs, addr);
    free(a);
  }
}

eio_conn *eio_guard_fresh_add(eio_server *srv, eio_conn *c) {
  eio_guard *g = &srv->guard;
  c->fresh = 1;
  c->fnext = NULL;
  c->fprev = g->fresh_tail;
  if (g->fresh_tail) g->fresh_tail->fnext = c;
  else g->fresh_head = c;
  g->fresh_tail = c;
  g->fresh++;
  return g->fresh > srv->o.max_pending_connections ? g->fresh_head : NULL;
}

void eio_guard_fresh_del(eio_server *srv, eio_conn *c) {
  eio_guard *g = &srv->guard;
  if (!c->fresh) return;
  c->fresh = 0;
  if (c->fprev) c->fprev->fnext = c->fnext;
  else g->fresh_head = c->fnext;
  if (c->fnext) c->fnext->fprev = c->fprev;
  else g->fresh_tail = c->fprev;
  c->fprev = c->fnext = NULL;
  g->fresh--;
}
