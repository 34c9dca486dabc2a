#include "redis_topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(char *err, size_t errlen, const char *why) {
  if (err && errlen) snprintf(err, errlen, "%s", why);
}

int sio_rtopo_find(const sio_rtopo *t, const char *host, int port) {
  for (size_t i = 0; i < t->n; i++)
    if (t->nodes[i].port == port && !strcmp(t->nodes[i].host, host)) return (int)i;
  return -1;
}

void sio_rtopo_clear(sio_rtopo *t) {
  free(t->nodes);
  t->nodes = NULL;
  t->n = 0;
  for (size_t i = 0; i < SIO_REDIS_SLOTS; i++) t->owner[i] = -1;
}

/* Adds a node (or finds the same address); its index or -1. */
static int add_node(sio_rtopo *t, const char *host, size_t hostlen, int port, const char *id,
                    size_t idlen, int master, int shard) {
  if (port <= 0 || port > 65535 || hostlen == 0 || hostlen >= sizeof t->nodes[0].host)
    return -1;
  char h[256];
  memcpy(h, host, hostlen);
  h[hostlen] = '\0';
  int found = sio_rtopo_find(t, h, port);
  if (found >= 0) {
    if (master) t->nodes[found].master = 1;
    return found;
  }
  if (t->n >= SIO_RTOPO_MAX_NODES) return -1;
  sio_rtopo_node *nv = realloc(t->nodes, (t->n + 1) * sizeof *nv);
  if (!nv) return -1;
  t->nodes = nv;
  sio_rtopo_node *n = &nv[t->n];
  memset(n, 0, sizeof *n);
  memcpy(n->host, h, hostlen + 1);
  n->port = port;
  if (id && idlen < sizeof n->id) memcpy(n->id, id, idlen);
  n->master = master;
  n->shard = shard;
  return (int)t->n++;
}

static const redisReply *map_get(const redisReply *m, const char *key) {
  if (!m || m->type != REDIS_REPLY_ARRAY) return NULL;
  for (size_t i = 0; i + 1 < m->elements; i += 2) {
    const redisReply *k = m->element[i];
    if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) &&
        k->len == strlen(key) && !memcmp(k->str, key, k->len))
      return m->element[i + 1];
  }
  return NULL;
}

static int is_str(const redisReply *r, const char *s) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
         r->len == strlen(s) && !memcmp(r->str, s, r->len);
}

static int str_ok(const redisReply *r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* The host to use: the endpoint, else ip, else the host that was asked. */
static void pick_host(const redisReply *endpoint, const redisReply *ip, const char *asked,
                      const char **h, size_t *hl) {
  if (str_ok(endpoint) && endpoint->len && !is_str(endpoint, "?")) {
    *h = endpoint->str;
    *hl = endpoint->len;
  } else if (str_ok(ip) && ip->len) {
    *h = ip->str;
    *hl = ip->len;
  } else {
    *h = asked;
    *hl = strlen(asked);
  }
}

static int check_coverage(sio_rtopo *t, char *err, size_t errlen) {
  for (size_t s = 0; s < SIO_REDIS_SLOTS; s++)
    if (t->owner[s] < 0) {
      char b[96];
      snprintf(b, sizeof b, "slot %zu has no online master", s);
      fail(err, errlen, b);
      sio_rtopo_clear(t);
      return -1;
    }
  return 0;
}

int sio_rtopo_from_shards(const redisReply *r, const char *asked, int tls, sio_rtopo *t,
                          char *err, size_t errlen) {
  t->nodes = NULL;
  t->n = 0;
  for (size_t i = 0; i < SIO_REDIS_SLOTS; i++) t->owner[i] = -1;
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    fail(err, errlen, r && r->type == REDIS_REPLY_ERROR ? r->str : "CLUSTER SHARDS: not an array");
    return -1;
  }
  for (size_t s = 0; s < r->elements; s++) {
    const redisReply *shard = r->element[s];
    const redisReply *slots = map_get(shard, "slots"), *nodes = map_get(shard, "nodes");
    if (!slots || slots->type != REDIS_REPLY_ARRAY || !nodes ||
        nodes->type != REDIS_REPLY_ARRAY || slots->elements % 2) {
      fail(err, errlen, "CLUSTER SHARDS: malformed shard");
      sio_rtopo_clear(t);
      return -1;
    }
    int owner = -1;
    for (size_t k = 0; k < nodes->elements; k++) {
      const redisReply *nd = nodes->element[k];
      const redisReply *port = map_get(nd, tls ? "tls-port" : "port");
      const redisReply *health = map_get(nd, "health"), *id = map_get(nd, "id");
      /* only online nodes are used (fail, failed, loading: not) */
      if (!is_str(health, "online") || !port || port->type != REDIS_REPLY_INTEGER) continue;
      const char *h;
      size_t hl;
      pick_host(map_get(nd, "endpoint"), map_get(nd, "ip"), asked, &h, &hl);
      int master = is_str(map_get(nd, "role"), "master");
      int idx = add_node(t, h, hl, (int)port->integer, str_ok(id) ? id->str : NULL,
                         str_ok(id) ? id->len : 0, master, (int)s);
      if (idx < 0) {
        fail(err, errlen, "CLUSTER SHARDS: bad or too many nodes");
        sio_rtopo_clear(t);
        return -1;
      }
      if (master && owner < 0) owner = idx;
    }
    for (size_t k = 0; owner >= 0 && k < slots->elements; k += 2) {
      const redisReply *a = slots->element[k], *b = slots->element[k + 1];
      if (a->type != REDIS_REPLY_INTEGER || b->type != REDIS_REPLY_INTEGER || a->integer < 0 ||
          b->integer >= SIO_REDIS_SLOTS || a->integer > b->integer) {
        fail(err, errlen, "CLUSTER SHARDS: bad slot range");
        sio_rtopo_clear(t);
        return -1;
      }
      for (long long x = a->integer; x <= b->integer; x++) t->owner[x] = (int16_t)owner;
    }
  }
  return check_coverage(t, err, errlen);
}

int sio_rtopo_from_slots(const redisReply *r, const char *asked, sio_rtopo *t, char *err,
                         size_t errlen) {
  t->nodes = NULL;
  t->n = 0;
  for (size_t i = 0; i < SIO_REDIS_SLOTS; i++) t->owner[i] = -1;
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    fail(err, errlen, r && r->type == REDIS_REPLY_ERROR ? r->str : "CLUSTER SLOTS: not an array");
    return -1;
  }
  for (size_t s = 0; s < r->elements; s++) {
    const redisReply *range = r->element[s];
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
        range->element[0]->type != REDIS_REPLY_INTEGER ||
        range->element[1]->type != REDIS_REPLY_INTEGER || range->element[0]->integer < 0 ||
        range->element[1]->integer >= SIO_REDIS_SLOTS ||
        range->element[0]->integer > range->element[1]->integer) {
      fail(err, errlen, "CLUSTER SLOTS: malformed range");
      sio_rtopo_clear(t);
      return -1;
    }
    int owner = -1;
    for (size_t k = 2; k < range->elements; k++) {
      const redisReply *nd = range->element[k];
      if (nd->type != REDIS_REPLY_ARRAY || nd->elements < 2 ||
          nd->element[1]->type != REDIS_REPLY_INTEGER) {
        fail(err, errlen, "CLUSTER SLOTS: malformed node");
        sio_rtopo_clear(t);
        return -1;
      }
      const char *h;
      size_t hl;
      /* nil or "" endpoint: the host that was asked */
      pick_host(nd->element[0], NULL, asked, &h, &hl);
      const redisReply *id = nd->elements > 2 ? nd->element[2] : NULL;
      int idx = add_node(t, h, hl, (int)nd->element[1]->integer, str_ok(id) ? id->str : NULL,
                         str_ok(id) ? id->len : 0, k == 2, (int)s);
      if (idx < 0) {
        fail(err, errlen, "CLUSTER SLOTS: bad or too many nodes");
        sio_rtopo_clear(t);
        return -1;
      }
      if (k == 2) owner = idx;
    }
    for (long long x = range->element[0]->integer; x <= range->element[1]->integer; x++)
      t->owner[x] = (int16_t)owner;
  }
  return check_coverage(t, err, errlen);
}
