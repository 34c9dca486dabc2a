/* Unit tests of engineio/loops.c: the per-loop task queue (posting from
 * several threads, FIFO per sender, exactly one call per task even when
 * the queue is cancelled while senders still post), and eio_server_post's
 * cancel-at-free over a multi-loop server. Also run under ThreadSanitizer
 * (SIO_TSAN). */
#include "test.h"
#include "loops.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define SENDERS 4
#define PER_SENDER 20000

static struct event_base *loop_base;
static size_t last_seq[SENDERS];  /* the loop thread's view */
static int order_errors;          /* loop thread only */
static int senders_done;          /* loop thread only */
static atomic_int calls[SENDERS][PER_SENDER];
static atomic_int cancelled_calls;

static uintptr_t enc(size_t sender, size_t seq) {
  return (uintptr_t)(sender << 24 | seq);
}

static void record(eio_server *t, void *arg, int cancelled) {
  (void)t;
  uintptr_t v = (uintptr_t)arg;
  size_t sender = v >> 24, seq = v & 0xffffff;
  atomic_fetch_add(&calls[sender][seq], 1);
  if (cancelled) {
    atomic_fetch_add(&cancelled_calls, 1);
    return;
  }
  if (seq != last_seq[sender] + 1) order_errors++;
  last_seq[sender] = seq;
  if (seq == PER_SENDER - 1 && ++senders_done == SENDERS)
    event_base_loopbreak(loop_base);
}

typedef struct sender {
  eio_loopq *q;
  size_t id, from, to;
} sender;

static void *send_main(void *arg) {
  sender *s = arg;
  for (size_t i = s->from; i < s->to; i++)
    while (eio_loopq_push(s->q, record, (void *)enc(s->id, i)) != 0) {
    }
  return NULL;
}

static void *loop_main(void *arg) {
  (void)arg;
  event_base_dispatch(loop_base);
  return NULL;
}

static void fifo_from_four_threads(void) {
  loop_base = event_base_new();
  eio_loopq *q = eio_loopq_new(NULL);
  CHECK(q != NULL);
  CHECK_EQ_INT(eio_loopq_attach(q, loop_base), 0);
  for (size_t i = 0; i < SENDERS; i++) last_seq[i] = (size_t)-1;
  pthread_t loop, th[SENDERS];
  sender s[SENDERS];
  pthread_create(&loop, NULL, loop_main, NULL);
  for (size_t i = 0; i < SENDERS; i++) {
    s[i] = (sender){q, i, 0, PER_SENDER};
    pthread_create(&th[i], NULL, send_main, &s[i]);
  }
  for (size_t i = 0; i < SENDERS; i++) pthread_join(th[i], NULL);
  pthread_join(loop, NULL);
  CHECK_EQ_INT(order_errors, 0);
  CHECK_EQ_INT(senders_done, SENDERS);
  int once = 1;
  for (size_t i = 0; i < SENDERS; i++)
    for (size_t j = 0; j < PER_SENDER; j++)
      if (atomic_load(&calls[i][j]) != 1) once = 0;
  CHECK(once);
  CHECK_EQ_INT(atomic_load(&cancelled_calls), 0);
  eio_loopq_free(q);
  event_base_free(loop_base);
}

/* Senders keep posting while the queue is cancelled under them (no loop
 * runs it): every task is called exactly once, with cancelled = 1. */
static void cancel_while_posting(void) {
  memset(calls, 0, sizeof calls);
  atomic_store(&cancelled_calls, 0);
  eio_loopq *q = eio_loopq_new(NULL);
  CHECK(q != NULL);
  pthread_t th[SENDERS];
  sender s[SENDERS];
  for (size_t i = 0; i < SENDERS; i++) {
    s[i] = (sender){q, i, 0, PER_SENDER};
    pthread_create(&th[i], NULL, send_main, &s[i]);
  }
  usleep(1000);
  eio_loopq_cancel_all(q);
  for (size_t i = 0; i < SENDERS; i++) pthread_join(th[i], NULL);
  eio_loopq_free(q);
  int once = 1;
  for (size_t i = 0; i < SENDERS; i++)
    for (size_t j = 0; j < PER_SENDER; j++)
      if (atomic_load(&calls[i][j]) != 1) once = 0;
  CHECK(once);
  CHECK_EQ_INT(atomic_load(&cancelled_calls), SENDERS * PER_SENDER);
}

/* The public API: a three-loop server that never listened (no threads)
 * gets tasks from four threads; freeing it cancels each exactly once. The
 * thread-local current loop and the replica accessors agree. */
static eio_server *post_target;
static void *post_main(void *arg) {
  sender *s = arg;
  for (size_t i = s->from; i < s->to; i++)
    while (eio_server_post(post_target, record, (void *)enc(s->id, i)) != 0) {
    }
  return NULL;
}

static void server_post_cancelled_at_free(void) {
  memset(calls, 0, sizeof calls);
  atomic_store(&cancelled_calls, 0);
  struct event_base *base = event_base_new();
  eio_options o;
  eio_options_init(&o);
  o.workers = 3;
  eio_server *srv = eio_server_new(base, &o);
  CHECK(srv != NULL);
  if (!srv) return;
  CHECK_EQ_INT(eio_server_workers(srv), 3);
  CHECK_EQ_INT(eio_server_worker_index(srv), 0);
  eio_server *r2 = eio_server_worker(srv, 2);
  CHECK(r2 != NULL && r2 != srv);
  CHECK_EQ_INT(eio_server_worker_index(r2), 2);
  CHECK(eio_server_worker(r2, 0) == srv);
  CHECK(eio_server_worker(srv, 3) == NULL);
  CHECK(eio_server_base(srv) == base);
  CHECK(eio_server_base(r2) != base);
  CHECK(eio_server_current(r2) == srv); /* this thread created it */
  CHECK_EQ_INT(eio_server_clients_count(r2), 0);
  post_target = r2;
  pthread_t th[SENDERS];
  sender s[SENDERS];
  for (size_t i = 0; i < SENDERS; i++) {
    s[i] = (sender){NULL, i, 0, 1000};
    pthread_create(&th[i], NULL, post_main, &s[i]);
  }
  for (size_t i = 0; i < SENDERS; i++) pthread_join(th[i], NULL);
  CHECK_EQ_INT(atomic_load(&cancelled_calls), 0);
  eio_server_free(srv);
  CHECK_EQ_INT(atomic_load(&cancelled_calls), SENDERS * 1000);
  int once = 1;
  for (size_t i = 0; i < SENDERS; i++)
    for (size_t j = 0; j < 1000; j++)
      if (atomic_load(&calls[i][j]) != 1) once = 0;
  CHECK(once);
  event_base_free(base);
}

static int thread_current_null;
static void *current_main(void *arg) {
  thread_current_null = eio_server_current(arg) == NULL;
  return NULL;
}

static void current_on_other_thread(void) {
  struct event_base *base = event_base_new();
  eio_options o;
  eio_options_init(&o);
  o.workers = 2;
  eio_server *srv = eio_server_new(base, &o);
  pthread_t t;
  pthread_create(&t, NULL, current_main, srv);
  pthread_join(t, NULL);
  CHECK(thread_current_null);
  eio_server_free(srv);
  event_base_free(base);
}

static int batch_runs;
static void count_task(eio_server *t, void *arg, int cancelled) {
  (void)t;
  (void)arg;
  if (!cancelled) batch_runs++;
}

/* eio_loopq_push_from: the target's wake-up waits for the end of the
 * sender's turn, and what the turn posted runs in one go; a plain push
 * writes a deferred wake-up at once; detaching the sender writes what it
 * owes and ends the deferring. One thread, two bases, deterministic. */
static void deferred_wake(void) {
  struct event_base *ba = event_base_new(), *bb = event_base_new();
  eio_loopq *qa = eio_loopq_new(NULL), *qb = eio_loopq_new(NULL);
  CHECK(ba && bb && qa && qb);
  CHECK_EQ_INT(eio_loopq_attach(qa, ba), 0);
  CHECK_EQ_INT(eio_loopq_attach(qb, bb), 0);
  batch_runs = 0;
  CHECK_EQ_INT(eio_loopq_push_from(qb, qa, count_task, NULL), 0);
  CHECK_EQ_INT(eio_loopq_push_from(qb, qa, count_task, NULL), 0);
  event_base_loop(bb, EVLOOP_NONBLOCK);
  CHECK_EQ_INT(batch_runs, 0); /* not woken: the sender's turn goes on */
  event_base_loop(ba, EVLOOP_NONBLOCK); /* its turn ends: one wake-up */
  event_base_loop(bb, EVLOOP_NONBLOCK);
  CHECK_EQ_INT(batch_runs, 2);
  event_base_loop(bb, EVLOOP_NONBLOCK);
  CHECK_EQ_INT(batch_runs, 2);
  /* a deferred wake-up, then a plain push: woken now, both run */
  CHECK_EQ_INT(eio_loopq_push_from(qb, qa, count_task, NULL), 0);
  CHECK_EQ_INT(eio_loopq_push(qb, count_task, NULL), 0);
  event_base_loop(bb, EVLOOP_NONBLOCK);
  CHECK_EQ_INT(batch_runs, 4);
  event_base_loop(ba, EVLOOP_NONBLOCK); /* owes nothing any more */
  /* the sender detached: what it owed is written, later posts wake at once */
  CHECK_EQ_INT(eio_loopq_push_from(qb, qa, count_task, NULL), 0);
  eio_loopq_detach(qa);
  event_base_loop(bb, EVLOOP_NONBLOCK);
  CHECK_EQ_INT(batch_runs, 5);
  CHECK_EQ_INT(eio_loopq_push_from(qb, qa, count_task, NULL), 0);
  event_base_loop(bb, EVLOOP_NONBLOCK);
  CHECK_EQ_INT(batch_runs, 6);
  /* a queue sending to itself is woken at once */
  CHECK_EQ_INT(eio_loopq_push_from(qb, qb, count_task, NULL), 0);
  event_base_loop(bb, EVLOOP_NONBLOCK);
  CHECK_EQ_INT(batch_runs, 7);
  eio_loopq_free(qa);
  eio_loopq_free(qb);
  event_base_free(ba);
  event_base_free(bb);
}

int main(void) {
  deferred_wake();
  fifo_from_four_threads();
  cancel_while_posting();
  server_post_cancelled_at_free();
  current_on_other_thread();
  TEST_END();
}
