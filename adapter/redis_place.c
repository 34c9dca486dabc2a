#include "redis_place.h"

sio_rplace_action sio_rplace_decide(const sio_rplace_in *in) {
  if (in->placed && in->on_target) return SIO_RPLACE_KEEP;
  if (!in->placed && in->retry_wait) return SIO_RPLACE_WAIT;
  if (!in->target_up || in->target_left) {
    /* no believable target: keep a subscription whose node still serves
     * it (classic Pub/Sub keeps working on a demoted master; a sharded
     * one is dropped by the node itself with a push) */
    if (!in->placed) return SIO_RPLACE_WAIT;
    return in->placed_up ? SIO_RPLACE_KEEP : SIO_RPLACE_DROP;
  }
  return in->placed ? SIO_RPLACE_MOVE : SIO_RPLACE_PLACE;
}
