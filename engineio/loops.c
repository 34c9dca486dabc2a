/*
 * Per-loop task queues and the thread-local current loop. See loops.h.
 */
#include "loops.h"

#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct task {
  struct task *next;
  eio_task_fn fn;
  void *arg;
} task;

/* At most this many queues can owe a deferred wake-up to one loop's turn
 * (one per other loop: MAX_WORKERS in workers.c is below it). */
#define MAX_PENDING 256

struct eio_loopq {
  pthread_mutex_t mu;
  task *head, *tail;   /* under mu */
  int cancelled;       /* under mu */
  int owed;            /* under mu: a wake-up deferred, not yet written */
  int efd;
  struct event *ev;
  eio_server *target;
  /* This queue's loop as a sender (its thread only): the queues whose
   * wake-up it deferred to the end of the current turn. */
  struct event_base *base;
  struct event *flush;
  eio_loopq *pending[MAX_PENDING];
  size_t npending;
  int detached;
};

eio_loopq *eio_loopq_new(eio_server *target) {
  eio_loopq *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (q->efd < 0 || pthread_mutex_init(&q->mu, NULL) != 0) {
    if (q->efd >= 0) close(q->efd);
    free(q);
    return NULL;
  }
  q->target = target;
  return q;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  uint64_t v;
  while (read(fd, &v, sizeof v) < 0 && errno == EINTR) {
  }
  eio_loopq_run(arg);
}

static void wake(eio_loopq *q) {
  uint64_t one = 1;
  /* EAGAIN: the counter is saturated, so the loop is awake anyway. */
  while (write(q->efd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

/* End of the sender's turn: the wake-ups it deferred. */
static void flush_pending(eio_loopq *from) {
  for (size_t i = 0; i < from->npending; i++) {
    eio_loopq *q = from->pending[i];
    pthread_mutex_lock(&q->mu);
    int w = q->owed;
    q->owed = 0;
    pthread_mutex_unlock(&q->mu);
    if (w) wake(q);
  }
  from->npending = 0;
}

int eio_loopq_owes_wakeups(const eio_loopq *from) {
  return from && from->npending > 0;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  flush_pending(arg);
}

int eio_loopq_attach(eio_loopq *q, struct event_base *base) {
  q->base = base;
  q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, wake_cb, q);
  if (!q->ev || event_add(q->ev, NULL) != 0) return -1;
  q->flush = event_new(base, -1, 0, flush_cb, q);
  return q->flush ? 0 : -1;
}

void eio_loopq_detach(eio_loopq *q) {
  /* Only deleted: this may run inside the wake-up's own callback. */
  if (q && q->ev) event_del(q->ev);
  if (q && q->flush) {
    /* From now on this loop's posts wake at once: it may not turn again. */
    q->detached = 1;
    event_del(q->flush);
    flush_pending(q);
  }
}

int eio_loopq_push(eio_loopq *q, eio_task_fn fn, void *arg) {
  return eio_loopq_push_from(q, NULL, fn, arg);
}

/* Whether the wake-up can wait for the end of from's turn: from is the
 * caller's own loop (the caller says so), attached, and not q itself. */
static int can_defer(eio_loopq *q, eio_loopq *from) {
  return from && from != q && from->flush && !from->detached;
}

int eio_loopq_push_from(eio_loopq *q, eio_loopq *from, eio_task_fn fn, void *arg) {
  task *t = malloc(sizeof *t);
  if (!t) return -1;
  t->next = NULL;
  t->fn = fn;
  t->arg = arg;
  pthread_mutex_lock(&q->mu);
  if (q->cancelled) {
    pthread_mutex_unlock(&q->mu);
    free(t);
    fn(q->target, arg, 1);
    return 0;
  }
  /* A wake-up is due when the list was empty, or when one was deferred
   * and not written yet (whoever pushes next without deferring writes it). */
  int due = q->head == NULL || q->owed;
  if (q->tail) q->tail->next = t;
  else q->head = t;
  q->tail = t;
  int defer = due && can_defer(q, from);
  if (due) q->owed = defer;
  pthread_mutex_unlock(&q->mu);
  if (!due) return 0;
  if (!defer) {
    wake(q);
    return 0;
  }
  size_t i = 0;
  while (i < from->npending && from->pending[i] != q) i++;
  if (i == from->npending) {
    if (i == MAX_PENDING) {
      flush_pending(from);
      i = 0;
    }
    from->pending[i] = q;
    from->npending = i + 1;
  }
  event_active(from->flush, EV_TIMEOUT, 0);
  return 0;
}

static task *take(eio_loopq *q) {
  pthread_mutex_lock(&q->mu);
  task *t = q->head;
  q->head = q->tail = NULL;
  pthread_mutex_unlock(&q->mu);
  return t;
}

void eio_loopq_run(eio_loopq *q) {
  /* Only what was queued when we looked: tasks posting more tasks to this
   * loop do not starve the others. */
  for (task *t = take(q), *n; t; t = n) {
    n = t->next;
    t->fn(q->target, t->arg, 0);
    free(t);
  }
}

size_t eio_loopq_cancel_all(eio_loopq *q) {
  size_t k = 0;
  pthread_mutex_lock(&q->mu);
  q->cancelled = 1;
  pthread_mutex_unlock(&q->mu);
  for (;;) {
    task *t = take(q);
    if (!t) return k;
    for (task *n; t; t = n) {
      n = t->next;
      t->fn(q->target, t->arg, 1);
      free(t);
      k++;
    }
  }
}

void eio_loopq_free(eio_loopq *q) {
  if (!q) return;
  eio_loopq_cancel_all(q);
  if (q->ev) event_free(q->ev);
  if (q->flush) event_free(q->flush);
  close(q->efd);
  pthread_mutex_destroy(&q->mu);
  free(q);
}

static __thread const void *cur_group;
static __thread size_t cur_index;

void eio_loops_set_current(const void *group, size_t index) {
  cur_group = group;
  cur_index = index;
}

int eio_loops_current(const void *group, size_t *index) {
  if (!group || cur_group != group) return 0;
  *index = cur_index;
  return 1;
}
