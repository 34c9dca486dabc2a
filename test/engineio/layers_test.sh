#!/bin/sh
# The connection layer (engineio/conn*.c) must not call the Engine.IO
# session layer above it by name (issue 13): no symbol the session files
# define may be undefined in a conn*.c object. Arguments: every object file
# of the library ($<TARGET_OBJECTS:sio_objs>: one ';'-separated list).
set -eu
set -- $(echo "$*" | tr ';' ' ')
lower=""; upper=""
for o in "$@"; do
  case "$(basename "$o")" in
  conn.c.o|conn_io.c.o|conn_http.c.o|conn_ws.c.o) lower="$lower $o" ;;
  server.c.o|session.c.o|route.c.o|handshake.c.o|poll_transport.c.o|ws_transport.c.o|allow.c.o)
    case "$o" in */engineio/*) upper="$upper $o" ;; esac ;;
  esac
done
nl=$(echo $lower | wc -w); nu=$(echo $upper | wc -w)
if [ "$nl" -ne 4 ] || [ "$nu" -ne 7 ]; then
  echo "expected 4 connection and 7 session objects, got $nl and $nu" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -u $lower | awk 'NF == 2 {print $2}' | sort -u >"$tmp/u"
nm --defined-only $upper | awk 'NF == 3 && $2 ~ /^[TDBR]$/ {print $3}' | sort -u >"$tmp/d"
if [ ! -s "$tmp/d" ]; then echo "no symbols defined by the session layer" >&2; exit 1; fi
bad=$(comm -12 "$tmp/u" "$tmp/d")
if [ -n "$bad" ]; then
  echo "the connection layer calls the session layer by name:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "ok: conn*.c use none of the $(wc -l <"$tmp/d") symbols the session layer defines"
