/* Unit tests of engineio/map.c: one-bucket maps (chain head kept in the
 * map itself), growth past it with keys hashed again, deletion from every
 * position, iteration seeing each entry once, replace, clear. */
#include "map.h"
#include "test.h"

static size_t count_iter(const sio_map *m) {
  size_t n = 0, it;
  for (sio_map_entry *e = sio_map_first(m, &it); e; e = sio_map_next(m, e, &it)) n++;
  return n;
}

int main(void) {
  sio_map m;
  sio_map_init(&m);
  CHECK(sio_map_get(&m, "a") == NULL);
  CHECK(sio_map_del(&m, "a") == NULL);
  CHECK_EQ_INT(count_iter(&m), 0);

  /* one entry: one bucket, no bucket array */
  int va = 1, vb = 2, vc = 3;
  CHECK_EQ_INT(sio_map_put(&m, "abcdefghijklmnopqrst", &va), 1);
  CHECK_EQ_INT(m.nbuckets, 1);
  CHECK(sio_map_get(&m, "abcdefghijklmnopqrst") == &va);
  CHECK(sio_map_has(&m, "abcdefghijklmnopqrst"));
  CHECK(!sio_map_has(&m, "abcdefghijklmnopqrsT"));
  CHECK_EQ_INT(sio_map_put(&m, "abcdefghijklmnopqrst", &vb), 0); /* replaced */
  CHECK(sio_map_get(&m, "abcdefghijklmnopqrst") == &vb);
  CHECK_EQ_INT(count_iter(&m), 1);
  CHECK(sio_map_del(&m, "abcdefghijklmnopqrst") == &vb);
  CHECK_EQ_INT(m.count, 0);
  CHECK_EQ_INT(count_iter(&m), 0);
  CHECK_EQ_INT(sio_map_put(&m, "x", &vc), 1);
  CHECK(sio_map_get(&m, "x") == &vc);
  /* a copy of the struct sees the same one-bucket chain */
  sio_map copy = m;
  CHECK(sio_map_get(&copy, "x") == &vc);
  sio_map_clear(&m);
  CHECK_EQ_INT(m.count, 0);
  CHECK(sio_map_get(&m, "x") == NULL);

  /* growth 1 -> 2 -> ... -> 1024, every key still found */
  static int vals[1000];
  char key[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    vals[i] = i;
    CHECK_EQ_INT(sio_map_put(&m, key, &vals[i]), 1);
  }
  CHECK_EQ_INT(m.count, 1000);
  CHECK_EQ_INT(m.nbuckets, 1024);
  CHECK_EQ_INT(count_iter(&m), 1000);
  int found = 0;
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    int *v = sio_map_get(&m, key);
    found += v && *v == i;
  }
  CHECK_EQ_INT(found, 1000);
  CHECK(sio_map_get(&m, "key-1000") == NULL);
  /* every value seen once by iteration */
  static char seen[1000];
  size_t it;
  int dup = 0;
  for (sio_map_entry *e = sio_map_first(&m, &it); e; e = sio_map_next(&m, e, &it)) {
    int i = *(int *)e->value;
    dup += seen[i]++;
  }
  CHECK_EQ_INT(dup, 0);
  /* delete the odd ones while iterating (after moving past) */
  sio_map_entry *e = sio_map_first(&m, &it);
  while (e) {
    sio_map_entry *n = sio_map_next(&m, e, &it);
    if (*(int *)e->value % 2) sio_map_del(&m, e->key);
    e = n;
  }
  CHECK_EQ_INT(m.count, 500);
  CHECK_EQ_INT(count_iter(&m), 500);
  found = 0;
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    found += sio_map_has(&m, key) == !(i % 2);
  }
  CHECK_EQ_INT(found, 1000);
  sio_map_clear(&m);
  CHECK_EQ_INT(m.nbuckets, 0);

  /* a two-entry map grows from the one-bucket form */
  CHECK_EQ_INT(sio_map_put(&m, "a", &va), 1);
  CHECK_EQ_INT(sio_map_put(&m, "b", &vb), 1);
  CHECK_EQ_INT(m.nbuckets, 2);
  CHECK(sio_map_get(&m, "a") == &va && sio_map_get(&m, "b") == &vb);
  CHECK(sio_map_del(&m, "a") == &va);
  CHECK(sio_map_get(&m, "b") == &vb);
  sio_map_clear(&m);
  TEST_END();
}
