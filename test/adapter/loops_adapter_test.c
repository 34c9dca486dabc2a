/* Unit tests of adapter/loops_adapter.c: three "loops" (in-memory adapters
 * wrapped by the loops layer) on one thread, their messages queued and run
 * by hand: a broadcast reaches every loop's sockets once with the same
 * encoded buffer, rooms and except apply on every loop, the local flag
 * still reaches every loop, fetchSockets gathers every loop and answers
 * once, socketsJoin reaches every loop, serverCount does not count loops,
 * and a message for a loop whose adapter went is dropped. */
#include "adapter.h"
#include "loops_adapter.h"
#include "test.h"

#define LOOPS 3

static sio_loops_task *queue[256];
static size_t queued[256], nqueue;
static sio_adapter *adapters[LOOPS];
static char delivered[64][40];
static int ndelivered;
static const sio_buf *seen_enc[64];
static int encodes, shares;

static int post(void *ctx, size_t to, sio_loops_task *t) {
  (void)ctx;
  if (nqueue == 256) return -1;
  queued[nqueue] = to;
  queue[nqueue++] = t;
  return 0;
}

static void run_queue(int cancelled) {
  /* tasks may post more: run until empty, in order */
  for (size_t i = 0; i < nqueue; i++) queue[i]->run(queue[i], cancelled);
  nqueue = 0;
}

static int encode(void *ctx, sio_msg *msg) {
  (void)ctx;
  if (msg->enc_text) return 0;
  encodes++;
  msg->enc_text = sio_buf_new("2[\"x\"]", 6);
  return 0;
}

static void share(sio_buf *b) {
  (void)b;
  shares++;
}

static sio_adapter *front(void *ctx, size_t loop, const char *nsp) {
  (void)ctx;
  (void)nsp;
  return adapters[loop];
}

static size_t room_size(void *ctx, const char *nsp, const char *room) {
  (void)ctx;
  (void)nsp;
  (void)room;
  return 0;
}

static int deliver(void *ctx, const char *sid, sio_msg *msg, unsigned flags, void *ack) {
  (void)ctx;
  (void)flags;
  (void)ack;
  seen_enc[ndelivered] = msg->enc_text;
  snprintf(delivered[ndelivered++], 40, "%s", sid);
  return 1;
}

static json_t *describe(void *ctx, const char *sid) {
  return json_pack("{s:s,s:i}", "id", sid, "loop", (int)(intptr_t)ctx);
}

static void disconnect(void *ctx, const char *sid, int close) {
  (void)ctx;
  (void)sid;
  (void)close;
}

static int was_delivered(const char *sid) {
  int n = 0;
  for (int i = 0; i < ndelivered; i++) n += !strcmp(delivered[i], sid);
  return n;
}

static int fetch_calls, last_err;
static json_t *fetched;
static void on_fetch(void *ctx, int err, json_t *list) {
  (void)ctx;
  last_err = err;
  fetch_calls++;
  json_decref(fetched);
  fetched = list;
}

static size_t counted;
static void on_count(void *ctx, size_t n) {
  (void)ctx;
  counted = n;
}

static void test_loops(void) {
  sio_loops_env env = {LOOPS, NULL, post, encode, share, front, room_size, NULL};
  sio_loops *g = sio_loops_new(&env);
  CHECK(g != NULL);
  for (size_t i = 0; i < LOOPS; i++) {
    sio_adapter_host host = {(void *)(intptr_t)i, deliver, describe, disconnect,
                             NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL};
    adapters[i] = sio_loops_adapter_new(g, i, "/", sio_memory_adapter_new(&host));
    CHECK(adapters[i] != NULL);
  }
  /* a0 on loop 0, b1 and c1 on loop 1, d2 on loop 2 */
  const char *ra[] = {"a0", "r"}, *rb[] = {"b1", "r"}, *rc[] = {"c1"}, *rd[] = {"d2", "r"};
  adapters[0]->ops->add_all(adapters[0], "a0", ra, 2);
  adapters[1]->ops->add_all(adapters[1], "b1", rb, 2);
  adapters[1]->ops->add_all(adapters[1], "c1", rc, 1);
  adapters[2]->ops->add_all(adapters[2], "d2", rd, 2);

  /* every socket once, one encoding shared by all */
  sio_msg m = {2, "/", json_pack("[s]", "x"), NULL, 0, -1, NULL, NULL, 0};
  sio_bcast_opts all = {NULL, 0, NULL, 0, 0, 0};
  adapters[1]->ops->broadcast(adapters[1], &m, &all);
  CHECK_EQ_INT(ndelivered, 2); /* loop 1's at once */
  CHECK_EQ_INT(nqueue, 2);     /* one message per other loop */
  run_queue(0);
  CHECK_EQ_INT(ndelivered, 4);
  CHECK_EQ_INT(encodes, 1);
  CHECK(shares >= 1);
  for (int i = 0; i < 4; i++) CHECK(seen_enc[i] == m.enc_text);
  CHECK_EQ_INT(was_delivered("a0") + was_delivered("b1") + was_delivered("c1") +
                   was_delivered("d2"), 4);

  /* rooms and except on every loop; the local flag reaches every loop */
  ndelivered = 0;
  const char *rooms[] = {"r"}, *except[] = {"b1"};
  sio_bcast_opts ro = {rooms, 1, except, 1, 2 /* SIO_BC_LOCAL */, 0};
  adapters[0]->ops->broadcast(adapters[0], &m, &ro);
  run_queue(0);
  CHECK_EQ_INT(ndelivered, 2);
  CHECK_EQ_INT(was_delivered("a0"), 1);
  CHECK_EQ_INT(was_delivered("d2"), 1);
  sio_msg_release(&m);
  json_decref(m.data);

  /* fetchSockets: one answer, after every loop */
  adapters[2]->ops->fetch_sockets(adapters[2], &all, on_fetch, NULL);
  CHECK_EQ_INT(fetch_calls, 0);
  run_queue(0); /* the questions, which post the answers */
  run_queue(0); /* the answers */
  CHECK_EQ_INT(fetch_calls, 1);
  CHECK_EQ_INT(last_err, 0);
  CHECK_EQ_INT(json_array_size(fetched), 4);

  /* socketsJoin on every loop */
  const char *nr[] = {"new"};
  sio_bcast_opts none = {NULL, 0, NULL, 0, 0, 0};
  adapters[0]->ops->add_sockets(adapters[0], &none, nr, 1);
  run_queue(0);
  for (size_t i = 0; i < LOOPS; i++) {
    sio_map members;
    sio_map_init(&members);
    adapters[i]->ops->sockets(adapters[i], nr, 1, &members);
    CHECK_EQ_INT(members.count, i == 1 ? 2 : 1);
    sio_map_clear(&members);
  }

  /* loops are not servers */
  adapters[1]->ops->server_count(adapters[1], on_count, NULL);
  CHECK_EQ_INT(counted, 1);

  /* a pending fetch is answered (timeout) when its adapter goes; the
   * answers that come for it later are dropped */
  fetch_calls = 0;
  adapters[0]->ops->fetch_sockets(adapters[0], &all, on_fetch, NULL);
  adapters[0]->ops->free(adapters[0]);
  CHECK_EQ_INT(fetch_calls, 1);
  CHECK_EQ_INT(last_err, -7);
  run_queue(0);
  CHECK_EQ_INT(fetch_calls, 1);
  for (size_t i = 1; i < LOOPS; i++) adapters[i]->ops->free(adapters[i]);
  json_decref(fetched);
  sio_loops_free(g);
}

int main(void) {
  test_loops();
  TEST_END();
}
