/* Unit tests of engineio/rand.c: the batched CSPRNG pool for ids. */
#include "rand.h"
#include "test.h"

#include <stdint.h>
#include <sys/wait.h>

#define N 2000

static int cmp15(const void *a, const void *b) { return memcmp(a, b, 15); }

static void distinct_draws(void) {
  static uint8_t d[N][15];
  for (int i = 0; i < N; i++) CHECK_EQ_INT(eio_rand_bytes(d[i], 15), 0);
  qsort(d, N, 15, cmp15);
  int dup = 0;
  for (int i = 1; i < N; i++) dup += memcmp(d[i - 1], d[i], 15) == 0;
  CHECK_EQ_INT(dup, 0);
  /* Bits look random: about half set over N * 120 bits. */
  long ones = 0;
  for (int i = 0; i < N; i++)
    for (int k = 0; k < 15; k++) ones += __builtin_popcount(d[i][k]);
  CHECK(ones > N * 60 - 2000 && ones < N * 60 + 2000);
}

static void sizes(void) {
  uint8_t big[EIO_RAND_POOL + 100], zero[EIO_RAND_POOL + 100];
  memset(big, 0, sizeof big);
  memset(zero, 0, sizeof zero);
  CHECK_EQ_INT(eio_rand_bytes(big, sizeof big), 0); /* straight from the kernel */
  CHECK(memcmp(big, zero, 64) != 0 && memcmp(big + sizeof big - 64, zero, 64) != 0);
  uint8_t a[EIO_RAND_POOL];
  CHECK_EQ_INT(eio_rand_bytes(a, sizeof a), 0); /* a whole pool */
  CHECK(memcmp(a, zero, 64) != 0);
  CHECK_EQ_INT(eio_rand_bytes(a, 0), 0);
}

/* A child forked with a half-used pool must not hand out the bytes the
 * parent hands out next. */
static void fork_does_not_share(void) {
  uint8_t x[15], mine[15], child[15];
  CHECK_EQ_INT(eio_rand_bytes(x, sizeof x), 0);
  int p[2];
  CHECK_EQ_INT(pipe(p), 0);
  pid_t pid = fork();
  if (pid == 0) {
    uint8_t c[15];
    if (eio_rand_bytes(c, sizeof c) != 0) _exit(1);
    _exit(write(p[1], c, sizeof c) == (ssize_t)sizeof c ? 0 : 1);
  }
  CHECK(pid > 0);
  CHECK_EQ_INT(eio_rand_bytes(mine, sizeof mine), 0);
  CHECK_EQ_INT(read(p[0], child, sizeof child), (long)sizeof child);
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(memcmp(mine, child, sizeof mine) != 0);
  close(p[0]);
  close(p[1]);
}

int main(void) {
  distinct_draws();
  sizes();
  fork_does_not_share();
  TEST_END();
}
