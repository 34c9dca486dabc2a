/* Unit tests of adapter/cluster_req.c without Redis: a fake cluster
 * adapter (its server count set by the test), a fake transport that
 * records what would be published, fake namespace callbacks, and the
 * in-memory adapter with one local socket. Timers run on a real
 * event_base; the only timing checks are the bound the request's contract
 * states (a broadcast-with-ack request ends at its timeout, not later). */
#include <event2/event.h>

#include "cluster_req.h"
#include "test.h"

#define ERR_TIMEOUT (-7)

static struct event_base *base;
static size_t servers = 1;

/* what the transport was asked */
static int sent_kind = -1, sent_n;
static char sent_id[64];
static int sent_has_id;
static int resp_answer = -1, resp_n;
static char resp_requester[80], resp_rid[80];
static json_t *resp_value;

/* what the namespace saw */
static int refs, unrefs, remote_acks, relays, relay_frees, sse_calls;
static json_t *remote_value;
static void (*relay_fn)(void *, const json_t *, sio_buf *const *, size_t);
static void *relay_ud;
static void (*relay_free_fn)(void *);
static void (*sse_reply)(void *, const json_t *, sio_buf *const *, size_t);
static void *sse_rctx;

/* what the callbacks got */
static int fetch_calls, fetch_err, sse_cb_calls, sse_err, count_calls;
static json_t *fetch_got, *sse_got;
static size_t count_got;

static void send_request(void *ud, const sio_creq_out *q) {
  (void)ud;
  sent_kind = q->kind;
  sent_n++;
  sent_has_id = q->id != NULL;
  snprintf(sent_id, sizeof sent_id, "%s", q->id ? q->id : "");
}

static void respond(void *ud, const char *requester, const char *rid, int answer,
                    const json_t *value, sio_buf *const *bins, size_t nbins) {
  (void)ud, (void)bins, (void)nbins;
  resp_answer = answer;
  resp_n++;
  snprintf(resp_requester, sizeof resp_requester, "%s", requester ? requester : "(none)");
  snprintf(resp_rid, sizeof resp_rid, "%s", rid);
  json_decref(resp_value);
  resp_value = json_deep_copy(value);
}

static const sio_creq_transport transport = {send_request, respond};

static int h_deliver(void *ctx, const char *sid, sio_msg *msg, unsigned flags, void *ack) {
  (void)ctx, (void)sid, (void)msg, (void)flags, (void)ack;
  return 1;
}
static json_t *h_describe(void *ctx, const char *sid) {
  (void)ctx;
  return json_pack("{s:s}", "id", sid);
}
static void *h_ack_ref(void *ack) {
  refs++;
  return ack;
}
static void h_ack_unref(void *ack) {
  unrefs++;
  if (ack == (void *)&relay_fn) { /* the relay object made below */
    if (relay_free_fn) relay_free_fn(relay_ud);
    relay_free_fn = NULL;
    relay_frees++;
  }
}
static void h_ack_remote(void *ack, const json_t *value, sio_buf *const *bins, size_t nbins) {
  (void)ack, (void)bins, (void)nbins;
  remote_acks++;
  json_decref(remote_value);
  remote_value = json_deep_copy(value);
}
static void *h_ack_relay(void *ctx, void (*fn)(void *, const json_t *, sio_buf *const *, size_t),
                         void *ud, void (*ud_free)(void *), unsigned timeout_ms) {
  (void)ctx, (void)timeout_ms;
  relays++;
  relay_fn = fn;
  relay_ud = ud;
  relay_free_fn = ud_free;
  return &relay_fn;
}
static long long h_next_ack_id(void *ctx) {
  (void)ctx;
  return 42;
}
static void h_server_side(void *ctx, const json_t *data, sio_buf *const *bins, size_t nbins,
                          void (*reply)(void *, const json_t *, sio_buf *const *, size_t),
                          void *rctx) {
  (void)ctx, (void)data, (void)bins, (void)nbins;
  sse_calls++;
  sse_reply = reply;
  sse_rctx = rctx;
}

static void self_server_count(sio_adapter *a, sio_count_cb cb, void *ctx) {
  (void)a;
  cb(ctx, servers);
}
static const sio_adapter_ops self_ops = {.server_count = self_server_count};

static void on_fetch(void *ctx, int err, json_t *sockets) {
  (void)ctx;
  fetch_calls++;
  fetch_err = err;
  json_decref(fetch_got);
  fetch_got = sockets;
}
static void on_sse(void *ctx, int err, json_t *responses, sio_buf *const *bins, size_t nbins) {
  (void)ctx, (void)bins, (void)nbins;
  sse_cb_calls++;
  sse_err = err;
  json_decref(sse_got);
  sse_got = responses;
}
static void on_count(void *ctx, size_t n) {
  (void)ctx;
  count_calls++;
  count_got += n;
}

static sio_adapter self;
static sio_adapter *local;
static sio_creq_set set;

static void setup(const sio_map *peers) {
  sio_adapter_host h = {0};
  h.deliver = h_deliver;
  h.describe = h_describe;
  h.ack_ref = h_ack_ref;
  h.ack_unref = h_ack_unref;
  h.ack_remote = h_ack_remote;
  h.ack_relay = h_ack_relay;
  h.next_ack_id = h_next_ack_id;
  h.server_side = h_server_side;
  self.ops = &self_ops;
  self.host = h;
  local = sio_memory_adapter_new(&h);
  const char *rooms[] = {"s1", "r"};
  local->ops->add_all(local, "s1", rooms, 2);
  sio_creq_init(&set, base, &self, local, &transport, NULL, "/", "test", 1, peers);
  sent_kind = -1;
  sent_n = resp_n = 0;
}

static void teardown(void) {
  sio_creq_close(&set);
  local->ops->free(local);
}

static void run_ms(unsigned ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  event_base_loopexit(base, &tv);
  event_base_dispatch(base);
}

static const sio_bcast_opts no_opts = {NULL, 0, NULL, 0, 0, 0, 0, 0};

static void test_fetch(void) {
  setup(NULL);
  servers = 3;
  fetch_calls = 0;
  sio_creq_fetch_sockets(&set, &no_opts, json_object(), 5000, on_fetch, NULL);
  CHECK_EQ_INT(sent_kind, SIO_CREQ_FETCH);
  CHECK_EQ_INT(strlen(sent_id), 16);
  CHECK_EQ_INT(fetch_calls, 0);
  CHECK_EQ_INT(sio_creq_pending(&set), 1);
  CHECK(sio_creq_is_pending(&set, sent_id));
  json_t *two = json_pack("[{s:s},{s:s}]", "id", "a", "id", "b");
  json_t *one = json_pack("[{s:s}]", "id", "c");
  /* an answer of another kind, or to another id, is not counted */
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_SSE, two, NULL, NULL);
  sio_creq_answer(&set, "nope", SIO_CREQ_ANS_SOCKETS, two, NULL, NULL);
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_SOCKETS, two, NULL, NULL);
  CHECK_EQ_INT(fetch_calls, 0);
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_SOCKETS, one, NULL, NULL);
  CHECK_EQ_INT(fetch_calls, 1);
  CHECK_EQ_INT(fetch_err, 0);
  CHECK_EQ_INT(json_array_size(fetch_got), 4); /* s1, then a, b, c */
  CHECK(!strcmp(json_string_value(json_object_get(json_array_get(fetch_got, 0), "id")), "s1"));
  CHECK_EQ_INT(sio_creq_pending(&set), 0);
  /* alone: the local sockets at once, nothing published */
  servers = 1;
  sent_n = 0;
  sio_creq_fetch_sockets(&set, &no_opts, json_object(), 5000, on_fetch, NULL);
  CHECK_EQ_INT(fetch_calls, 2);
  CHECK_EQ_INT(sent_n, 0);
  CHECK_EQ_INT(json_array_size(fetch_got), 1);
  /* local flag: no server count, nothing published */
  sio_bcast_opts lo = {NULL, 0, NULL, 0, SIO_BC_LOCAL, 0, 0, 0};
  servers = 3;
  sio_creq_fetch_sockets(&set, &lo, json_object(), 5000, on_fetch, NULL);
  CHECK_EQ_INT(fetch_calls, 3);
  CHECK_EQ_INT(sent_n, 0);
  /* one server of two answers: a timeout with what came */
  sio_creq_fetch_sockets(&set, &no_opts, json_object(), 100, on_fetch, NULL);
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_SOCKETS, one, NULL, NULL);
  CHECK_EQ_INT(fetch_calls, 3);
  run_ms(400);
  CHECK_EQ_INT(fetch_calls, 4);
  CHECK_EQ_INT(fetch_err, ERR_TIMEOUT);
  CHECK_EQ_INT(json_array_size(fetch_got), 2);
  /* closing ends what is pending */
  sio_creq_fetch_sockets(&set, &no_opts, json_object(), 5000, on_fetch, NULL);
  teardown();
  CHECK_EQ_INT(fetch_calls, 5);
  CHECK_EQ_INT(fetch_err, ERR_TIMEOUT);
  json_decref(two);
  json_decref(one);
}

static void test_sse(void) {
  setup(NULL);
  servers = 3;
  sse_cb_calls = 0;
  json_t *data = json_pack("[s,i]", "ev", 1);
  sio_msg m = {2, "/", data, NULL, 0, -1, NULL, NULL, 0};
  /* without an ack: published once, no id, nothing pending */
  sio_creq_server_side_emit(&set, &m, 5000, NULL, NULL);
  CHECK_EQ_INT(sent_kind, SIO_CREQ_SSE);
  CHECK_EQ_INT(sent_has_id, 0);
  CHECK_EQ_INT(sio_creq_pending(&set), 0);
  sio_creq_server_side_emit(&set, &m, 5000, on_sse, NULL);
  CHECK_EQ_INT(sent_has_id, 1);
  json_t *v = json_string("yes");
  /* as the ClusterAdapter envelope carries it: {requestId, packet} */
  json_t *env = json_pack("{s:s,s:O}", "requestId", sent_id, "packet", v);
  sio_creq_on_response(&set, SIO_CREQ_MSG_FETCH_RESPONSE, env, NULL, NULL); /* not this kind */
  sio_creq_on_response(&set, 99, env, NULL, NULL);
  CHECK_EQ_INT(sse_cb_calls, 0);
  sio_creq_on_response(&set, SIO_CREQ_MSG_SSE_RESPONSE, env, NULL, NULL);
  json_decref(env);
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_SSE, NULL, NULL, NULL); /* an answer of null */
  CHECK_EQ_INT(sse_cb_calls, 1);
  CHECK_EQ_INT(sse_err, 0);
  CHECK_EQ_INT(json_array_size(sse_got), 2);
  CHECK(json_is_null(json_array_get(sse_got, 1)));
  /* alone: no answers, at once */
  servers = 1;
  sio_creq_server_side_emit(&set, &m, 5000, on_sse, NULL);
  CHECK_EQ_INT(sse_cb_calls, 2);
  CHECK_EQ_INT(json_array_size(sse_got), 0);
  json_decref(v);
  json_decref(data);
  teardown();
}

static void test_broadcast_ack(void) {
  setup(NULL);
  servers = 2;
  refs = unrefs = remote_acks = count_calls = 0;
  count_got = 0;
  json_t *data = json_pack("[s]", "ask");
  sio_msg m = {2, "/", data, NULL, 0, 7, NULL, NULL, 0};
  sio_bcast_opts o = {NULL, 0, NULL, 0, 0, 300, 0, 0};
  int ack_object;
  sio_creq_broadcast_with_ack(&set, &m, &o, 300, on_count, &ack_object, NULL);
  CHECK_EQ_INT(sent_kind, SIO_CREQ_BCAST);
  CHECK_EQ_INT(refs, 1);
  CHECK_EQ_INT(count_calls, 1); /* the local client count */
  CHECK_EQ_INT(count_got, 1);
  json_t *n = json_integer(3), *bad = json_integer(-5), *ans = json_string("hi");
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_COUNT, n, NULL, NULL);
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_COUNT, bad, NULL, NULL);
  CHECK_EQ_INT(count_calls, 3);
  CHECK_EQ_INT(count_got, 4); /* a negative count is none */
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_ACK, ans, NULL, NULL);
  CHECK_EQ_INT(remote_acks, 1);
  CHECK(json_equal(remote_value, ans));
  /* still pending just before the timeout (timers never fire early) ... */
  run_ms(200);
  CHECK_EQ_INT(sio_creq_pending(&set), 1);
  CHECK_EQ_INT(unrefs, 0);
  /* ... and gone at the timeout: not a second later */
  run_ms(500);
  CHECK_EQ_INT(sio_creq_pending(&set), 0);
  CHECK_EQ_INT(unrefs, 1);
  /* a late answer finds nothing */
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_ACK, ans, NULL, NULL);
  CHECK_EQ_INT(remote_acks, 1);
  /* local flag: no request */
  sent_n = 0;
  sio_bcast_opts lo = {NULL, 0, NULL, 0, SIO_BC_LOCAL, 300, 0, 0};
  sio_creq_broadcast_with_ack(&set, &m, &lo, 300, on_count, &ack_object, NULL);
  CHECK_EQ_INT(sent_n, 0);
  CHECK_EQ_INT(refs, 1);
  json_decref(n);
  json_decref(bad);
  json_decref(ans);
  json_decref(data);
  teardown();
}

static void test_answering(void) {
  setup(NULL);
  relays = relay_frees = sse_calls = 0;
  /* fetchSockets of another server: the local sockets, answered at once */
  sio_creq_on_fetch(&set, "rid1", "peer", &no_opts);
  CHECK_EQ_INT(resp_answer, SIO_CREQ_ANS_SOCKETS);
  CHECK(!strcmp(resp_rid, "rid1"));
  CHECK(!strcmp(resp_requester, "peer"));
  CHECK_EQ_INT(json_array_size(resp_value), 1);
  /* a requester that named nobody */
  sio_creq_on_fetch(&set, "rid2", NULL, &no_opts);
  CHECK(!strcmp(resp_requester, "(none)"));
  /* ids too long to be ours: no answer */
  char longid[100];
  memset(longid, 'x', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  resp_n = 0;
  sio_creq_on_fetch(&set, longid, "peer", &no_opts);
  sio_creq_on_fetch(&set, "rid", longid, &no_opts);
  CHECK_EQ_INT(resp_n, 0);
  /* a broadcast with ack: our client count, then each client's ack */
  json_t *data = json_pack("[s]", "ask");
  sio_creq_on_broadcast_ack(&set, "rid3", "peer", data, NULL, 0, &no_opts);
  CHECK_EQ_INT(relays, 1);
  CHECK_EQ_INT(resp_answer, SIO_CREQ_ANS_COUNT);
  CHECK_EQ_INT(json_integer_value(resp_value), 1);
  CHECK_EQ_INT(relay_frees, 1); /* our fake relay dies with its last reference */
  /* empty data: nothing */
  json_t *empty = json_array();
  relays = 0;
  sio_creq_on_broadcast_ack(&set, "rid4", "peer", empty, NULL, 0, &no_opts);
  CHECK_EQ_INT(relays, 0);
  /* serverSideEmit: handed to the namespace, its answer goes back */
  sio_creq_on_sse(&set, "rid5", "peer", data, NULL, 0);
  CHECK_EQ_INT(sse_calls, 1);
  CHECK(sse_reply != NULL);
  json_t *v = json_string("pong");
  resp_n = 0;
  sse_reply(sse_rctx, v, NULL, 0);
  CHECK_EQ_INT(resp_n, 1);
  CHECK_EQ_INT(resp_answer, SIO_CREQ_ANS_SSE);
  CHECK(json_equal(resp_value, v));
  /* no id: no reply wanted */
  sio_creq_on_sse(&set, NULL, "peer", data, NULL, 0);
  CHECK(sse_reply == NULL);
  json_decref(v);
  json_decref(empty);
  json_decref(data);
  teardown();
}

static void test_peers(void) {
  sio_map peers;
  sio_map_init(&peers);
  sio_map_put(&peers, "u1", NULL);
  sio_map_put(&peers, "u2", NULL);
  setup(&peers);
  servers = 3;
  fetch_calls = 0;
  sio_creq_fetch_sockets(&set, &no_opts, json_object(), 5000, on_fetch, NULL);
  json_t *one = json_pack("[{s:s}]", "id", "c");
  /* u1 twice and a stranger count once */
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_SOCKETS, one, NULL, "u1");
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_SOCKETS, one, NULL, "u1");
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_SOCKETS, one, NULL, "u9");
  sio_creq_answer(&set, sent_id, SIO_CREQ_ANS_SOCKETS, one, NULL, NULL);
  CHECK_EQ_INT(fetch_calls, 0);
  /* u2 goes: nobody left to wait for */
  sio_creq_peer_gone(&set, "u2");
  CHECK_EQ_INT(fetch_calls, 1);
  CHECK_EQ_INT(fetch_err, 0);
  CHECK_EQ_INT(json_array_size(fetch_got), 2);
  json_decref(one);
  teardown();
  sio_map_clear(&peers);
}

static void test_opts(void) {
  const char *rooms[] = {"a", "b"}, *except[] = {"c"};
  sio_bcast_opts o = {rooms, 2, except, 1, SIO_BC_VOLATILE | SIO_BC_COMPRESS_OFF, 250, 0, 0};
  json_t *plain = sio_creq_opts_encode(&o, 0), *full = sio_creq_opts_encode(&o, 1);
  char *s1 = json_dumps(plain, JSON_COMPACT), *s2 = json_dumps(full, JSON_COMPACT);
  CHECK(!strcmp(s1, "{\"rooms\":[\"a\",\"b\"],\"except\":[\"c\"]}"));
  CHECK(!strcmp(s2, "{\"rooms\":[\"a\",\"b\"],\"except\":[\"c\"],\"flags\":"
                    "{\"volatile\":true,\"compress\":false,\"timeout\":250}}"));
  sio_creq_opts ov;
  CHECK_EQ_INT(sio_creq_opts_decode(full, 1, &ov), 0);
  CHECK_EQ_INT(ov.o.nrooms, 2);
  CHECK_EQ_INT(ov.o.nexcept, 1);
  CHECK(!strcmp(ov.o.except[0], "c"));
  CHECK_EQ_INT(ov.o.flags, SIO_BC_VOLATILE | SIO_BC_COMPRESS_OFF);
  CHECK_EQ_INT(ov.o.timeout_ms, 250);
  sio_creq_opts_clear(&ov);
  json_t *bad = json_pack("{s:[i]}", "rooms", 1), *neg = json_pack("{s:{s:i}}", "flags",
                                                                     "timeout", -3);
  CHECK_EQ_INT(sio_creq_opts_decode(bad, 1, &ov), -1);
  CHECK(ov.v == NULL);
  CHECK_EQ_INT(sio_creq_opts_decode(neg, 1, &ov), 0);
  CHECK_EQ_INT(ov.o.timeout_ms, 0);
  sio_creq_opts_clear(&ov);
  json_t *str = json_string("x");
  CHECK_EQ_INT(sio_creq_opts_decode(str, 1, &ov), -1);
  CHECK_EQ_INT(sio_creq_opts_decode(str, 0, &ov), 0); /* as the classic adapter reads it */
  CHECK_EQ_INT(ov.o.nrooms, 0);
  sio_creq_opts_clear(&ov);
  char id[20];
  sio_creq_new_id(id, 0);
  CHECK_EQ_INT(strlen(id), 6);
  sio_creq_new_id(id, 1);
  CHECK_EQ_INT(strlen(id), 16);
  free(s1);
  free(s2);
  json_decref(plain);
  json_decref(full);
  json_decref(bad);
  json_decref(neg);
  json_decref(str);
}

int main(void) {
  base = event_base_new();
  test_fetch();
  test_sse();
  test_broadcast_ack();
  test_answering();
  test_peers();
  test_opts();
  json_decref(fetch_got);
  json_decref(sse_got);
  json_decref(resp_value);
  json_decref(remote_value);
  event_base_free(base);
  TEST_END();
}
