/*
 * A string-keyed hash map (chained, power-of-two buckets, owned key
 * copies). Values are opaque pointers. Used by every layer: Engine.IO
 * sessions, namespaces and sockets, rooms. Iteration order is unspecified.
 */
#ifndef SIO_MAP_H
#define SIO_MAP_H
#include <stddef.h>

typedef struct sio_map_entry {
  struct sio_map_entry *next;
  void *value;
  char key[];
} sio_map_entry;

typedef struct sio_map {
  sio_map_entry **buckets; /* nbuckets 1: the chain head itself (map.c) */
  size_t nbuckets, count;
} sio_map;

void sio_map_init(sio_map *m);
/* Frees the entries (not the values). */
void sio_map_clear(sio_map *m);
void *sio_map_get(const sio_map *m, const char *key);
int sio_map_has(const sio_map *m, const char *key);
/* Inserts or replaces. Returns 1 when added, 0 when replaced, -1 on
 * out of memory. */
int sio_map_put(sio_map *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *sio_map_del(sio_map *m, const char *key);

/* Iteration: for (e = sio_map_first(m, &i); e; e = sio_map_next(m, e, &i)).
 * The current entry may be deleted only after moving past it. */
sio_map_entry *sio_map_first(const sio_map *m, size_t *it);
sio_map_entry *sio_map_next(const sio_map *m, sio_map_entry *e, size_t *it);
#endif
