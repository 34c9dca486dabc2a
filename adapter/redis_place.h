/*
 * Where the Redis Cluster reconciler (redis_cluster.c) puts one
 * subscription (spec redis-cluster.md sections 8.3 and 8.4): a pure
 * decision over what it knows of the subscription, the node holding it
 * and its target (the master of the channel's slot, or the classic home
 * master). No I/O, no state: the caller gathers the facts and acts.
 */
#ifndef SIO_REDIS_PLACE_H
#define SIO_REDIS_PLACE_H

typedef struct sio_rplace_in {
  int placed;      /* subscribed (or subscribing) on a node */
  int placed_up;   /* that node is up and in the topology */
  int on_target;   /* that node is the target, and the target is up */
  int target_up;   /* there is a target, up and in the topology */
  /* The target itself pushed an unsolicited sunsubscribe for this channel
   * lately (it stopped serving the slot: failover, migration). A topology
   * that still names it comes from a node that has not heard of the
   * change yet (gossip lags by milliseconds): it must not be believed for
   * this channel, or the subscription lands on a demoted master, which
   * as a replica of the same shard accepts it and never says otherwise. */
  int target_left;
  int retry_wait;  /* the last subscribe was refused; not yet time to retry */
} sio_rplace_in;

typedef enum {
  SIO_RPLACE_KEEP,  /* stays where it is */
  SIO_RPLACE_DROP,  /* leaves its node (gone); homeless until a target */
  SIO_RPLACE_WAIT,  /* homeless: ask for the topology again later */
  SIO_RPLACE_MOVE,  /* leaves its node for the target */
  SIO_RPLACE_PLACE  /* goes to the target */
} sio_rplace_action;

sio_rplace_action sio_rplace_decide(const sio_rplace_in *in);
#endif
