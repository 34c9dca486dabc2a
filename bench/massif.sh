#!/usr/bin/env bash
# Heap bytes per idle WebSocket socket of the libsio bench server, counted
# exactly by valgrind's massif: the bench server runs under massif twice,
# holding N and 2N idle sockets of loadgen's idle scenario; a snapshot is
# taken (vgdb) while they are idle; the difference of the heap (useful +
# allocator overhead) over N is printed, then the 2N snapshot's tree.
#   bench/massif.sh [N]        (default 1000)
# Builds the Release (gcc) tree in $SIO_BUILD_DIR (default build/gcc).
set -euo pipefail
. "$(dirname "$0")/prelude.sh"
N=${1:-1000}

snap() { # n -> the heap bytes (useful + extra) while n sockets are idle
  local n=$1
  valgrind --tool=massif --vgdb=yes --massif-out-file="$OUT/massif.$n" "$B/bench_server" \
    >"$OUT/srv.$n" 2>"$OUT/err.$n" &
  local pid=$!
  for _ in $(seq 300); do grep -q listening "$OUT/srv.$n" 2>/dev/null && break; sleep 0.1; done
  local port; port=$(awk '/listening/{print $2}' "$OUT/srv.$n")
  [ -n "$port" ] || { echo "bench_server did not start" >&2; cat "$OUT/err.$n" >&2; kill "$pid"; exit 1; }
  LG_IDLE=$n LG_HOLD=4 "$B/loadgen" "$port" "$pid" idle >"$OUT/lg.$n" 2>"$OUT/lgerr.$n" &
  local lg=$!
  for _ in $(seq 600); do grep -q holding "$OUT/lgerr.$n" 2>/dev/null && break; sleep 0.1; done
  vgdb --pid="$pid" detailed_snapshot "$OUT/snap.$n" >/dev/null
  wait "$lg"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -F= '/^mem_heap_B/{h=$2} /^mem_heap_extra_B/{print h+$2}' "$OUT/snap.$n"
}
a=$(snap "$N")
b=$(snap $((2 * N)))
echo "heap bytes per idle socket: $(( (b - a) / N ))"
echo "heap: $a B with $N idle sockets, $b B with $((2 * N))"
# The allocation tree of the 2N run's idle snapshot.
ms_print --threshold=0.5 "$OUT/snap.$((2 * N))" | sed -n '/^ *n *time/,$p' |
  grep -v '^[ |]*$' | grep -v 'event_base_loop\|accept_cb\|0x4890D94\|0x4898452\|main (in'
