/*
 * A minimal unit-test harness: CHECK records a failure and goes on; each
 * test binary ends with TEST_END(), printing "N passed, N failed".
 * Plus guard_buf(): a copy of some bytes placed right before a PROT_NONE
 * page, so a parser that reads one byte too far crashes.
 */
#ifndef SIO_TEST_H
#define SIO_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int t_pass, t_fail;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (cond) t_pass++;                                                      \
    else {                                                                   \
      t_fail++;                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                        \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                   \
  do {                                                                       \
    long long _a = (long long)(a), _b = (long long)(b);                      \
    if (_a == _b) t_pass++;                                                  \
    else {                                                                   \
      t_fail++;                                                              \
      fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__,        \
              __LINE__, #a, _a, _b);                                         \
    }                                                                        \
  } while (0)

#define CHECK_MEM(p, n, lit)                                                 \
  CHECK((n) == sizeof(lit) - 1 && memcmp((p), (lit), sizeof(lit) - 1) == 0)

#define TEST_END()                                                           \
  do {                                                                       \
    printf("%d passed, %d failed\n", t_pass, t_fail);                        \
    return t_fail ? 1 : 0;                                                   \
  } while (0)

typedef struct guard_buf {
  unsigned char *map;
  size_t map_len;
  unsigned char *data; /* data[len] is the first inaccessible byte */
} guard_buf;

static inline unsigned char *guard_put(guard_buf *g, const void *src,
                                       size_t len) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t pages = (len + page - 1) / page + 1;
  g->map_len = pages * page;
  g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g->map == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  mprotect(g->map + g->map_len - page, page, PROT_NONE);
  g->data = g->map + g->map_len - page - len;
  if (len) memcpy(g->data, src, len);
  return g->data;
}

static inline void guard_free(guard_buf *g) { munmap(g->map, g->map_len); }
#endif
