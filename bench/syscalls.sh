#!/usr/bin/env bash
# System calls per delivery of a loadgen scenario (default poll), counted by
# strace -c -f on the server (libsio's bench_server and the floor), as the
# difference of two runs that differ only in the number of broadcasts, so
# start-up and connecting cancel out.
#   bench/syscalls.sh [fanout|poll]   LG_POLL/LG_FANOUT (1000), LG_BCASTS_LO (50), LG_BCASTS_HI (150)
#   BENCH_SERVERS="libsio floor" (default both)
set -euo pipefail
. "$(dirname "$0")/prelude.sh"
command -v strace >/dev/null || { echo "syscalls.sh needs strace" >&2; exit 1; }
MODE=${1:-poll}
if [ "$MODE" = poll ]; then N=${LG_POLL:-1000}; else N=${LG_FANOUT:-1000}; fi
LO=${LG_BCASTS_LO:-50}
HI=${LG_BCASTS_HI:-150}

run_one() { # server broadcasts -> strace -c table in $OUT/<server>.<broadcasts>
  local d="$OUT/$1.$2" bin=$B/bench_server
  [ "$1" = floor ] && bin=$B/floor
  mkdir -p "$d"
  strace -c -f -o "$d/st" "$bin" >"$d/srv" 2>"$d/err" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$d/srv" 2>/dev/null && break; sleep 0.1; done
  local port; port=$(awk '/listening/{print $2}' "$d/srv")
  [ -n "$port" ] || { echo "$1 did not start" >&2; cat "$d/err" >&2; kill "$pid"; exit 1; }
  local spid; spid=$(pgrep -P "$pid" | head -1)
  LG_POLL=$N LG_FANOUT=$N LG_POLL_BCASTS=$2 LG_BCASTS=$2 "$B/loadgen" "$port" "$spid" "$MODE" >"$d/lg"
  kill "$spid"; wait "$pid" 2>/dev/null || true
}

echo "# $(date -u +%FT%TZ) strace -c, $MODE, $N receivers, ($HI - $LO) broadcasts: calls per delivery"
for s in ${BENCH_SERVERS:-libsio floor}; do
  run_one "$s" "$LO"
  run_one "$s" "$HI"
  echo "## $s"
  awk -v n="$N" -v k="$((HI - LO))" '
    FNR == 1 { f++ }
    /^-|^%|total/ { next }
    NF >= 5 { name = $NF; calls = $4; v[f, name] = calls; names[name] = 1 }
    END {
      for (nm in names) { d = (v[2, nm] - v[1, nm]) / (n * k); if (d > 0.005 || d < -0.005) { printf "%-16s %7.3f\n", nm, d; t += d } }
      printf "%-16s %7.3f\n", "total", t
    }' "$OUT/$s.$LO/st" "$OUT/$s.$HI/st" | sort -k2 -nr
done
