/* See rand.h. */
#include "rand.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

/* The pool of the calling thread: bytes [used .. EIO_RAND_POOL) unused. */
static _Thread_local uint8_t pool[EIO_RAND_POOL];
static _Thread_local size_t used = EIO_RAND_POOL;
/* Bumped in a forked child: a pool filled before the fork is dropped. */
static _Atomic unsigned fork_gen;
static _Thread_local unsigned pool_gen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void after_fork_child(void) { fork_gen++; }
static void install(void) { pthread_atfork(NULL, NULL, after_fork_child); }

static int fill(uint8_t *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(p + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)r;
  }
  return 0;
}

int eio_rand_bytes(void *out, size_t n) {
  if (n > EIO_RAND_POOL) return fill(out, n);
  pthread_once(&once, install);
  if (pool_gen != fork_gen) {
    memset(pool, 0, sizeof pool);
    used = EIO_RAND_POOL;
    pool_gen = fork_gen;
  }
  if (EIO_RAND_POOL - used < n) {
    if (fill(pool, sizeof pool) != 0) return -1;
    used = 0;
  }
  memcpy(out, pool + used, n);
  memset(pool + used, 0, n); /* handed out once */
  used += n;
  return 0;
}
