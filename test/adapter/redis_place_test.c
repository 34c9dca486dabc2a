/* adapter/redis_place.c: the reconciler's decision for one subscription,
 * every combination of facts, and the sequence of the sharded failover
 * defect: a graceful failover after which a topology read from a node
 * that had not heard of it yet named the demoted master again. */
#include "redis_place.h"
#include "test.h"

static sio_rplace_action decide(int placed, int placed_up, int on_target, int target_up,
                                int target_left, int retry_wait) {
  sio_rplace_in in = {placed, placed_up, on_target, target_up, target_left, retry_wait};
  return sio_rplace_decide(&in);
}

int main(void) {
  /* on its target: stays (whatever else is said) */
  CHECK_EQ_INT(decide(1, 1, 1, 1, 0, 0), SIO_RPLACE_KEEP);
  CHECK_EQ_INT(decide(1, 1, 1, 1, 0, 1), SIO_RPLACE_KEEP);
  /* homeless, refused lately: waits even with a target */
  CHECK_EQ_INT(decide(0, 0, 0, 1, 0, 1), SIO_RPLACE_WAIT);
  /* homeless, a target: goes there */
  CHECK_EQ_INT(decide(0, 0, 0, 1, 0, 0), SIO_RPLACE_PLACE);
  /* homeless, no target (owner unknown or down): waits */
  CHECK_EQ_INT(decide(0, 0, 0, 0, 0, 0), SIO_RPLACE_WAIT);
  /* placed elsewhere, the target up: moves */
  CHECK_EQ_INT(decide(1, 1, 0, 1, 0, 0), SIO_RPLACE_MOVE);
  CHECK_EQ_INT(decide(1, 0, 0, 1, 0, 0), SIO_RPLACE_MOVE);
  /* no usable target: kept while its node serves (classic on a demoted
   * master), dropped when its node is gone (also when that node is the
   * target, down: a killed master) */
  CHECK_EQ_INT(decide(1, 1, 0, 0, 0, 0), SIO_RPLACE_KEEP);
  CHECK_EQ_INT(decide(1, 0, 0, 0, 0, 0), SIO_RPLACE_DROP);
  /* homeless, refused lately, the target just dropped it: waits */
  CHECK_EQ_INT(decide(0, 0, 0, 1, 1, 1), SIO_RPLACE_WAIT);

  /* The defect's sequence (redis_failover.test.js, sharded, graceful
   * CLUSTER FAILOVER of the shard of socket.io#/#). 1: on master B. */
  CHECK_EQ_INT(decide(1, 1, 1, 1, 0, 0), SIO_RPLACE_KEEP);
  /* 2: B is demoted and pushes sunsubscribe: the subscription leaves B
   * (detached by the push handler) and the slot's owner is forgotten:
   * homeless, waits for the topology */
  CHECK_EQ_INT(decide(0, 0, 0, 0, 0, 0), SIO_RPLACE_WAIT);
  /* 3: a topology from a node that has not heard of the failover still
   * names B (up, listed). Before the fix this was PLACE: B, now a replica
   * of the same shard, accepted the SSUBSCRIBE, and nothing moved it to
   * the new master until the periodic refresh 30 s later. */
  CHECK_EQ_INT(decide(0, 0, 0, 1, 1, 0), SIO_RPLACE_WAIT);
  /* 4: the next topology names the promoted replica A: placed there */
  CHECK_EQ_INT(decide(0, 0, 0, 1, 0, 0), SIO_RPLACE_PLACE);
  /* 5: a later stale topology names B again while on A: stays on A */
  CHECK_EQ_INT(decide(1, 1, 0, 1, 1, 0), SIO_RPLACE_KEEP);
  /* ...but not on a node that is gone */
  CHECK_EQ_INT(decide(1, 0, 0, 1, 1, 0), SIO_RPLACE_DROP);
  TEST_END();
}
