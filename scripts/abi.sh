#!/usr/bin/env bash
# The ABI of libjzx.so.0 against the committed baseline abi/libjzx.so.0.abi.
#   check   build, describe the library with abidw, compare with abidiff;
#           any difference fails, additions included (review, then update).
#   update  rewrite the baseline: only for a deliberate change before a
#           release, together with the CHANGELOG entry (docs/abi.md).
# The build is RelWithDebInfo in build-abi: abidw reads the DWARF.
# Usage: scripts/abi.sh check|update
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}
case "$mode" in
check | update) ;;
*)
  echo "usage: scripts/abi.sh check|update" >&2
  exit 2
  ;;
esac
scripts/deps.sh abigail-tools

baseline=abi/libjzx.so.0.abi
build=build-abi
# -ffile-prefix-map keeps this checkout's path out of the DWARF, and so out
# of the baseline.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJZX_BUILD_TESTS=OFF \
  -DJZX_BUILD_EXAMPLES=OFF -DCMAKE_C_FLAGS="-ffile-prefix-map=$PWD/=" >/dev/null
cmake --build "$build" -j"$(nproc)" --target jzx >/dev/null

# Locations and the architecture name are left out too: the file is the same
# whichever LP64 machine makes it.
current="$build/libjzx.so.0.abi"
abidw --headers-dir include/jzx --drop-private-types --suppressions abi/jzx.abignore \
  --load-all-types --no-architecture --no-corpus-path --no-comp-dir-path --no-show-locs \
  --type-id-style hash --out-file "$current" "$build/libjzx.so.0"

if [ "$mode" = update ]; then
  cp "$current" "$baseline"
  echo "abi: baseline $baseline rewritten; commit it with a CHANGELOG entry"
  exit 0
fi
# --non-reachable-types: jzx_io_event, jzx_child_exit and jzx_actor_status
# reach users only through void* payloads, yet are ABI all the same.
if abidiff --non-reachable-types "$baseline" "$current"; then
  echo "abi: libjzx.so.0 matches $baseline ($(grep -c '<elf-symbol ' "$baseline") symbols)"
else
  rc=$?
  echo "abi: libjzx.so.0 differs from $baseline (abidiff exit $rc)." >&2
  echo "abi: if the change is deliberate, run scripts/abi.sh update (see docs/abi.md)." >&2
  exit 1
fi
