/* adapter/redis_topology.c: slot maps from real CLUSTER SHARDS / SLOTS
 * replies of the local 3+3 cluster (ports 7100-7105; 7100-7102 masters),
 * each read by hiredis's reader from right before a guard page. */
#include <hiredis/hiredis.h>

#include "redis_reader.h"
#include "redis_topology.h"
#include "test.h"

static const char SHARDS[] =
  "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\ni"
  "d\r\n$40\r\nd88c1679f0cf45e26aa63b555082171b11e66909\r\n$4\r\nport\r\n:7102\r\n$2\r\nip\r"
  "\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
  "$18\r\nreplication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$"
  "40\r\nda5f9b2c3602f87ed53339c2d7b4ef44c56e1c1d\r\n$4\r\nport\r\n:7105\r\n$2\r\nip\r\n$9\r"
  "\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r"
  "\nreplication-offset\r\n:70\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r"
  "\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n63a2ae04e040c5e541b1"
  "ff6db0af77aaecc84b58\r\n$4\r\nport\r\n:7101\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendp"
  "oint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:7"
  "0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n0c417294907b5844e6ca325bc"
  "a757af554e47979\r\n$4\r\nport\r\n:7104\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r"
  "\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:70\r\n"
  "$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n"
  "*2\r\n*14\r\n$2\r\nid\r\n$40\r\n374b22669b9ecd39b27ba039b8a3c64053f78eaa\r\n$4\r\nport\r"
  "\n:7100\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrol"
  "e\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:70\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
  "*14\r\n$2\r\nid\r\n$40\r\n8b2edb95af051f4cad7e81e69baba159d4eea586\r\n$4\r\nport\r\n:710"
  "3\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$"
  "7\r\nreplica\r\n$18\r\nreplication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";

static const char SLOTS[] =
  "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:7100\r\n$40\r\n374b22669b9ecd39b27b"
  "a039b8a3c64053f78eaa\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:7103\r\n$40\r\n8b2edb95af051f4ca"
  "d7e81e69baba159d4eea586\r\n*0\r\n*4\r\n:5461\r\n:10922\r\n*4\r\n$9\r\n127.0.0.1\r\n:7101"
  "\r\n$40\r\n63a2ae04e040c5e541b1ff6db0af77aaecc84b58\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:7"
  "104\r\n$40\r\n0c417294907b5844e6ca325bca757af554e47979\r\n*0\r\n*4\r\n:10923\r\n:16383\r"
  "\n*4\r\n$9\r\n127.0.0.1\r\n:7102\r\n$40\r\nd88c1679f0cf45e26aa63b555082171b11e66909\r\n*"
  "0\r\n*4\r\n$9\r\n127.0.0.1\r\n:7105\r\n$40\r\nda5f9b2c3602f87ed53339c2d7b4ef44c56e1c1d\r"
  "\n*0\r\n";

/* the same cluster after a kill: the first master "fail", its replica promoted */
static const char SHARDS_FAILOVER[] =
  "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\ni"
  "d\r\n$40\r\nd88c1679f0cf45e26aa63b555082171b11e66909\r\n$4\r\nport\r\n:7102\r\n$2\r\nip\r"
  "\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
  "$18\r\nreplication-offset\r\n:56\r\n$6\r\nhealth\r\n$4\r\nfail\r\n*14\r\n$2\r\nid\r\n$40"
  "\r\nda5f9b2c3602f87ed53339c2d7b4ef44c56e1c1d\r\n$4\r\nport\r\n:7105\r\n$2\r\nip\r\n$9\r\n"
  "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nr"
  "eplication-offset\r\n:70\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:"
  "5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n63a2ae04e040c5e541b1ff6"
  "db0af77aaecc84b58\r\n$4\r\nport\r\n:7101\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoin"
  "t\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:70\r"
  "\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n0c417294907b5844e6ca325bca75"
  "7af554e47979\r\n$4\r\nport\r\n:7104\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n"
  "$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:70\r\n$6"
  "\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*"
  "2\r\n*14\r\n$2\r\nid\r\n$40\r\n374b22669b9ecd39b27ba039b8a3c64053f78eaa\r\n$4\r\nport\r\n"
  ":7100\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r"
  "\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:70\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*1"
  "4\r\n$2\r\nid\r\n$40\r\n8b2edb95af051f4cad7e81e69baba159d4eea586\r\n$4\r\nport\r\n:7103\r"
  "\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r"
  "\nreplica\r\n$18\r\nreplication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";

static redisReply *parse(const char *raw, size_t len) {
  guard_buf g;
  const char *p = (const char *)guard_put(&g, raw, len);
  redisReader *rd = sio_rreader_new();
  void *rep = NULL;
  if (redisReaderFeed(rd, p, len) != REDIS_OK || redisReaderGetReply(rd, &rep) != REDIS_OK)
    rep = NULL;
  sio_rreader_free(rd);
  guard_free(&g);
  return rep;
}

static int owner_port(const sio_rtopo *t, unsigned slot) {
  return t->owner[slot] < 0 ? -1 : t->nodes[t->owner[slot]].port;
}

int main(void) {
  char err[128];
  sio_rtopo t;

  redisReply *r = parse(SHARDS, sizeof SHARDS - 1);
  CHECK(r != NULL);
  CHECK_EQ_INT(sio_rtopo_from_shards(r, "127.0.0.1", 0, &t, err, sizeof err), 0);
  CHECK_EQ_INT(t.n, 6);
  size_t masters = 0;
  for (size_t i = 0; i < t.n; i++) masters += t.nodes[i].master;
  CHECK_EQ_INT(masters, 3);
  CHECK_EQ_INT(owner_port(&t, 0), 7100);
  CHECK_EQ_INT(owner_port(&t, 5460), 7100);
  CHECK_EQ_INT(owner_port(&t, 5461), 7101);
  CHECK_EQ_INT(owner_port(&t, 13868), 7102); /* socket.io#/# */
  CHECK_EQ_INT(owner_port(&t, 16383), 7102);
  CHECK(sio_rtopo_find(&t, "127.0.0.1", 7105) >= 0);
  CHECK_EQ_INT(strlen(t.nodes[0].id), 40);
  sio_rtopo_clear(&t);
  freeReplyObject(r);

  r = parse(SLOTS, sizeof SLOTS - 1);
  CHECK(r != NULL);
  CHECK_EQ_INT(sio_rtopo_from_slots(r, "127.0.0.1", &t, err, sizeof err), 0);
  CHECK_EQ_INT(t.n, 6);
  CHECK_EQ_INT(owner_port(&t, 100), 7100);
  CHECK_EQ_INT(owner_port(&t, 9640), 7101);
  CHECK_EQ_INT(owner_port(&t, 12539), 7102);
  sio_rtopo_clear(&t);
  freeReplyObject(r);

  /* after a failover: the failed master is not used, the promoted one owns */
  r = parse(SHARDS_FAILOVER, sizeof SHARDS_FAILOVER - 1);
  CHECK_EQ_INT(sio_rtopo_from_shards(r, "127.0.0.1", 0, &t, err, sizeof err), 0);
  CHECK_EQ_INT(t.n, 5);
  CHECK_EQ_INT(sio_rtopo_find(&t, "127.0.0.1", 7102), -1);
  CHECK(owner_port(&t, 13868) != 7102 && owner_port(&t, 13868) > 7102);
  sio_rtopo_clear(&t);
  freeReplyObject(r);

  /* a shard without an online master: slots uncovered, refused */
  static const char HOLE[] =
      "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*6\r\n"
      "$2\r\nip\r\n$9\r\n127.0.0.1\r\n$4\r\nport\r\n:7100\r\n$6\r\nhealth\r\n$4\r\nfail\r\n";
  r = parse(HOLE, sizeof HOLE - 1);
  CHECK_EQ_INT(sio_rtopo_from_shards(r, "127.0.0.1", 0, &t, err, sizeof err), -1);
  CHECK(strstr(err, "no online master") != NULL);
  CHECK_EQ_INT(t.n, 0);
  freeReplyObject(r);

  /* one master for all slots, empty endpoint: the asked host */
  static const char ONE[] =
      "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*10\r\n"
      "$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nport\r\n:7000\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
      "$6\r\nhealth\r\n$6\r\nonline\r\n$2\r\nid\r\n$1\r\nx\r\n";
  r = parse(ONE, sizeof ONE - 1);
  CHECK_EQ_INT(sio_rtopo_from_shards(r, "redis.example", 0, &t, err, sizeof err), 0);
  CHECK_EQ_INT(owner_port(&t, 777), 7000);
  CHECK(t.n == 1 && !strcmp(t.nodes[0].host, "redis.example"));
  sio_rtopo_clear(&t);
  freeReplyObject(r);

  /* malformed: bad ranges, wrong shapes, errors */
  static const char BAD_RANGE[] = "*1\r\n*3\r\n:5\r\n:99999\r\n*2\r\n$1\r\na\r\n:1\r\n";
  r = parse(BAD_RANGE, sizeof BAD_RANGE - 1);
  CHECK_EQ_INT(sio_rtopo_from_slots(r, "h", &t, err, sizeof err), -1);
  freeReplyObject(r);
  static const char ERR[] = "-ERR This instance has cluster support disabled\r\n";
  r = parse(ERR, sizeof ERR - 1);
  CHECK_EQ_INT(sio_rtopo_from_shards(r, "h", 0, &t, err, sizeof err), -1);
  CHECK(strstr(err, "cluster support disabled") != NULL);
  freeReplyObject(r);
  static const char INT[] = ":1\r\n";
  r = parse(INT, sizeof INT - 1);
  CHECK_EQ_INT(sio_rtopo_from_slots(r, "h", &t, err, sizeof err), -1);
  freeReplyObject(r);
  TEST_END();
}
