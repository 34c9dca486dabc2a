#!/bin/sh
# Long fuzzing, not part of CI: each libFuzzer target in test/fuzz/ runs
# SIO_FUZZ_RUNS executions (default 10,000,000) from the committed corpus,
# then the corpus it grew is minimized (-merge=1) back into
# test/fuzz/corpus/<target>/. Prints one "target: runs, time, corpus" line
# each. Usage: scripts/fuzz-long.sh [target ...]   (nice it on a shared box)
set -eu
cd "$(dirname "$0")/.."
RUNS="${SIO_FUZZ_RUNS:-10000000}"
cmake -S . -B build/fuzz -DSIO_FUZZ=ON -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build/fuzz -j 2 >/dev/null
mkdir -p build/fuzz-long
targets="$*"
[ -n "$targets" ] || targets=$(cd test/fuzz && ls fuzz_*.c | sed 's/\.c$//')
for name in $targets; do
  work="build/fuzz-long/$name"
  rm -rf "$work" && mkdir -p "$work/grown" "$work/min"
  keep="test/fuzz/corpus/$name"
  mkdir -p "$keep"
  cp "$keep"/* "$work/grown"/ 2>/dev/null || true
  start=$(date +%s)
  if ! "build/fuzz/$name" -runs="$RUNS" -max_len=8192 -print_final_stats=1 -artifact_prefix="$work/" \
      "$work/grown" >"$work/log" 2>&1; then
    tail -40 "$work/log"
    echo "$name: FAILED (crash input in $work, see $work/log)"
    exit 1
  fi
  secs=$(( $(date +%s) - start ))
  "build/fuzz/$name" -merge=1 -max_len=8192 "$work/min" "$keep" "$work/grown" \
      >"$work/merge.log" 2>&1
  rm -f "$keep"/*
  cp "$work/min"/* "$keep"/
  runs=$(grep -E '^stat::number_of_executed_units' "$work/log" | awk '{print $2}')
  echo "$name: ${runs:-?} executions in ${secs} s, no crash; corpus $(ls "$keep" | wc -l) files"
done
