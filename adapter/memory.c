/*
 * The in-memory adapter (Node's socket.io-adapter, local part): two maps,
 * room -> set of socket ids and socket id -> set of rooms. A broadcast
 * computes its targets from them and hands one shared encoding to each.
 *
 * A socket's own room (the room named by its id, joined at connect) is
 * kept only in the socket's set of rooms, not as a one-member set in the
 * room map (that cost ~130 bytes per socket): the members of room R are
 * rooms[R] and, when sids[R]'s set holds R, socket R itself. Leaving it
 * (socket.leave(socket.id)) removes it as in Node; joining a socket to
 * another socket's id room stores that membership in rooms[] as any room.
 */
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

typedef struct mem_adapter {
  sio_adapter base;
  sio_map rooms; /* room -> sio_map* (set of sids) */
  sio_map sids;  /* sid -> sio_map* (set of rooms) */
} mem_adapter;

void sio_msg_release(sio_msg *msg) {
  sio_buf_unref(msg->enc_text);
  for (size_t i = 0; i < msg->enc_natt; i++) sio_buf_unref(msg->enc_att[i]);
  free(msg->enc_att);
  msg->enc_text = NULL;
  msg->enc_att = NULL;
  msg->enc_natt = 0;
}

static sio_map *set_new(void) {
  sio_map *s = malloc(sizeof *s);
  if (s) sio_map_init(s);
  return s;
}

static void set_free(sio_map *s) {
  if (!s) return;
  sio_map_clear(s);
  free(s);
}

/* 1 when socket `room` (a socket id) is in its own room. */
static int in_own_room(const mem_adapter *m, const char *room) {
  const sio_map *theirs = sio_map_get(&m->sids, room);
  return theirs && sio_map_has(theirs, room);
}

/* 1 when sid is a member of room. */
static int is_member(const mem_adapter *m, const char *room, const char *sid) {
  const sio_map *members = sio_map_get(&m->rooms, room);
  if (members && sio_map_has(members, sid)) return 1;
  return strcmp(room, sid) == 0 && in_own_room(m, sid);
}

static int mem_add_all(sio_adapter *a, const char *sid,
                       const char *const *rooms, size_t n) {
  mem_adapter *m = (mem_adapter *)a;
  sio_map *mine = sio_map_get(&m->sids, sid);
  if (!mine) {
    mine = set_new();
    if (!mine || sio_map_put(&m->sids, sid, mine) < 0) {
      set_free(mine);
      return -1;
    }
  }
  for (size_t i = 0; i < n; i++) {
    if (strcmp(rooms[i], sid) == 0) { /* its own room: in mine only */
      int r = sio_map_put(mine, sid, NULL);
      if (r < 0) return -1;
      if (r == 1 && m->base.host.room_changed)
        m->base.host.room_changed(m->base.host.ctx, sid, sid, 1);
      continue;
    }
    if (sio_map_put(mine, rooms[i], NULL) < 0) return -1;
    sio_map *members = sio_map_get(&m->rooms, rooms[i]);
    if (!members) {
      members = set_new();
      if (!members || sio_map_put(&m->rooms, rooms[i], members) < 0) {
        set_free(members);
        return -1;
      }
    }
    int joined = !sio_map_has(members, sid);
    if (sio_map_put(members, sid, NULL) < 0) return -1;
    if (joined && m->base.host.room_changed)
      m->base.host.room_changed(m->base.host.ctx, sid, rooms[i], 1);
  }
  return 0;
}

static void leave_room(mem_adapter *m, const char *sid, const char *room) {
  sio_map *members = sio_map_get(&m->rooms, room);
  if (!members || !sio_map_has(members, sid)) return;
  sio_map_del(members, sid);
  if (members->count == 0) set_free(sio_map_del(&m->rooms, room));
  if (m->base.host.room_changed) m->base.host.room_changed(m->base.host.ctx, sid, room, 0);
}

static void mem_del(sio_adapter *a, const char *sid, const char *room) {
  mem_adapter *m = (mem_adapter *)a;
  sio_map *mine = sio_map_get(&m->sids, sid);
  if (strcmp(room, sid) == 0) { /* its own room: in mine only */
    if (mine && sio_map_has(mine, sid)) {
      sio_map_del(mine, sid);
      if (m->base.host.room_changed) m->base.host.room_changed(m->base.host.ctx, sid, sid, 0);
    }
    return;
  }
  if (mine) sio_map_del(mine, room);
  leave_room(m, sid, room);
}

static void mem_del_all(sio_adapter *a, const char *sid) {
  mem_adapter *m = (mem_adapter *)a;
  sio_map *mine = sio_map_del(&m->sids, sid);
  if (!mine) return;
  size_t it;
  for (sio_map_entry *e = sio_map_first(mine, &it); e; e = sio_map_next(mine, e, &it)) {
    if (strcmp(e->key, sid) == 0) {
      if (m->base.host.room_changed) m->base.host.room_changed(m->base.host.ctx, sid, sid, 0);
    } else {
      leave_room(m, sid, e->key);
    }
  }
  set_free(mine);
}

/* 1 when sid is in none of the except rooms. */
static int not_excepted(mem_adapter *m, const char *sid, const sio_bcast_opts *o) {
  for (size_t i = 0; i < o->nexcept; i++)
    if (is_member(m, o->except[i], sid)) return 0;
  return 1;
}

/* Node's apply(): every targeted socket once. The target set is collected
 * first, so a callback that changes rooms cannot disturb the walk. */
static void collect(mem_adapter *m, const sio_bcast_opts *o, sio_map *out) {
  if (o->nrooms) {
    for (size_t i = 0; i < o->nrooms; i++) {
      if (in_own_room(m, o->rooms[i]) && not_excepted(m, o->rooms[i], o))
        sio_map_put(out, o->rooms[i], NULL);
      sio_map *members = sio_map_get(&m->rooms, o->rooms[i]);
      if (!members) continue;
      size_t it;
      for (sio_map_entry *e = sio_map_first(members, &it); e;
           e = sio_map_next(members, e, &it))
        if (not_excepted(m, e->key, o)) sio_map_put(out, e->key, NULL);
    }
  } else {
    size_t it;
    for (sio_map_entry *e = sio_map_first(&m->sids, &it); e;
         e = sio_map_next(&m->sids, e, &it))
      if (not_excepted(m, e->key, o)) sio_map_put(out, e->key, NULL);
  }
}

static size_t deliver_all(mem_adapter *m, sio_msg *msg, const sio_bcast_opts *o,
                          void *ack) {
  sio_map targets;
  sio_map_init(&targets);
  collect(m, o, &targets);
  size_t n = 0, it;
  for (sio_map_entry *e = sio_map_first(&targets, &it); e;
       e = sio_map_next(&targets, e, &it))
    n += (size_t)m->base.host.deliver(m->base.host.ctx, e->key, msg, o->flags, ack);
  sio_map_clear(&targets);
  return n;
}

static void mem_broadcast(sio_adapter *a, sio_msg *msg, const sio_bcast_opts *o) {
  deliver_all((mem_adapter *)a, msg, o, NULL);
}

static void mem_broadcast_with_ack(sio_adapter *a, sio_msg *msg,
                                   const sio_bcast_opts *o,
                                   sio_count_cb client_count, void *ack,
                                   void *ctx) {
  size_t n = deliver_all((mem_adapter *)a, msg, o, ack);
  client_count(ctx, n);
}

static void mem_sockets(sio_adapter *a, const char *const *rooms, size_t n,
                        sio_map *out) {
  sio_bcast_opts o = {rooms, n, NULL, 0, 0, 0, 0, 0};
  collect((mem_adapter *)a, &o, out);
}

static const sio_map *mem_socket_rooms(sio_adapter *a, const char *sid) {
  return sio_map_get(&((mem_adapter *)a)->sids, sid);
}

static void mem_fetch_sockets(sio_adapter *a, const sio_bcast_opts *o,
                              sio_fetch_cb cb, void *ctx) {
  mem_adapter *m = (mem_adapter *)a;
  sio_map targets;
  sio_map_init(&targets);
  collect(m, o, &targets);
  json_t *list = json_array();
  size_t it;
  for (sio_map_entry *e = sio_map_first(&targets, &it); e;
       e = sio_map_next(&targets, e, &it)) {
    json_t *d = m->base.host.describe(m->base.host.ctx, e->key);
    if (d) json_array_append_new(list, d);
  }
  sio_map_clear(&targets);
  cb(ctx, 0, list);
}

/* Collects the target ids into a plain array, so the rooms can change
 * while the operation walks them. */
static char **target_ids(mem_adapter *m, const sio_bcast_opts *o, size_t *n) {
  sio_map targets;
  sio_map_init(&targets);
  collect(m, o, &targets);
  char **ids = calloc(targets.count + 1, sizeof *ids);
  size_t k = 0, it;
  if (ids)
    for (sio_map_entry *e = sio_map_first(&targets, &it); e;
         e = sio_map_next(&targets, e, &it))
      if ((ids[k] = strdup(e->key))) k++;
  sio_map_clear(&targets);
  *n = k;
  return ids;
}

static void free_ids(char **ids, size_t n) {
  for (size_t i = 0; i < n; i++) free(ids[i]);
  free(ids);
}

static void mem_add_sockets(sio_adapter *a, const sio_bcast_opts *o,
                            const char *const *rooms, size_t n) {
  size_t k;
  char **ids = target_ids((mem_adapter *)a, o, &k);
  for (size_t i = 0; ids && i < k; i++) mem_add_all(a, ids[i], rooms, n);
  free_ids(ids, k);
}

static void mem_del_sockets(sio_adapter *a, const sio_bcast_opts *o,
                            const char *const *rooms, size_t n) {
  size_t k;
  char **ids = target_ids((mem_adapter *)a, o, &k);
  for (size_t i = 0; ids && i < k; i++)
    for (size_t r = 0; r < n; r++) mem_del(a, ids[i], rooms[r]);
  free_ids(ids, k);
}

static void mem_disconnect_sockets(sio_adapter *a, const sio_bcast_opts *o,
                                   int close) {
  size_t k;
  char **ids = target_ids((mem_adapter *)a, o, &k);
  for (size_t i = 0; ids && i < k; i++)
    a->host.disconnect(a->host.ctx, ids[i], close);
  free_ids(ids, k);
}

static void mem_server_side_emit(sio_adapter *a, sio_msg *msg, sio_sse_cb cb,
                                 void *ctx) {
  (void)a;
  (void)msg; /* a single server has no one to tell */
  if (cb) cb(ctx, 0, json_array(), NULL, 0);
}

static void mem_server_count(sio_adapter *a, sio_count_cb cb, void *ctx) {
  (void)a;
  cb(ctx, 1);
}

static void mem_rooms(sio_adapter *a, sio_map *out) {
  mem_adapter *m = (mem_adapter *)a;
  size_t it;
  for (sio_map_entry *e = sio_map_first(&m->rooms, &it); e;
       e = sio_map_next(&m->rooms, e, &it))
    sio_map_put(out, e->key, NULL);
  for (sio_map_entry *e = sio_map_first(&m->sids, &it); e;
       e = sio_map_next(&m->sids, e, &it))
    if (sio_map_has(e->value, e->key)) sio_map_put(out, e->key, NULL);
}

static void mem_free(sio_adapter *a) {
  mem_adapter *m = (mem_adapter *)a;
  size_t it;
  for (sio_map_entry *e = sio_map_first(&m->rooms, &it); e;
       e = sio_map_next(&m->rooms, e, &it))
    set_free(e->value);
  for (sio_map_entry *e = sio_map_first(&m->sids, &it); e;
       e = sio_map_next(&m->sids, e, &it))
    set_free(e->value);
  sio_map_clear(&m->rooms);
  sio_map_clear(&m->sids);
  free(m);
}

static const sio_adapter_ops mem_ops = {
    mem_free,          mem_add_all,          mem_del,
    mem_del_all,       mem_broadcast,        mem_broadcast_with_ack,
    mem_sockets,       mem_socket_rooms,     mem_fetch_sockets,
    mem_add_sockets,   mem_del_sockets,      mem_disconnect_sockets,
    mem_server_side_emit, mem_server_count, mem_rooms,
    NULL,              NULL, /* sessions: kept by the Socket.IO layer */
    NULL,              NULL,
};

size_t sio_adapter_room_size(sio_adapter *a, const char *room) {
  if (a->ops->room_size) return a->ops->room_size(a, room);
  sio_map m;
  sio_map_init(&m);
  const char *r[1] = {room};
  a->ops->sockets(a, r, 1, &m);
  size_t n = m.count;
  sio_map_clear(&m);
  return n;
}

sio_adapter *sio_memory_adapter_new(const sio_adapter_host *host) {
  mem_adapter *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->base.ops = &mem_ops;
  m->base.host = *host;
  sio_map_init(&m->rooms);
  sio_map_init(&m->sids);
  return &m->base;
}
