#!/usr/bin/env bash
# Server instructions per WebSocket fan-out delivery, 1 loop against 2
# (issue 13), counted by callgrind: repeatable within about 1% where CPU time
# on this shared 2-core VM swings 1-2x between runs (other tenants, the load
# generator sharing the cores). Each count is the difference of two runs of
# bench/loadgen.c's fanout scenario that differ only in the number of
# broadcasts (LG_BCASTS_LO, LG_BCASTS_HI), so start-up and connecting cancel
# out. Valgrind runs one thread at a time: this counts work, not contention
# (writes and wake-ups per delivery are printed beside it).
#   bench/callgrind.sh          LG_FANOUT (500), LG_BCASTS_LO (100), LG_BCASTS_HI (400)
#   bench/callgrind.sh poll     the same for long-polling receivers (loadgen's poll
#                               scenario: LG_POLL (1000), LG_BCASTS_LO (50), LG_BCASTS_HI (150)),
#                               1 loop only; LG_LOOPS="1 2" picks the loop counts
# CG_KEEP=dir keeps the callgrind outputs (callgrind_annotate them).
set -euo pipefail
. "$(dirname "$0")/prelude.sh"
command -v valgrind >/dev/null || { echo "callgrind.sh needs valgrind" >&2; exit 1; }
MODE=${1:-fanout}
if [ "$MODE" = poll ]; then
  N=${LG_POLL:-1000}; LO=${LG_BCASTS_LO:-50}; HI=${LG_BCASTS_HI:-150}; LOOPS=${LG_LOOPS:-1}
else
  N=${LG_FANOUT:-500}; LO=${LG_BCASTS_LO:-100}; HI=${LG_BCASTS_HI:-400}; LOOPS=${LG_LOOPS:-1 2}
fi

run_one() { # workers broadcasts -> "Ir writes/delivery wakeups/broadcast"
  local d="$OUT/w$1.b$2"
  mkdir -p "$d"
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$B/bench_server" 0 "$1" >"$d/srv" 2>"$d/err" &
  local pid=$!
  for _ in $(seq 300); do grep -q listening "$d/srv" 2>/dev/null && break; sleep 0.1; done
  local port; port=$(awk '/listening/{print $2}' "$d/srv")
  [ -n "$port" ] || { echo "bench_server under valgrind did not start" >&2; cat "$d/err" >&2; kill "$pid"; exit 1; }
  LG_FANOUT=$N LG_BCASTS=$2 LG_POLL=$N LG_POLL_BCASTS=$2 "$B/loadgen" "$port" "$pid" "$MODE" >"$d/lg"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local ir; ir=$(grep -h '^summary:\|^totals:' "$d"/cg.out* | awk '{ if ($1 == "summary:") s = $2; else if (!s) s = $2 } END { print s }')
  echo "$ir $(awk '/writes_per_delivery/{w=$2} /wakeups_per_broadcast/{k=$2} /responses_per_delivery/{w=$2} END{print w, k}' "$d/lg")"
}

echo "# $(date -u +%FT%TZ) callgrind, $MODE, $N receivers, ($HI - $LO) broadcasts"
printf "| %-7s | %-14s | %-14s | %-22s | %-18s | %-22s |\n" loops "Ir ($LO)" "Ir ($HI)" "Ir per delivery" "writes/delivery" "wake-ups/broadcast"
declare -A per
for w in $LOOPS; do
  read -r a _ _ <<<"$(run_one "$w" "$LO")"
  read -r b wr wk <<<"$(run_one "$w" "$HI")"
  per[$w]=$(awk -v a="$a" -v b="$b" -v n="$N" -v k="$((HI - LO))" 'BEGIN { printf "%.0f", (b - a) / (n * k) }')
  printf "| %-7s | %-14s | %-14s | %-22s | %-18s | %-22s |\n" "$w" "$a" "$b" "${per[$w]}" "$wr" "$wk"
done
if [ -n "${per[2]:-}" ]; then
  awk -v a="${per[1]}" -v b="${per[2]}" 'BEGIN { printf "2 loops / 1 loop: %.3f\n", b / a }'
fi
if [ -n "${CG_KEEP:-}" ]; then mkdir -p "$CG_KEEP" && cp -r "$OUT"/. "$CG_KEEP"/; fi
