#!/usr/bin/env bash
# Runs every test of libsio:
#   1. a gcc build with warnings as errors (library, programs);
#   2. a clang build with AddressSanitizer + UndefinedBehaviorSanitizer:
#      the C unit tests (ctest), then the interop suites (node:test) that
#      drive the sanitized C servers and their Node twins with the official
#      npm clients; a server that leaks or trips a sanitizer fails its suite;
#   3. the libFuzzer targets, a short run each (SIO_FUZZ_SECONDS, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

JOBS=$(nproc)
echo "== gcc build (-Werror)"
cmake -S . -B build/gcc -DCMAKE_BUILD_TYPE=Release -DSIO_WERROR=ON -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build/gcc -j "$JOBS" >/dev/null

echo "== install into a temporary prefix, build against it (pkg-config, find_package)"
scripts/install-test.sh

echo "== clang build with ASan + UBSan (-Werror)"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DSIO_SANITIZE=ON -DSIO_WERROR=ON \
      -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build/asan -j "$JOBS" >/dev/null

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== fuzz targets"
cmake -S . -B build/fuzz -DSIO_FUZZ=ON -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build/fuzz -j "$JOBS" >/dev/null
mkdir -p build/fuzz-logs
for f in build/fuzz/fuzz_*; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=$(mktemp -d)
  [ -d "test/fuzz/corpus/$name" ] && cp "test/fuzz/corpus/$name"/* "$corpus"/
  if ! "$f" -max_total_time="${SIO_FUZZ_SECONDS:-20}" -max_len=8192 "$corpus" \
      >"build/fuzz-logs/$name.log" 2>&1; then
    tail -40 "build/fuzz-logs/$name.log"
    echo "fuzz target $name failed"
    exit 1
  fi
  echo "$name: $(grep -E '^Done' "build/fuzz-logs/$name.log")"
  rm -rf "$corpus"
done

echo "== C unit tests (ASan + UBSan)"
ctest --test-dir build/asan --output-on-failure

echo "== interop suites against the sanitized C servers and the Node reference servers"
cd interop
SIO_BUILD_DIR=../build/asan node --test --test-reporter=spec ./*.test.js
