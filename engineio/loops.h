/*
 * The event loops of a multi-loop Engine.IO server: a task queue per loop
 * (what eio_server_post feeds), the worker threads, and which loop the
 * calling thread runs.
 *
 * A queue is a mutex-protected list that its loop swaps out in one go; the
 * loop is woken through an eventfd registered on its event_base, written
 * only when the list goes from empty to non-empty (by a loop sending to
 * another, at the end of the sender's turn: eio_loopq_push_from). Nothing
 * else is shared
 * between loops: everything a task touches belongs to the loop it runs on.
 */
#ifndef EIO_LOOPS_H
#define EIO_LOOPS_H

#include <pthread.h>
#include <stddef.h>

#include "sio/engineio.h"

struct event_base;
typedef struct eio_loopq eio_loopq;

/* A queue delivering tasks to target (passed back to each task). NULL when
 * out of memory or out of file descriptors. */
eio_loopq *eio_loopq_new(eio_server *target);
/* Registers the wake-up on base. Call on the thread that will run base,
 * or before that thread starts. 0 or -1. */
int eio_loopq_attach(eio_loopq *q, struct event_base *base);
/* Unregisters the wake-up (the loop may then end); tasks posted later wait
 * until eio_loopq_cancel_all. On the loop's thread, or after it ended. */
void eio_loopq_detach(eio_loopq *q);
/* Any thread: appends a task. 0, or -1 when out of memory (fn not called).
 * On a cancelled queue, fn(target, arg, 1) runs at once on the caller. */
int eio_loopq_push(eio_loopq *q, eio_task_fn fn, void *arg);
/* The same, called on from's loop thread (from: the queue of the loop the
 * caller runs): the wake-up of q waits for the end of from's current turn
 * (or from's detach), so that the tasks one turn posts to a loop wake it
 * once and it runs them together (one write per socket for a burst of
 * broadcasts, not one per broadcast). from NULL: eio_loopq_push. */
int eio_loopq_push_from(eio_loopq *q, eio_loopq *from, eio_task_fn fn, void *arg);
/* 1 when from (the queue of the loop the caller runs, on that loop's
 * thread) owes wake-ups deferred to the end of the current turn: the
 * tasks posted meanwhile have not reached their loops yet, so a reply
 * written before the turn ends could overtake them. */
int eio_loopq_owes_wakeups(const eio_loopq *from);
/* Runs the tasks queued so far (on the loop's thread). */
void eio_loopq_run(eio_loopq *q);
/* Once the loop's thread is gone: from now on every task, queued or
 * posted later, is called with cancelled = 1. Returns how many ran. */
size_t eio_loopq_cancel_all(eio_loopq *q);
/* Frees the queue (cancelling what is left). */
void eio_loopq_free(eio_loopq *q);

/* The loop the calling thread runs, as set by eio_loops_set_current
 * (worker threads set it when they start): an opaque group and index. */
void eio_loops_set_current(const void *group, size_t index);
/* 1 and *index when the calling thread runs a loop of group. */
int eio_loops_current(const void *group, size_t *index);

#endif
