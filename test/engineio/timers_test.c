/* Unit tests of engineio/timers.c: the per-server timer heap. */
#include "test.h"
#include "timers.h"

#include <event2/event.h>
#include <stdint.h>

typedef struct owner {
  int id;
  eio_timer t;
  eio_timer other;
} owner;

static int fired[4096], nfired;
static eio_timers *W;

static void record_cb(eio_timer *t) {
  owner *o = EIO_TIMER_OWNER(t, owner, t);
  fired[nfired++] = o->id;
}

static void order_and_cancel(void) {
  eio_timers w;
  CHECK_EQ_INT(eio_timers_init(&w, NULL), 0);
  owner o[5];
  for (int i = 0; i < 5; i++) {
    o[i].id = i;
    eio_timer_init(&o[i].t, record_cb);
    CHECK(!eio_timer_armed(&o[i].t));
  }
  eio_timer_arm_at(&w, &o[0].t, 500);
  eio_timer_arm_at(&w, &o[1].t, 100);
  eio_timer_arm_at(&w, &o[2].t, 300);
  eio_timer_arm_at(&w, &o[3].t, 200);
  eio_timer_arm_at(&w, &o[4].t, 400);
  CHECK(eio_timer_armed(&o[2].t));
  eio_timer_cancel(&w, &o[2].t);        /* cancel from the middle */
  CHECK(!eio_timer_armed(&o[2].t));
  eio_timer_cancel(&w, &o[2].t);        /* twice: no-op */
  eio_timer_arm_at(&w, &o[0].t, 50);    /* re-arm earlier */
  eio_timer_arm_at(&w, &o[1].t, 450);   /* re-arm later */
  nfired = 0;
  CHECK_EQ_INT(eio_timers_run(&w, 49), 0);
  CHECK_EQ_INT(eio_timers_run(&w, 200), 2); /* due == now runs */
  CHECK_EQ_INT(nfired, 2);
  CHECK_EQ_INT(fired[0], 0);
  CHECK_EQ_INT(fired[1], 3);
  CHECK(!eio_timer_armed(&o[0].t));
  CHECK_EQ_INT(eio_timers_run(&w, 1000), 2);
  CHECK_EQ_INT(fired[2], 4);
  CHECK_EQ_INT(fired[3], 1);
  CHECK_EQ_INT(w.n, 0);
  eio_timers_free(&w);
}

/* A callback that re-arms itself with no delay, cancels another due
 * timer, and arms a third that is already due. */
static owner cb_a, cb_b, cb_c;
static int a_runs;

static void a_cb(eio_timer *t) {
  a_runs++;
  fired[nfired++] = 100;
  eio_timer_arm_at(W, t, 0);            /* self, already due: next pass */
  eio_timer_cancel(W, &cb_b.t);         /* b was due in this pass */
  if (a_runs == 1) eio_timer_arm_at(W, &cb_c.t, 1); /* past: next pass */
}

static void rearm_in_callback(void) {
  eio_timers w;
  W = &w;
  eio_timers_init(&w, NULL);
  cb_a.id = 100;
  cb_b.id = 101;
  cb_c.id = 102;
  eio_timer_init(&cb_a.t, a_cb);
  eio_timer_init(&cb_b.t, record_cb);
  eio_timer_init(&cb_c.t, record_cb);
  eio_timer_arm_at(&w, &cb_a.t, 10);
  eio_timer_arm_at(&w, &cb_b.t, 20);
  nfired = 0;
  a_runs = 0;
  CHECK_EQ_INT(eio_timers_run(&w, 30), 1);  /* a only: b cancelled */
  CHECK_EQ_INT(a_runs, 1);
  CHECK(eio_timer_armed(&cb_a.t));
  CHECK(eio_timer_armed(&cb_c.t));
  CHECK(!eio_timer_armed(&cb_b.t));
  /* The next pass runs what the callback armed (a re-arms again). */
  CHECK_EQ_INT(eio_timers_run(&w, 31), 2);
  CHECK_EQ_INT(a_runs, 2);
  CHECK_EQ_INT(fired[nfired - 1] == 102 || fired[nfired - 2] == 102, 1);
  eio_timer_cancel(&w, &cb_a.t);
  eio_timer_cancel(&w, &cb_c.t);
  CHECK_EQ_INT(w.n, 0);
  eio_timers_free(&w);
}

/* A socket freed (by another timer's callback) while its own timer is due
 * in the same pass: its free cancels the timer, which then never runs (ASan
 * would see the use after free). */
static owner *victim;

static void free_owner(owner *o) {
  eio_timer_cancel(W, &o->t);
  eio_timer_cancel(W, &o->other);
  free(o);
}

static void killer_cb(eio_timer *t) {
  fired[nfired++] = EIO_TIMER_OWNER(t, owner, t)->id;
  if (victim) {
    free_owner(victim);
    victim = NULL;
  }
}

static void freed_while_due(void) {
  eio_timers w;
  W = &w;
  eio_timers_init(&w, NULL);
  owner *k = calloc(1, sizeof *k);
  victim = calloc(1, sizeof *victim);
  k->id = 1;
  victim->id = 2;
  eio_timer_init(&k->t, killer_cb);
  eio_timer_init(&k->other, record_cb);
  eio_timer_init(&victim->t, record_cb);
  eio_timer_init(&victim->other, record_cb);
  eio_timer_arm_at(&w, &k->t, 10);
  eio_timer_arm_at(&w, &victim->t, 10);
  eio_timer_arm_at(&w, &victim->other, 11);
  nfired = 0;
  CHECK_EQ_INT(eio_timers_run(&w, 100), 1);
  CHECK_EQ_INT(nfired, 1);
  CHECK_EQ_INT(fired[0], 1);
  CHECK(victim == NULL);
  CHECK_EQ_INT(w.n, 0);
  /* Freeing the heap with timers still armed forgets them. */
  eio_timer_arm_at(&w, &k->other, 5);
  eio_timers_free(&w);
  CHECK(!eio_timer_armed(&k->other));
  free(k);
}

/* Many random arms, re-arms and cancels against a plain array: each pass
 * runs exactly the due timers, in due order; the heap shrinks back. */
static void random_against_model(void) {
  enum { N = 2000 };
  static owner o[N];
  static uint64_t model[N]; /* 0: not armed */
  eio_timers w;
  eio_timers_init(&w, NULL);
  uint32_t seed = 12345;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 8))
  for (int i = 0; i < N; i++) {
    o[i].id = i;
    eio_timer_init(&o[i].t, record_cb);
    model[i] = 0;
  }
  uint64_t now = 1;
  int bad_order = 0, bad_set = 0;
  for (int round = 0; round < 200; round++) {
    for (int k = 0; k < 300; k++) {
      int i = (int)(RND() % N);
      if (RND() % 4 == 0) {
        eio_timer_cancel(&w, &o[i].t);
        model[i] = 0;
      } else {
        uint64_t due = now + 1 + RND() % 5000;
        eio_timer_arm_at(&w, &o[i].t, due);
        model[i] = due;
      }
    }
    now += 1 + RND() % 3000;
    int expect = 0;
    for (int i = 0; i < N; i++) expect += model[i] && model[i] <= now;
    nfired = 0;
    unsigned ran = eio_timers_run(&w, now);
    if ((int)ran != expect || nfired != expect) bad_set++;
    for (int j = 0; j < nfired; j++) {
      int i = fired[j];
      if (!model[i] || model[i] > now) bad_set++;
      if (j && model[fired[j - 1]] > model[i]) bad_order++;
    }
    for (int j = 0; j < nfired; j++) model[fired[j]] = 0;
    int armed = 0;
    for (int i = 0; i < N; i++) {
      armed += model[i] != 0;
      if ((model[i] != 0) != eio_timer_armed(&o[i].t)) bad_set++;
    }
    if ((int)w.n != armed) bad_set++;
  }
  CHECK_EQ_INT(bad_order, 0);
  CHECK_EQ_INT(bad_set, 0);
  for (int i = 0; i < N; i++) eio_timer_cancel(&w, &o[i].t);
  CHECK_EQ_INT(w.n, 0);
  CHECK(w.cap <= 32);   /* given back as it emptied */
  eio_timers_free(&w);
}

/* With libevent: the one event fires the timers in order and the loop
 * ends when nothing is armed; a sooner timer moves the event earlier. */
static eio_timers *LW;
static uint64_t t0;
static uint64_t at[3];

static void loop_cb(eio_timer *t) {
  owner *o = EIO_TIMER_OWNER(t, owner, t);
  at[o->id] = eio_timers_now_us() - t0;
  fired[nfired++] = o->id;
}

static void with_libevent(void) {
  struct event_base *base = event_base_new();
  eio_timers w;
  LW = &w;
  CHECK_EQ_INT(eio_timers_init(&w, base), 0);
  owner o[3];
  for (int i = 0; i < 3; i++) {
    o[i].id = i;
    eio_timer_init(&o[i].t, loop_cb);
  }
  t0 = eio_timers_now_us();
  nfired = 0;
  eio_timer_arm(&w, &o[0].t, 60);
  eio_timer_arm(&w, &o[1].t, 20);   /* sooner: the event moves */
  eio_timer_arm(&w, &o[2].t, 40);
  eio_timer_cancel(&w, &o[1].t);    /* the earliest goes: event fires idle */
  eio_timer_arm(&w, &o[1].t, 10);
  event_base_dispatch(base);
  CHECK_EQ_INT(nfired, 3);
  CHECK_EQ_INT(fired[0], 1);
  CHECK_EQ_INT(fired[1], 2);
  CHECK_EQ_INT(fired[2], 0);
  CHECK(at[1] >= 10000);   /* never early */
  CHECK(at[2] >= 40000);
  CHECK(at[0] >= 60000);
  /* Cancelling the last armed timer removes the libevent timer, so a loop
   * with nothing else to do ends (a stopping server must not wait for a
   * cancelled deadline); cancelling one of two leaves it set. */
  eio_timer_arm(&w, &o[0].t, 5000);
  eio_timer_arm(&w, &o[1].t, 6000);
  CHECK(event_pending(w.ev, EV_TIMEOUT, NULL));
  eio_timer_cancel(&w, &o[0].t);
  CHECK(event_pending(w.ev, EV_TIMEOUT, NULL));
  eio_timer_cancel(&w, &o[1].t);
  CHECK(!event_pending(w.ev, EV_TIMEOUT, NULL));
  CHECK_EQ_INT(event_base_dispatch(base), 1); /* 1: no events pending */
  CHECK_EQ_INT(nfired, 3);
  eio_timers_free(&w);
  event_base_free(base);
}

int main(void) {
  order_and_cancel();
  rearm_in_callback();
  freed_while_due();
  random_against_model();
  with_libevent();
  TEST_END();
}
