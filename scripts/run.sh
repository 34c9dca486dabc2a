#!/usr/bin/env bash
# Builds libsio and runs the chat example (in-memory adapter, one event loop
# per core: --workers N to change it): open
# http://127.0.0.1:3000/ in two browser windows.
# Extra arguments go to the server, e.g. scripts/run.sh --port 8080
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/gcc -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build/gcc -j "$(nproc)" >/dev/null
exec build/gcc/chat "$@"
