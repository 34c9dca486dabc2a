#!/usr/bin/env bash
# Server cost per WebSocket connect and per echo + ack round trip (issue
# 14), libsio's bench server beside the floor server, counted two ways that
# do not swing with the load on this shared VM the way CPU time does:
#   - instructions (callgrind), and
#   - system calls (strace -c -f), with the calls by name.
# Each figure is the difference of two runs of bench/loadgen.c that differ
# only in size (connect: LG_CONNECT LO/HI; echo: LG_ECHO_ROUNDS LO/HI with
# LG_ECHO_CLIENTS clients), so start-up, connecting the echo clients and
# closing cancel out (a connect counts everything up to the CONNECT reply
# read by the client, not the close).
#   bench/cost.sh [connect|echo ...]      (default: connect echo)
#   COST_SERVERS="libsio floor" COST_TOOLS="callgrind strace" COST_NO_BUILD=1
#   COST_CONNECT_LO (300) COST_CONNECT_HI (1300) COST_ECHO_LO (20)
#   COST_ECHO_HI (120) LG_ECHO_CLIENTS (100)
set -euo pipefail
. "$(dirname "$0")/prelude.sh"
SCEN=("$@")
[ ${#SCEN[@]} -gt 0 ] || SCEN=(connect echo)
SERVERS=${COST_SERVERS:-libsio floor}
TOOLS=${COST_TOOLS:-callgrind strace}
EC=${LG_ECHO_CLIENTS:-100}

bin() { [ "$1" = libsio ] && echo "$B/bench_server" || echo "$B/floor"; }

# run_one tool server scenario size -> prints the count (Ir, or syscalls)
# and leaves the per-name syscall table in $OUT/last.calls
run_one() {
  local tool=$1 srv=$2 scen=$3 size=$4 d="$OUT/$1.$2.$3.$4"
  mkdir -p "$d"
  if [ "$tool" = callgrind ]; then
    valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$(bin "$srv")" >"$d/srv" 2>"$d/err" &
  else
    "$(bin "$srv")" >"$d/srv" 2>"$d/err" &
  fi
  local pid=$!
  for _ in $(seq 300); do grep -q listening "$d/srv" 2>/dev/null && break; sleep 0.1; done
  local port; port=$(awk '/listening/{print $2}' "$d/srv")
  [ -n "$port" ] || { echo "$srv did not start" >&2; cat "$d/err" >&2; kill "$pid"; exit 1; }
  local spid=
  if [ "$tool" = strace ]; then
    strace -c -f -p "$pid" -o "$d/strace" 2>/dev/null &
    spid=$!
    sleep 0.5
  fi
  # The measured part ends when loadgen has its answers; it then closes
  # its clients: with LG_NOCLOSE=1 it exits without closing them (the
  # server is stopped first, so closing is not counted).
  if [ "$scen" = connect ]; then
    LG_NOCLOSE=1 LG_CONNECT=$size "$B/loadgen" "$port" "$pid" connect >"$d/lg" &
  else
    LG_NOCLOSE=1 LG_ECHO_CLIENTS=$EC LG_ECHO_ROUNDS=$size "$B/loadgen" "$port" "$pid" echo >"$d/lg" &
  fi
  local lpid=$!
  for _ in $(seq 1200); do grep -q "^${scen}_done" "$d/lg" 2>/dev/null && break; sleep 0.1; done
  grep -q "^${scen}_done" "$d/lg" || { echo "loadgen did not finish against $srv" >&2; kill "$pid" "$lpid"; exit 1; }
  if [ "$tool" = callgrind ]; then
    callgrind_control -d "$pid" >/dev/null 2>&1
    for _ in $(seq 100); do ls "$d"/cg.out.* >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  if [ -n "$spid" ]; then kill -INT "$spid"; wait "$spid" 2>/dev/null || true; fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null || true
  if [ "$tool" = callgrind ]; then
    # the dump taken at the end of the measurement (cg.out.1: from the start)
    local f; f=$(ls "$d"/cg.out.* | head -1)
    grep -h '^summary:\|^totals:' "$f" | awk '{ if ($1 == "summary:") s = $2; else if (!s) s = $2 } END { print s }'
  else
    awk '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" { print $NF, $4 } $NF ~ /^[a-z_0-9]+$/ && $5 ~ /^[0-9]+$/ && $NF != "total" && $4 !~ /^[0-9]+$/ { print $NF, $4 }' "$d/strace" | sort >"$OUT/last.calls"
    awk '{ s += $2 } END { print s }' "$OUT/last.calls"
  fi
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for scen in "${SCEN[@]}"; do
  if [ "$scen" = connect ]; then
    LO=${COST_CONNECT_LO:-300}; HI=${COST_CONNECT_HI:-1300}; UNIT=$((HI - LO)); what="per connect"
  else
    LO=${COST_ECHO_LO:-20}; HI=${COST_ECHO_HI:-120}; UNIT=$(((HI - LO) * EC)); what="per echo round trip"
  fi
  for tool in $TOOLS; do
    for srv in $SERVERS; do
      a=$(run_one "$tool" "$srv" "$scen" "$LO"); cp "$OUT/last.calls" "$OUT/lo.calls" 2>/dev/null || : >"$OUT/lo.calls"
      b=$(run_one "$tool" "$srv" "$scen" "$HI"); cp "$OUT/last.calls" "$OUT/hi.calls" 2>/dev/null || : >"$OUT/hi.calls"
      per=$(awk -v a="$a" -v b="$b" -v u="$UNIT" 'BEGIN { printf "%.1f", (b - a) / u }')
      if [ "$tool" = callgrind ]; then
        echo "$scen $srv instructions $what: $per   ($a at $LO, $b at $HI)"
      else
        calls=$(join -a1 -a2 -e0 -o 0,1.2,2.2 "$OUT/lo.calls" "$OUT/hi.calls" |
                awk -v u="$UNIT" '{ d = ($3 - $2) / u; if (d >= 0.05 || d <= -0.05) printf "%s %.2f, ", $1, d }')
        echo "$scen $srv syscalls $what: $per   (${calls%, })"
      fi
    done
  done
done
