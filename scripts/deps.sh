#!/usr/bin/env bash
# Installs what libsio needs to build and test, if it is missing: Debian
# packages through apt-get, npm packages from interop/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages (checked one by one, so a machine that has them all does
# not touch apt at all).
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libevent-dev libmbedtls-dev libjansson-dev libhiredis-dev libmsgpack-dev zlib1g-dev
      libcrypt-dev
      redis-server openssl ca-certificates chromium)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages, exactly as locked; reinstalled only when the lock changes.
lock_sum=$(sha256sum interop/package-lock.json | cut -d' ' -f1)
if [ ! -f interop/node_modules/.lock-sum ] || [ "$(cat interop/node_modules/.lock-sum)" != "$lock_sum" ]; then
  echo "deps: npm ci in interop/"
  (cd interop && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > interop/node_modules/.lock-sum
fi
