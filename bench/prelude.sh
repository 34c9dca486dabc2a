# Sourced by the bench scripts (bench/*.sh): ROOT (the checkout), B (the
# Release build, $SIO_BUILD_DIR or build/gcc) with bench_server, floor and
# loadgen built in it unless BENCH_NO_BUILD (or cost.sh's COST_NO_BUILD) is
# set (then $B's programs run as they are, e.g. an older tree's build); the
# soft descriptor limit raised to the hard one; OUT, a temporary directory
# removed on exit.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${SIO_BUILD_DIR:-$ROOT/build/gcc}
if [ -z "${BENCH_NO_BUILD:-}${COST_NO_BUILD:-}" ]; then
  cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
  cmake --build "$B" -j2 --target bench_server floor loadgen >/dev/null
fi
ulimit -n "$(ulimit -Hn)"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
