/* Unit tests of adapter/map.c and adapter/memory.c: rooms, targets of a
 * broadcast (rooms, except, each socket once), socket utilities. */
#include "adapter.h"
#include "map.h"
#include "test.h"

static char delivered[64][32];
static int ndelivered;
static char disconnected[8][32];
static int ndisconnected;

static int deliver(void *ctx, const char *sid, sio_msg *msg, unsigned flags,
                   void *ack) {
  (void)ctx;
  (void)msg;
  (void)flags;
  (void)ack;
  snprintf(delivered[ndelivered++], 32, "%s", sid);
  return 1;
}
static json_t *describe(void *ctx, const char *sid) {
  (void)ctx;
  return json_pack("{s:s}", "id", sid);
}
static void disconnect(void *ctx, const char *sid, int close) {
  (void)ctx;
  (void)close;
  snprintf(disconnected[ndisconnected++], 32, "%s", sid);
}

static int was_delivered(const char *sid) {
  for (int i = 0; i < ndelivered; i++)
    if (!strcmp(delivered[i], sid)) return 1;
  return 0;
}

static size_t fetched;
static void on_fetch(void *ctx, int err, json_t *list) {
  (void)ctx;
  (void)err;
  fetched = json_array_size(list);
  json_decref(list);
}

static void test_map(void) {
  sio_map m;
  sio_map_init(&m);
  char key[16];
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK_EQ_INT(sio_map_put(&m, key, (void *)(intptr_t)(i + 1)), 1);
  }
  CHECK_EQ_INT(m.count, 1000);
  CHECK_EQ_INT(sio_map_put(&m, "k5", (void *)7), 0);
  CHECK(sio_map_get(&m, "k5") == (void *)7);
  CHECK(sio_map_get(&m, "k999") == (void *)1000);
  CHECK(sio_map_get(&m, "nope") == NULL);
  size_t it, n = 0;
  for (sio_map_entry *e = sio_map_first(&m, &it); e; e = sio_map_next(&m, e, &it)) n++;
  CHECK_EQ_INT(n, 1000);
  for (int i = 0; i < 1000; i += 2) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK(sio_map_del(&m, key) != NULL);
  }
  CHECK_EQ_INT(m.count, 500);
  CHECK(!sio_map_has(&m, "k0"));
  CHECK(sio_map_has(&m, "k1"));
  sio_map_clear(&m);
}

static void test_adapter(void) {
  sio_adapter_host host = {NULL, deliver, describe, disconnect, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL};
  sio_adapter *a = sio_memory_adapter_new(&host);
  const char *ra[] = {"A", "r1"}, *rb[] = {"B", "r1", "r2"}, *rc[] = {"C", "r2"};
  a->ops->add_all(a, "A", ra, 2);
  a->ops->add_all(a, "B", rb, 3);
  a->ops->add_all(a, "C", rc, 2);
  sio_msg msg = {2, "/", NULL, NULL, 0, -1, NULL, NULL, 0};

  const char *r12[] = {"r1", "r2"};
  sio_bcast_opts o = {r12, 2, NULL, 0, 0, 0, 0, 0};
  ndelivered = 0;
  a->ops->broadcast(a, &msg, &o);
  CHECK_EQ_INT(ndelivered, 3); /* B is in both rooms, reached once */

  const char *ex[] = {"r1"};
  const char *r2[] = {"r2"};
  sio_bcast_opts o2 = {r2, 1, ex, 1, 0, 0, 0, 0};
  ndelivered = 0;
  a->ops->broadcast(a, &msg, &o2);
  CHECK_EQ_INT(ndelivered, 1);
  CHECK(was_delivered("C"));

  sio_bcast_opts all = {NULL, 0, NULL, 0, 0, 0, 0, 0};
  ndelivered = 0;
  a->ops->broadcast(a, &msg, &all);
  CHECK_EQ_INT(ndelivered, 3);

  a->ops->del(a, "B", "r1");
  const sio_map *rooms = a->ops->socket_rooms(a, "B");
  CHECK(rooms && !sio_map_has(rooms, "r1") && sio_map_has(rooms, "r2"));
  const char *r1[] = {"r1"};
  sio_map set;
  sio_map_init(&set);
  a->ops->sockets(a, r1, 1, &set);
  CHECK_EQ_INT(set.count, 1);
  CHECK(sio_map_has(&set, "A"));
  sio_map_clear(&set);

  /* socketsJoin / fetchSockets / disconnectSockets */
  const char *newroom[] = {"x"};
  sio_bcast_opts to_r2 = {r2, 1, NULL, 0, 0, 0, 0, 0};
  a->ops->add_sockets(a, &to_r2, newroom, 1);
  sio_bcast_opts to_x = {newroom, 1, NULL, 0, 0, 0, 0, 0};
  a->ops->fetch_sockets(a, &to_x, on_fetch, NULL);
  CHECK_EQ_INT(fetched, 2);
  a->ops->del_sockets(a, &to_x, newroom, 1);
  a->ops->fetch_sockets(a, &to_x, on_fetch, NULL);
  CHECK_EQ_INT(fetched, 0);
  ndisconnected = 0;
  a->ops->disconnect_sockets(a, &to_r2, 0);
  CHECK_EQ_INT(ndisconnected, 2);

  a->ops->del_all(a, "A");
  CHECK(a->ops->socket_rooms(a, "A") == NULL);
  sio_map_init(&set);
  a->ops->sockets(a, r1, 1, &set);
  CHECK_EQ_INT(set.count, 0); /* an empty room is removed */
  sio_map_clear(&set);
  sio_map every;
  sio_map_init(&every);
  a->ops->rooms(a, &every);
  CHECK(sio_map_has(&every, "r2") && sio_map_has(&every, "B") && !sio_map_has(&every, "A"));
  sio_map_clear(&every);
  a->ops->free(a);
}

static int changes[2]; /* room_changed: joined, left */
static void room_changed(void *ctx, const char *sid, const char *room, int joined) {
  (void)ctx;
  (void)sid;
  (void)room;
  changes[joined ? 0 : 1]++;
}

static size_t members_of(sio_adapter *a, const char *room, const char *sid_in) {
  const char *r[] = {room};
  sio_map set;
  sio_map_init(&set);
  a->ops->sockets(a, r, 1, &set);
  size_t n = set.count;
  if (sid_in && !sio_map_has(&set, sid_in)) n = 0;
  sio_map_clear(&set);
  return n;
}

static int listed(sio_adapter *a, const char *room) {
  sio_map every;
  sio_map_init(&every);
  a->ops->rooms(a, &every);
  int r = sio_map_has(&every, room);
  sio_map_clear(&every);
  return r;
}

/* A socket's own room (kept in its room set only): every observable. */
static void test_own_room(void) {
  sio_adapter_host host = {NULL, deliver, describe, disconnect, NULL, NULL, NULL, NULL,
                           NULL, NULL, 0, room_changed, NULL};
  sio_adapter *a = sio_memory_adapter_new(&host);
  const char *ra[] = {"A", "r1"}, *rb[] = {"B", "r1"};
  changes[0] = changes[1] = 0;
  a->ops->add_all(a, "A", ra, 2);
  a->ops->add_all(a, "B", rb, 2);
  CHECK_EQ_INT(changes[0], 4);
  a->ops->add_all(a, "A", ra, 1); /* again: no event */
  CHECK_EQ_INT(changes[0], 4);
  CHECK_EQ_INT(members_of(a, "A", "A"), 1);
  CHECK_EQ_INT(members_of(a, "B", "B"), 1);
  CHECK_EQ_INT(members_of(a, "r1", NULL), 2);
  CHECK_EQ_INT(sio_adapter_room_size(a, "A"), 1);
  CHECK(listed(a, "A") && listed(a, "B") && listed(a, "r1"));
  const sio_map *rooms = a->ops->socket_rooms(a, "A");
  CHECK(rooms && rooms->count == 2 && sio_map_has(rooms, "A") && sio_map_has(rooms, "r1"));

  /* to A, to [A, B] except A, to r1 except A */
  sio_msg msg = {2, "/", NULL, NULL, 0, -1, NULL, NULL, 0};
  const char *toa[] = {"A"}, *toab[] = {"A", "B"}, *tor1[] = {"r1"};
  sio_bcast_opts o1 = {toa, 1, NULL, 0, 0, 0, 0, 0};
  ndelivered = 0;
  a->ops->broadcast(a, &msg, &o1);
  CHECK(ndelivered == 1 && was_delivered("A"));
  sio_bcast_opts o2 = {toab, 2, toa, 1, 0, 0, 0, 0};
  ndelivered = 0;
  a->ops->broadcast(a, &msg, &o2);
  CHECK(ndelivered == 1 && was_delivered("B"));
  sio_bcast_opts o3 = {tor1, 1, toa, 1, 0, 0, 0, 0};
  ndelivered = 0;
  a->ops->broadcast(a, &msg, &o3);
  CHECK(ndelivered == 1 && was_delivered("B"));
  sio_bcast_opts o4 = {NULL, 0, toa, 1, 0, 0, 0, 0}; /* everyone except A */
  ndelivered = 0;
  a->ops->broadcast(a, &msg, &o4);
  CHECK(ndelivered == 1 && was_delivered("B"));

  /* B joins room "A" (another socket's id): stored like any room */
  a->ops->add_all(a, "B", toa, 1);
  CHECK_EQ_INT(changes[0], 5);
  CHECK_EQ_INT(members_of(a, "A", NULL), 2);
  /* socket.leave(socket.id): A leaves its own room, as in Node */
  a->ops->del(a, "A", "A");
  CHECK_EQ_INT(changes[1], 1);
  a->ops->del(a, "A", "A"); /* again: no event */
  CHECK_EQ_INT(changes[1], 1);
  CHECK_EQ_INT(members_of(a, "A", "B"), 1);
  rooms = a->ops->socket_rooms(a, "A");
  CHECK(rooms && rooms->count == 1 && !sio_map_has(rooms, "A"));
  ndelivered = 0;
  a->ops->broadcast(a, &msg, &o4); /* except room A: B is in it, A no more */
  CHECK(ndelivered == 1 && was_delivered("A"));
  a->ops->del(a, "B", "A");
  CHECK_EQ_INT(members_of(a, "A", NULL), 0);
  CHECK(!listed(a, "A"));
  /* and back */
  a->ops->add_all(a, "A", toa, 1);
  CHECK_EQ_INT(members_of(a, "A", "A"), 1);
  CHECK(listed(a, "A"));
  /* socketsJoin / socketsLeave through the own room */
  const char *x[] = {"x"};
  a->ops->add_sockets(a, &o1, x, 1);
  CHECK_EQ_INT(members_of(a, "x", "A"), 1);
  a->ops->del_sockets(a, &o1, toa, 1);
  CHECK_EQ_INT(members_of(a, "A", NULL), 0);
  a->ops->add_all(a, "A", toa, 1);
  /* disconnect: every room left, the own room included */
  int left = changes[1];
  a->ops->del_all(a, "A");
  CHECK_EQ_INT(changes[1] - left, 3); /* A, r1, x */
  CHECK_EQ_INT(members_of(a, "A", NULL), 0);
  CHECK(!listed(a, "A") && listed(a, "B") && !listed(a, "x"));
  CHECK(a->ops->socket_rooms(a, "A") == NULL);
  a->ops->free(a);
}

int main(void) {
  test_map();
  test_adapter();
  test_own_room();
  TEST_END();
}
