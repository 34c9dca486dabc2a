/* Unit tests of adapter/loops_adapter.c: three "loops" (in-memory adapters
 * wrapped by the loops layer) on one thread, their messages queued and run
 * by hand: a broadcast reaches every loop's sockets once with the same
 * encoded buffer, rooms and except apply on every loop, the local flag
 * still reaches every loop, fetchSockets gathers every loop and answers
 * once, socketsJoin reaches every loop, serverCount does not count loops,
 * and a message for a loop whose adapter went is dropped; recovery: a
 * broadcast with SIO_BC_RECOVERY is recorded on every loop with one channel
 * and sequence number, and a session is asked of every other loop and
 * answered once (found or not). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int nrecords;
static size_t rec_loop[16];
static unsigned rec_chan[16];
static unsigned long long rec_seq[16];
static void record(void *ctx, size_t loop, const char *nsp, const sio_msg *msg,
                   const sio_bcast_opts *o) {
  (void)ctx;
  (void)nsp;
  (void)msg;
  rec_loop[nrecords] = loop;
  rec_chan[nrecords] = o->rec_channel;
  rec_seq[nrecords++] = o->rec_seq;
}

static int asked[LOOPS];
static size_t session_loop = 2; /* LOOPS: nowhere */
static sio_restored *restore(void *ctx, size_t loop, const char *nsp, const char *pid,
                             const char *offset) {
  (void)ctx;
  (void)nsp;
  asked[loop]++;
  if (loop != session_loop || strcmp(pid, "P") || strcmp(offset, "X")) return NULL;
  sio_restored *r = calloc(1, sizeof *r);
  snprintf(r->sid, sizeof r->sid, "S");
  snprintf(r->pid, sizeof r->pid, "P");
  r->rooms = calloc(2, sizeof *r->rooms);
  r->rooms[0] = strdup("room");
  r->nrooms = 1;
  r->seen = calloc(2 * LOOPS, sizeof *r->seen);
  r->seen[1] = 7;
  r->nseen = 2 * LOOPS;
  return r;
}

static int restores;
static char restored_sid[32], restored_room[32];
static unsigned long long restored_seen1;
static void on_restore(void *ctx, const sio_restored *r) {
  (void)ctx;
  restores++;
  restored_sid[0] = restored_room[0] = '\0';
  restored_seen1 = 0;
  if (!r) return;
  snprintf(restored_sid, sizeof restored_sid, "%s", r->sid);
  if (r->nrooms) snprintf(restored_room, sizeof restored_room, "%s", r->rooms[0]);
  if (r->nseen > 1) restored_seen1 = r->seen[1];
}

static void test_loops(void) {
  sio_loops_env env = {LOOPS, NULL, post, encode, share, front, room_size, record, restore, NULL};
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
  sio_bcast_opts all = {NULL, 0, NULL, 0, 0, 0, 0, 0};
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
  sio_bcast_opts ro = {rooms, 1, except, 1, 2 /* SIO_BC_LOCAL */, 0, 0, 0};
  adapters[0]->ops->broadcast(adapters[0], &m, &ro);
  run_queue(0);
  CHECK_EQ_INT(ndelivered, 2);
  CHECK_EQ_INT(was_delivered("a0"), 1);
  CHECK_EQ_INT(was_delivered("d2"), 1);

  /* recovery: recorded where delivered, every loop, one channel and
   * sequence number per sender (loop 1 straight: channel 1) */
  sio_bcast_opts rec = {NULL, 0, NULL, 0, SIO_BC_RECOVERY, 0, 0, 0};
  for (int k = 0; k < 2; k++) {
    adapters[1]->ops->broadcast(adapters[1], &m, &rec);
    run_queue(0);
  }
  CHECK_EQ_INT(nrecords, 2 * LOOPS);
  int per_loop[LOOPS] = {0};
  for (int i = 0; i < nrecords; i++) {
    per_loop[rec_loop[i]]++;
    CHECK_EQ_INT(rec_chan[i], 1);
    CHECK_EQ_INT(rec_seq[i], i < LOOPS ? 1 : 2);
  }
  for (int i = 0; i < LOOPS; i++) CHECK_EQ_INT(per_loop[i], 2);
  CHECK_EQ_INT(rec.rec_seq, 0); /* the caller's options are not written */

  /* a session kept by loop 2, asked for on loop 0: every other loop is
   * asked, the answer comes once, with what loop 2 gave */
  CHECK_EQ_INT(sio_loops_restore(g, 0, "/", "P", "X", on_restore, NULL), 0);
  CHECK_EQ_INT(restores, 0);
  run_queue(0);
  CHECK_EQ_INT(asked[0], 0);
  CHECK_EQ_INT(asked[1], 1);
  CHECK_EQ_INT(asked[2], 1);
  CHECK_EQ_INT(restores, 1);
  CHECK(strcmp(restored_sid, "S") == 0);
  CHECK(strcmp(restored_room, "room") == 0);
  CHECK_EQ_INT(restored_seen1, 7);
  /* nowhere: one NULL answer after the last loop answered */
  session_loop = LOOPS;
  CHECK_EQ_INT(sio_loops_restore(g, 1, "/", "P", "X", on_restore, NULL), 0);
  run_queue(0);
  CHECK_EQ_INT(restores, 2);
  CHECK(restored_sid[0] == '\0');
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
  sio_bcast_opts none = {NULL, 0, NULL, 0, 0, 0, 0, 0};
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
  /* the asking adapter goes first: NULL once, the late answers dropped */
  session_loop = 2;
  CHECK_EQ_INT(sio_loops_restore(g, 0, "/", "P", "X", on_restore, NULL), 0);
  fetch_calls = 0;
  adapters[0]->ops->fetch_sockets(adapters[0], &all, on_fetch, NULL);
  adapters[0]->ops->free(adapters[0]);
  CHECK_EQ_INT(fetch_calls, 1);
  CHECK_EQ_INT(last_err, -7);
  CHECK_EQ_INT(restores, 3); /* the restore left pending above */
  CHECK(restored_sid[0] == '\0');
  run_queue(0);
  CHECK_EQ_INT(fetch_calls, 1);
  CHECK_EQ_INT(restores, 3);
  for (size_t i = 1; i < LOOPS; i++) adapters[i]->ops->free(adapters[i]);
  json_decref(fetched);
  sio_loops_free(g);
}

int main(void) {
  test_loops();
  TEST_END();
}
