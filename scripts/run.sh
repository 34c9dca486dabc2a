#!/usr/bin/env bash
# Builds libsio and runs the example server (in-memory, no Redis).
# Extra arguments go to the server, e.g. scripts/run.sh --port 8080
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/gcc -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build/gcc -j "$(nproc)" >/dev/null
exec build/gcc/eio_echo "$@"
