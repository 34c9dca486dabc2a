#!/usr/bin/env bash
# libsio on 1 and on 2 event loops side by side (issue 13): bench/loadgen.c's
# scenarios against bench_server with workers=1 and workers=2, in turns,
# BENCH_ROUNDS times each (default 3: 1, 2, 1, 2, 1, 2); prints the median (and the range) of the
# rounds per measure and the ratio 2 loops / 1 loop. The goal: server CPU per
# fan-out delivery with 2 loops within 15% of 1 loop.
#   bench/workers.sh [scenario ...]   (default: connect fanout echo poll)
# Sizes: bench/loadgen.c's LG_* variables. Builds the Release (gcc) tree in
# $SIO_BUILD_DIR (default build/gcc).
set -euo pipefail
. "$(dirname "$0")/prelude.sh"
SCEN=("$@")
[ ${#SCEN[@]} -gt 0 ] || SCEN=(connect fanout echo poll)
ROUNDS=${BENCH_ROUNDS:-3}

run_one() { # workers round
  local w=$1 r=$2 name="w$1.r$2"
  "$B/bench_server" 0 "$w" >"$OUT/$name.srv" 2>"$OUT/$name.err" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$OUT/$name.srv" 2>/dev/null && break; sleep 0.1; done
  local port; port=$(awk '/listening/{print $2}' "$OUT/$name.srv")
  [ -n "$port" ] || { echo "bench_server ($w workers) did not start" >&2; cat "$OUT/$name.err" >&2; kill "$pid"; exit 1; }
  echo "== $w worker(s), round $r (pid $pid, port $port, $(ls /proc/$pid/task | wc -l) threads)" >&2
  if ! "$B/loadgen" "$port" "$pid" "${SCEN[@]}" >"$OUT/$name.txt"; then
    echo "loadgen failed against $w workers" >&2; kill "$pid"; exit 1
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for r in $(seq "$ROUNDS"); do
  run_one 1 "$r"
  run_one 2 "$r"
done

echo "# $(date -u +%FT%TZ) $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr); median of $ROUNDS rounds"
awk '
  { w = FILENAME ~ /\/w1\./ ? 1 : 2
    v[w, $1, ++c[w, $1]] = $2; if (!(($1) in seen)) { seen[$1] = 1; keys[++n] = $1 } }
  function med(w, k,   m, i, j, t, a) {
    m = c[w, k]; if (!m) return ""
    for (i = 1; i <= m; i++) a[i] = v[w, k, i] + 0
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  function rng(w, k,   m, i, lo, hi) {
    m = c[w, k]; if (!m) return ""
    lo = hi = v[w, k, 1] + 0
    for (i = 2; i <= m; i++) { if (v[w, k, i] + 0 < lo) lo = v[w, k, i] + 0; if (v[w, k, i] + 0 > hi) hi = v[w, k, i] + 0 }
    return lo "-" hi
  }
  END {
    printf "| %-34s | %10s | %10s | %8s | %21s | %21s |\n", "measure", "1 loop", "2 loops", "2/1", "1 loop min-max", "2 loops min-max"
    printf "|%s|%s|%s|%s|%s|%s|\n", "------------------------------------", "------------", "------------", "----------", "-----------------------", "-----------------------"
    for (i = 1; i <= n; i++) {
      k = keys[i]; a = med(1, k); b = med(2, k)
      printf "| %-34s | %10s | %10s | %8s | %21s | %21s |\n", k, a, b, (a + 0 != 0) ? sprintf("%.2f", b / a) : "-", rng(1, k), rng(2, k)
    }
  }' "$OUT"/w1.r*.txt "$OUT"/w2.r*.txt
