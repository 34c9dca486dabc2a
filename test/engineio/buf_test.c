/* Unit tests of engineio/buf.c: a buffer marked shared is referenced and
 * released from four threads at once, and its lazy caches (base64, UTF-16
 * length, derived forms) are filled concurrently: every thread sees the
 * same published form and nothing leaks (ASan) or races (SIO_TSAN). */
#include "test.h"
#include "buf.h"

#include <pthread.h>
#include <stdint.h>

#define THREADS 4
#define ROUNDS 20000

static sio_buf *shared_buf, *form;
static const char *b64_seen[THREADS];
static size_t u16_seen[THREADS];
static sio_buf *derived_seen[THREADS];

static void *worker(void *arg) {
  size_t id = (size_t)(uintptr_t)arg;
  size_t len;
  b64_seen[id] = sio_buf_base64(shared_buf, &len);
  u16_seen[id] = sio_buf_utf16_len(shared_buf);
  for (int i = 0; i < ROUNDS; i++) {
    sio_buf_ref(shared_buf);
    sio_buf_unref(shared_buf);
  }
  if (!sio_buf_derived(shared_buf, 7)) sio_buf_set_derived(shared_buf, 7, form);
  derived_seen[id] = sio_buf_derived(shared_buf, 7);
  sio_buf_unref(shared_buf); /* this thread's reference */
  return NULL;
}

static void shared_across_threads(void) {
  shared_buf = sio_buf_new("h\xc3\xa9llo", 6);
  form = sio_buf_new("x", 1);
  CHECK(!sio_buf_is_shared(shared_buf));
  sio_buf_share(shared_buf);
  CHECK(sio_buf_is_shared(shared_buf));
  pthread_t th[THREADS];
  for (size_t i = 0; i < THREADS; i++) sio_buf_ref(shared_buf);
  for (size_t i = 0; i < THREADS; i++)
    pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
  for (size_t i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  size_t len;
  const char *b64 = sio_buf_base64(shared_buf, &len);
  CHECK_MEM(b64, len, "aMOpbGxv");
  CHECK_EQ_INT(sio_buf_utf16_len(shared_buf), 5);
  int same = 1;
  for (size_t i = 0; i < THREADS; i++)
    if (b64_seen[i] != b64 || u16_seen[i] != 5 || derived_seen[i] != form) same = 0;
  CHECK(same);
  CHECK(sio_buf_is_shared(form)); /* reachable from other threads */
  sio_buf_unref(form);
  sio_buf_unref(shared_buf); /* the last: frees the caches and forms */
}

static void plain_counts(void) {
  sio_buf *b = sio_buf_new("ab", 2);
  sio_buf *f = sio_buf_new("c", 1);
  CHECK_EQ_INT(sio_buf_set_derived(b, 1, f), 0);
  sio_buf_unref(f);
  sio_buf_share(b); /* its forms become shared with it */
  CHECK(sio_buf_is_shared(sio_buf_derived(b, 1)));
  sio_buf_ref(b);
  sio_buf_unref(b);
  sio_buf_unref(b);
  sio_buf_unref(NULL);
  sio_buf_share(NULL);
}

int main(void) {
  shared_across_threads();
  plain_counts();
  TEST_END();
}
