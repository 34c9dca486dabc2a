#!/usr/bin/env bash
# One command for the whole benchmark: every loadgen scenario against the
# libsio bench server, its Node socket.io 4.8 twin and the floor server, in
# one run; prints absolute figures and the ratios libsio/floor, Node/floor.
#   bench/run.sh [scenario ...]      (default: idle connect fanout echo poll)
# BENCH_SERVERS="libsio" (or any of "libsio node floor") runs only those
# servers (columns of the others stay empty): for quick runs while iterating.
# Builds the Release (gcc) tree in $SIO_BUILD_DIR (default build/gcc).
# Sizes: see bench/loadgen.c (LG_* environment variables). The idle scenario
# needs ~10.2k file descriptors in the load generator and in the server: the
# soft limit is raised to the hard one (20000 here).
set -euo pipefail
. "$(dirname "$0")/prelude.sh"
SCEN=("$@")

run_one() { # name command...
  local name=$1; shift
  "$@" >"$OUT/$name.srv" 2>"$OUT/$name.err" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$OUT/$name.srv" 2>/dev/null && break; sleep 0.1; done
  local port; port=$(awk '/listening/{print $2}' "$OUT/$name.srv")
  [ -n "$port" ] || { echo "$name did not start" >&2; cat "$OUT/$name.err" >&2; kill "$pid"; exit 1; }
  echo "== $name (pid $pid, port $port)" >&2
  if ! "$B/loadgen" "$port" "$pid" "${SCEN[@]}" >"$OUT/$name.txt"; then
    echo "loadgen failed against $name" >&2; kill "$pid"; exit 1
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

WANT=" ${BENCH_SERVERS:-libsio node floor} "
for n in libsio node floor; do : >"$OUT/$n.txt"; done
[[ $WANT == *" libsio "* ]] && run_one libsio "$B/bench_server"
[[ $WANT == *" node "* ]] && run_one node node "$ROOT/bench/bench_server.js"
[[ $WANT == *" floor "* ]] && run_one floor "$B/floor"

echo "# $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr)"
awk '
  { f = FILENAME ~ /\/libsio\.txt$/ ? 1 : FILENAME ~ /\/node\.txt$/ ? 2 : 3
    v[f, $1] = $2; if (!(($1) in seen)) { seen[$1] = 1; keys[++n] = $1 } }
  END {
    printf "| %-34s | %10s | %10s | %10s | %12s | %10s |\n", "measure", "libsio", "node", "floor", "libsio/floor", "node/floor"
    printf "|%s|%s|%s|%s|%s|%s|\n", "------------------------------------", "------------", "------------", "------------", "--------------", "------------"
    for (i = 1; i <= n; i++) {
      k = keys[i]; a = v[1, k]; b = v[2, k]; c = v[3, k]
      ra = (c + 0 != 0) ? sprintf("%.2f", a / c) : "-"
      rb = (c + 0 != 0) ? sprintf("%.2f", b / c) : "-"
      printf "| %-34s | %10s | %10s | %10s | %12s | %10s |\n", k, a, b, c, ra, rb
    }
  }' "$OUT/libsio.txt" "$OUT/node.txt" "$OUT/floor.txt"
