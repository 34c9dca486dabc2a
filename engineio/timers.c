/*
 * The per-server timer heap (timers.h). A binary min-heap ordered by due
 * time; each armed timer knows its slot, so cancel and re-arm are
 * O(log n) without a search. One libevent timer is kept set for the
 * earliest deadline; it is moved earlier when a sooner timer is armed and
 * left alone when the earliest is cancelled (it then fires, runs nothing
 * and is set for the next one), unless nothing is left armed: then it is
 * removed, so that an event loop with nothing else to do can end.
 */
#include "timers.h"

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#define MIN_CAP 16

uint64_t eio_timers_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void place(eio_timers *w, uint32_t i, eio_timer *t) {
  w->heap[i] = t;
  t->slot = i + 1;
}

static void sift_up(eio_timers *w, uint32_t i) {
  eio_timer *t = w->heap[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (w->heap[p]->due <= t->due) break;
    place(w, i, w->heap[p]);
    i = p;
  }
  place(w, i, t);
}

static void sift_down(eio_timers *w, uint32_t i) {
  eio_timer *t = w->heap[i];
  for (;;) {
    uint32_t l = 2 * i + 1;
    if (l >= w->n) break;
    uint32_t m = l + 1 < w->n && w->heap[l + 1]->due < w->heap[l]->due ? l + 1 : l;
    if (t->due <= w->heap[m]->due) break;
    place(w, i, w->heap[m]);
    i = m;
  }
  place(w, i, t);
}

static void remove_at(eio_timers *w, uint32_t i) {
  eio_timer *t = w->heap[i];
  t->slot = 0;
  w->n--;
  if (i != w->n) {
    eio_timer *last = w->heap[w->n];
    place(w, i, last);
    if (i > 0 && w->heap[(i - 1) / 2]->due > last->due) sift_up(w, i);
    else sift_down(w, i);
  }
  /* Give memory back after a crowd has gone. */
  if (w->cap > MIN_CAP && w->n < w->cap / 4) {
    eio_timer **h = realloc(w->heap, (w->cap / 2) * sizeof *h);
    if (h) {
      w->heap = h;
      w->cap /= 2;
    }
  }
}

/* Sets the libevent timer for the earliest deadline when it is not set
 * for it or for something sooner. */
static void schedule(eio_timers *w) {
  if (!w->ev || !w->n || w->run_now) return;
  uint64_t due = w->heap[0]->due;
  if (w->ev_due && w->ev_due <= due) return;
  uint64_t now = eio_timers_now_us();
  uint64_t d = due > now ? due - now : 0;
  struct timeval tv = {(time_t)(d / 1000000u), (suseconds_t)(d % 1000000u)};
  if (evtimer_add(w->ev, &tv) == 0) w->ev_due = due;
}

static void fire_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  eio_timers *w = arg;
  w->ev_due = 0;
  eio_timers_run(w, eio_timers_now_us());
  schedule(w);
}

int eio_timers_init(eio_timers *w, struct event_base *base) {
  w->heap = NULL;
  w->n = w->cap = 0;
  w->ev_due = w->run_now = 0;
  w->ev = NULL;
  if (base && !(w->ev = evtimer_new(base, fire_cb, w))) return -1;
  return 0;
}

void eio_timers_free(eio_timers *w) {
  for (uint32_t i = 0; i < w->n; i++) w->heap[i]->slot = 0;
  free(w->heap);
  w->heap = NULL;
  w->n = w->cap = 0;
  if (w->ev) event_free(w->ev);
  w->ev = NULL;
}

void eio_timer_init(eio_timer *t, eio_timer_cb cb) {
  t->due = 0;
  t->cb = cb;
  t->slot = 0;
}

int eio_timer_arm_at(eio_timers *w, eio_timer *t, uint64_t due) {
  /* Armed from a callback: never in the pass that is running. */
  if (w->run_now && due <= w->run_now) due = w->run_now + 1;
  if (t->slot) {
    uint64_t old = t->due;
    t->due = due;
    if (due < old) sift_up(w, t->slot - 1);
    else sift_down(w, t->slot - 1);
  } else {
    if (w->n == w->cap) {
      uint32_t cap = w->cap ? w->cap * 2 : MIN_CAP;
      eio_timer **h = realloc(w->heap, cap * sizeof *h);
      if (!h) return -1;
      w->heap = h;
      w->cap = cap;
    }
    t->due = due;
    w->heap[w->n] = t;
    t->slot = ++w->n;
    sift_up(w, w->n - 1);
  }
  schedule(w);
  return 0;
}

int eio_timer_arm(eio_timers *w, eio_timer *t, uint64_t delay_ms) {
  return eio_timer_arm_at(w, t, eio_timers_now_us() + delay_ms * 1000u);
}

void eio_timer_cancel(eio_timers *w, eio_timer *t) {
  if (!t->slot) return;
  remove_at(w, t->slot - 1);
  /* Nothing left: the loop must be free to end (event_base_dispatch
   * returns when no event is pending). */
  if (!w->n && w->ev_due && !w->run_now) {
    event_del(w->ev);
    w->ev_due = 0;
  }
}

unsigned eio_timers_run(eio_timers *w, uint64_t now) {
  unsigned ran = 0;
  if (!now) now = 1;
  w->run_now = now;
  while (w->n && w->heap[0]->due <= now) {
    eio_timer *t = w->heap[0];
    remove_at(w, 0);
    ran++;
    t->cb(t);
  }
  w->run_now = 0;
  if (!w->n && w->ev_due && w->ev) {
    event_del(w->ev);
    w->ev_due = 0;
  }
  return ran;
}
