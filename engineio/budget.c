/*
 * Output limits across the sockets of one Engine.IO server, and memory given
 * back after a burst. See budget.h.
 */
#include "internal.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define DEFAULT_SOFT (16u * 1024 * 1024)
#define DEFAULT_SOFT_MS 30000
#define DEFAULT_TOTAL (256u * 1024 * 1024)
#define SWEEP_MS 200
/* A volatile packet is dropped for a socket holding more than this. */
#define VOLATILE_BACKLOG (64 * 1024)
/* Trim once the total stayed under QUIET_BYTES for QUIET_SWEEPS sweeps
 * after it had reached TRIM_AFTER (a burst worth giving back). */
#define QUIET_BYTES (256 * 1024)
#define QUIET_SWEEPS 3
#define TRIM_AFTER (4u * 1024 * 1024)

/* The allocator is one per process and malloc_trim(0) walks every arena
 * (each loop thread allocates from its own): one trim after a burst gives
 * back what every loop freed. When the last one ran (CLOCK_MONOTONIC ms). */
static _Atomic uint64_t last_trim_ms;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The per-socket clock (budget.h): 32 bits, never 0. */
static uint32_t now32(void) {
  uint32_t t = (uint32_t)now_ms();
  return t ? t : 1;
}

static void sweep_cb(evutil_socket_t fd, short w, void *arg);
static void set_total(eio_server *srv, size_t t);

int eio_budget_init(eio_server *srv) {
  eio_options *o = &srv->o;
  if (!o->soft_output_bytes) o->soft_output_bytes = DEFAULT_SOFT;
  if (!o->soft_output_ms) o->soft_output_ms = DEFAULT_SOFT_MS;
  if (!o->max_total_output_bytes) o->max_total_output_bytes = DEFAULT_TOTAL;
  srv->budget.sweep = evtimer_new(srv->base, sweep_cb, srv);
  return srv->budget.sweep ? 0 : -1;
}

void eio_budget_free(eio_server *srv) {
  set_total(srv, 0);
  if (srv->budget.sweep) event_free(srv->budget.sweep);
  srv->budget.sweep = NULL;
}

static void arm(eio_server *srv) {
  if (srv->budget.sweeping || !srv->budget.sweep || srv->closing) return;
  srv->budget.sweeping = 1;
  struct timeval tv = {0, SWEEP_MS * 1000};
  evtimer_add(srv->budget.sweep, &tv);
}

/* This loop's total; the process total (every loop's) follows it. */
static void set_total(eio_server *srv, size_t t) {
  eio_budget *b = &srv->budget;
  if (srv->grp) {
    if (t >= b->total) atomic_fetch_add(&srv->grp->total_out, t - b->total);
    else atomic_fetch_sub(&srv->grp->total_out, b->total - t);
  }
  b->total = t;
}

/* Bytes queued over the whole process, what max_total_output_bytes bounds:
 * each loop closes its own largest holders while it is over. */
static size_t process_total(const eio_server *srv) {
  return srv->grp ? atomic_load(&srv->grp->total_out) : srv->budget.total;
}

/* The peak that decides a trim is the process's: over several loops a
 * burst spread over them can reach TRIM_AFTER with no loop reaching it. */
static void set_acct(eio_socket *s, size_t n) {
  eio_budget *b = &s->srv->budget;
  set_total(s->srv, b->total - s->budget.acct + n);
  s->budget.acct = n;
  size_t pt = process_total(s->srv);
  if (pt > b->peak) b->peak = pt;
}

typedef struct cand {
  eio_socket *s;
  size_t n;
} cand;

static int by_size_desc(const void *a, const void *b) {
  size_t x = ((const cand *)a)->n, y = ((const cand *)b)->n;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The total is over its limit: recount exactly, then close the sockets
 * holding the most until it is under again. */
static void enforce_total(eio_server *srv) {
  eio_budget *b = &srv->budget;
  size_t n = srv->sessions.count, k = 0, total = 0;
  cand *v = malloc((n ? n : 1) * sizeof *v);
  size_t it;
  for (sio_map_entry *e = sio_map_first(&srv->sessions, &it); e;
       e = sio_map_next(&srv->sessions, e, &it)) {
    eio_socket *s = e->value;
    size_t q = s->ready == SOCK_CLOSED ? 0 : eio_socket_buffered(s);
    set_acct(s, q);
    total += q;
    if (v && q) v[k++] = (cand){s, q};
  }
  set_total(srv, total);
  if (!v) return;
  qsort(v, k, sizeof *v, by_size_desc);
  /* Dropping may run user callbacks; hold each socket while we go. */
  for (size_t i = 0; i < k; i++) v[i].s->refs++;
  /* Over several loops each closes its own largest holders until the
   * process is under the limit or this loop holds no more than its share
   * (the other loops, over theirs, do the same). */
  size_t share = srv->o.max_total_output_bytes / (srv->grp ? srv->grp->n : 1);
  for (size_t i = 0; i < k && process_total(srv) > srv->o.max_total_output_bytes &&
                     b->total > share;
       i++)
    eio_srv_sock_drop(v[i].s, "total output limit exceeded");
  for (size_t i = 0; i < k; i++) eio_srv_sock_release(v[i].s);
  free(v);
}

static void check_soft(eio_socket *s, uint32_t now) {
  if (s->budget.acct <= s->srv->o.soft_output_bytes) {
    s->budget.soft_since_ms = 0;
    return;
  }
  if (!s->budget.soft_since_ms) {
    s->budget.soft_since_ms = now;
    return;
  }
  if ((uint32_t)(now - s->budget.soft_since_ms) >= s->srv->o.soft_output_ms)
    eio_srv_sock_drop(s, "soft output limit exceeded");
}

void eio_budget_account(eio_socket *s) {
  eio_server *srv = s->srv;
  if (s->ready == SOCK_CLOSED) return;
  set_acct(s, eio_socket_buffered(s));
  if (s->budget.acct) arm(srv);
  if (s->budget.acct > srv->o.soft_output_bytes || s->budget.soft_since_ms)
    check_soft(s, now32());
  if (process_total(srv) > srv->o.max_total_output_bytes) enforce_total(srv);
}

void eio_budget_forget(eio_socket *s) {
  set_acct(s, 0);
  s->budget.soft_since_ms = 0;
}

int eio_budget_volatile_ok(const eio_socket *s) {
  const eio_server *srv = s->srv;
  if (process_total(srv) > srv->o.max_total_output_bytes / 2) return 0;
  return eio_socket_buffered(s) <= VOLATILE_BACKLOG;
}

/* Every SWEEP_MS while anything is queued: exact recount, soft limits,
 * total limit; once quiet after a burst, the allocator gives free memory
 * back to the system. */
static void sweep_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  eio_server *srv = arg;
  eio_budget *b = &srv->budget;
  b->sweeping = 0;
  uint64_t now = now_ms();
  size_t total = 0;
  size_t it;
  for (sio_map_entry *e = sio_map_first(&srv->sessions, &it); e;
       e = sio_map_next(&srv->sessions, e, &it)) {
    eio_socket *s = e->value;
    if (s->ready == SOCK_CLOSED) continue;
    set_acct(s, eio_socket_buffered(s));
    total += s->budget.acct;
  }
  set_total(srv, total);
  /* Soft limits: collect first, since dropping changes the table. */
  if (total > srv->o.soft_output_bytes) {
    size_t n = srv->sessions.count, k = 0;
    eio_socket **v = malloc((n ? n : 1) * sizeof *v);
    if (v) {
      for (sio_map_entry *e = sio_map_first(&srv->sessions, &it); e;
           e = sio_map_next(&srv->sessions, e, &it)) {
        eio_socket *s = e->value;
        if (s->budget.acct > srv->o.soft_output_bytes || s->budget.soft_since_ms) {
          s->refs++;
          v[k++] = s;
        }
      }
      for (size_t i = 0; i < k; i++) {
        if (v[i]->ready != SOCK_CLOSED) check_soft(v[i], now32());
        eio_srv_sock_release(v[i]);
      }
      free(v);
    }
  }
  if (process_total(srv) > srv->o.max_total_output_bytes) enforce_total(srv);
  size_t pt = process_total(srv);
  if (pt < QUIET_BYTES) {
    if (b->peak >= TRIM_AFTER && !b->quiet_sweeps++) b->quiet_since_ms = now;
    if (b->peak >= TRIM_AFTER && b->quiet_sweeps >= QUIET_SWEEPS) {
      /* Another loop that trimmed after this one went quiet gave back
       * what this loop had freed too. */
      if (atomic_load(&last_trim_ms) < b->quiet_since_ms) {
        malloc_trim(0);
        atomic_store(&last_trim_ms, now_ms());
      }
      b->peak = pt;
      b->quiet_sweeps = 0;
    }
  } else {
    b->quiet_sweeps = 0;
  }
  if (b->total || b->peak >= TRIM_AFTER) arm(srv);
}

int eio_budget_inbound(eio_socket *s) {
  unsigned rate = s->srv->o.max_inbound_packets_per_sec;
  if (!rate) return 0;
  uint32_t now = now32();
  eio_budget_sock *b = &s->budget;
  if (!b->in_last_ms) b->in_tokens = (float)rate;
  else b->in_tokens += (float)((double)(uint32_t)(now - b->in_last_ms) * rate / 1000.0);
  if (b->in_tokens > (float)rate) b->in_tokens = (float)rate;
  b->in_last_ms = now;
  if (b->in_tokens < 1.0f) return -1;
  b->in_tokens -= 1.0f;
  return 0;
}
