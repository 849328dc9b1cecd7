#!/usr/bin/env bash
# Installs the Debian packages libjzx's scripts need, only those missing.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail

# git: the format stage lists the sources with git ls-files, and the deb stage
# copies the tree the same way. python3: every build writes the man pages.
# libnats-dev and nats-server: libjzx-nats and its tests (real servers on
# loopback).
want=(gcc make cmake pkg-config libuv1-dev libcmocka-dev valgrind clang-format git python3
  libnats-dev nats-server "$@")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "deps: missing ${missing[*]}, and installing needs root or sudo (not found)." >&2
    echo "deps: run this as root, install sudo, or install them yourself:" >&2
    echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  SUDO="sudo"
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
