#!/usr/bin/env bash
# Installs the Debian packages libjzx's scripts need, only those missing.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail

want=(gcc make cmake pkg-config libuv1-dev libcmocka-dev valgrind clang-format "$@")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
