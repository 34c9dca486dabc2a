/*
 * One timer structure per server for every per-socket and per-connection
 * deadline (ping interval, ping timeout, upgrade, close waits, HTTP
 * timeouts): a binary min-heap of deadlines driven by a single libevent
 * timer. A timer is a small record embedded in its owner (no allocation,
 * no libevent event per socket); the heap holds a pointer to each armed
 * one.
 *
 * Ownership and lifetime: the owner embeds an eio_timer and must cancel it
 * before freeing the memory that holds it (cancelling an unarmed timer is
 * a no-op). Callbacks run from the loop, never from inside eio_timer_arm or
 * eio_timer_cancel; a callback may arm or cancel any timer, itself
 * included. A timer armed from inside a callback never runs in the same
 * pass, even with a zero delay.
 */
#ifndef EIO_TIMERS_H
#define EIO_TIMERS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct event;

typedef struct eio_timer eio_timer;
typedef void (*eio_timer_cb)(eio_timer *t);

struct eio_timer {
  uint64_t due;     /* microseconds on the module's monotonic clock */
  eio_timer_cb cb;
  uint32_t slot;    /* heap index + 1; 0 while not armed */
};

/* The owner of an embedded timer, from the timer's address. */
#define EIO_TIMER_OWNER(t, type, member) \
  ((type *)(void *)((char *)(t) - offsetof(type, member)))

typedef struct eio_timers {
  struct event *ev;     /* the one libevent timer; NULL in unit tests */
  eio_timer **heap;
  uint32_t n, cap;
  uint64_t ev_due;      /* when ev is set to fire; 0: not set */
  uint64_t run_now;     /* the pass's time while callbacks run; else 0 */
} eio_timers;

/* base may be NULL (then nothing fires by itself: call eio_timers_run).
 * Returns 0, or -1 when out of memory. */
int eio_timers_init(eio_timers *w, struct event_base *base);
/* Frees the heap and the libevent timer; armed timers are forgotten. */
void eio_timers_free(eio_timers *w);

void eio_timer_init(eio_timer *t, eio_timer_cb cb);
/* (Re)arms t to fire delay_ms from now. Returns 0, or -1 when out of
 * memory (t is then not armed). */
int eio_timer_arm(eio_timers *w, eio_timer *t, uint64_t delay_ms);
void eio_timer_cancel(eio_timers *w, eio_timer *t);
static inline int eio_timer_armed(const eio_timer *t) { return t->slot != 0; }

/* The module's clock: monotonic microseconds. */
uint64_t eio_timers_now_us(void);
/* Runs every timer due at or before now_us (the libevent timer calls it
 * with the clock); returns how many ran. For unit tests. */
unsigned eio_timers_run(eio_timers *w, uint64_t now_us);
/* Arms t at an absolute due time (unit tests drive a fake clock). */
int eio_timer_arm_at(eio_timers *w, eio_timer *t, uint64_t due_us);

#endif
