#include "map.h"

#include <stdlib.h>
#include <string.h>

/* Memory per entry: an entry is its two links and the key, no stored hash
 * (a 20-character socket id then fits a 48-byte malloc chunk, not 64);
 * chains are short (at most one entry per bucket on average), so a lookup
 * compares keys directly and a resize hashes the keys again. A map of one
 * bucket keeps its chain head in the buckets field itself (no array): most
 * maps of a socket (its own room, its room set) hold one entry. */

static size_t hash_str(const char *s) {
  size_t h = 1469598103934665603ULL;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
  return h;
}

/* The chain head of bucket i (i < nbuckets). */
static sio_map_entry **bucket(const sio_map *m, size_t i) {
  if (m->nbuckets == 1) return (sio_map_entry **)(void *)&((sio_map *)m)->buckets;
  return &m->buckets[i];
}

void sio_map_init(sio_map *m) {
  m->buckets = NULL;
  m->nbuckets = 0;
  m->count = 0;
}

void sio_map_clear(sio_map *m) {
  for (size_t i = 0; i < m->nbuckets; i++) {
    sio_map_entry *e = *bucket(m, i);
    while (e) {
      sio_map_entry *n = e->next;
      free(e);
      e = n;
    }
  }
  if (m->nbuckets > 1) free(m->buckets);
  sio_map_init(m);
}

static sio_map_entry *find(const sio_map *m, const char *key) {
  if (!m->nbuckets) return NULL;
  for (sio_map_entry *e = *bucket(m, hash_str(key) & (m->nbuckets - 1)); e;
       e = e->next)
    if (strcmp(e->key, key) == 0) return e;
  return NULL;
}

void *sio_map_get(const sio_map *m, const char *key) {
  sio_map_entry *e = find(m, key);
  return e ? e->value : NULL;
}

int sio_map_has(const sio_map *m, const char *key) {
  return find(m, key) != NULL;
}

/* A map starts with one bucket and doubles when full. */
static int grow(sio_map *m) {
  size_t n = m->nbuckets ? m->nbuckets * 2 : 1;
  if (n == 1) {
    m->buckets = NULL; /* the chain head, empty */
    m->nbuckets = 1;
    return 0;
  }
  sio_map_entry **b = calloc(n, sizeof *b);
  if (!b) return -1;
  for (size_t i = 0; i < m->nbuckets; i++) {
    sio_map_entry *e = *bucket(m, i);
    while (e) {
      sio_map_entry *nx = e->next;
      size_t k = hash_str(e->key) & (n - 1);
      e->next = b[k];
      b[k] = e;
      e = nx;
    }
  }
  if (m->nbuckets > 1) free(m->buckets);
  m->buckets = b;
  m->nbuckets = n;
  return 0;
}

int sio_map_put(sio_map *m, const char *key, void *value) {
  sio_map_entry *e = find(m, key);
  if (e) {
    e->value = value;
    return 0;
  }
  if (m->count + 1 > m->nbuckets && grow(m) != 0) return -1;
  size_t kl = strlen(key);
  e = malloc(sizeof *e + kl + 1);
  if (!e) return -1;
  memcpy(e->key, key, kl + 1);
  e->value = value;
  sio_map_entry **head = bucket(m, hash_str(key) & (m->nbuckets - 1));
  e->next = *head;
  *head = e;
  m->count++;
  return 1;
}

void *sio_map_del(sio_map *m, const char *key) {
  if (!m->nbuckets) return NULL;
  sio_map_entry **pp = bucket(m, hash_str(key) & (m->nbuckets - 1));
  while (*pp) {
    sio_map_entry *e = *pp;
    if (strcmp(e->key, key) == 0) {
      *pp = e->next;
      void *v = e->value;
      free(e);
      m->count--;
      return v;
    }
    pp = &e->next;
  }
  return NULL;
}

sio_map_entry *sio_map_first(const sio_map *m, size_t *it) {
  for (*it = 0; *it < m->nbuckets; (*it)++)
    if (*bucket(m, *it)) return *bucket(m, *it);
  return NULL;
}

sio_map_entry *sio_map_next(const sio_map *m, sio_map_entry *e, size_t *it) {
  if (e->next) return e->next;
  for ((*it)++; *it < m->nbuckets; (*it)++)
    if (*bucket(m, *it)) return *bucket(m, *it);
  return NULL;
}
