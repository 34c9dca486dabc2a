#!/usr/bin/env bash
# Installs libsio into a temporary prefix, then builds and runs a small
# program against it with pkg-config (shared and static) and with
# find_package(libsio) (libsio::sio, libsio::sio_static). Also checks the
# shared library's SONAME and that internal symbols are hidden.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

# The gcc build of scripts/test.sh (made here when missing), installed
# elsewhere than its configured prefix: the package must be relocatable.
build=${SIO_INSTALL_BUILD:-build/gcc}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSIO_WERROR=ON -DCMAKE_C_COMPILER=gcc >/dev/null
fi
cmake --build "$build" -j2 --target sio_static sio_shared >/dev/null
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name libsio.pc)")/..
libdir=$(cd "$libdir" && pwd)

soname=$(objdump -p "$libdir/libsio.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libsio.so.0" ] || { echo "SONAME is '$soname'"; exit 1; }
syms=$(nm -D --defined-only "$libdir/libsio.so")
grep -q ' T sio_server_new@@LIBSIO_0$' <<<"$syms" || { echo "sio_server_new not exported"; exit 1; }
if grep -q ' T sio_client_write@\| T eio_http_parse' <<<"$syms"; then
  echo "internal symbols are exported"; exit 1
fi
echo "install: $(find "$prefix" -type f | wc -l) files, SONAME $soname," \
     "$(grep -c ' T ' <<<"$syms") exported functions"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -o "$tmp/hello_pc" scripts/install-test/hello.c $(pkg-config --cflags --libs libsio)
LD_LIBRARY_PATH="$libdir" "$tmp/hello_pc"
cc -o "$tmp/hello_pc_static" scripts/install-test/hello.c \
   $(pkg-config --cflags libsio) "$libdir/libsio.a" $(pkg-config --static --libs libsio | sed 's/-lsio//')
"$tmp/hello_pc_static"

# The five-line program of README.md, built both ways too.
awk '/A five-line program/ {f=1} f && /^```c$/ {p=1; next} p && /^```$/ {exit} p' README.md \
  > "$tmp/readme_hello.c"
[ "$(wc -l <"$tmp/readme_hello.c")" -ge 5 ] || { echo "README program not found"; exit 1; }
cc -o "$tmp/readme_pc" "$tmp/readme_hello.c" $(pkg-config --cflags --libs libsio)

cmake -S scripts/install-test -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$prefix" \
      -DREADME_HELLO="$tmp/readme_hello.c" >/dev/null
cmake --build "$tmp/cm" -j2 >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cm/hello_shared"
"$tmp/cm/hello_static"
echo "install test: ok"
