#!/usr/bin/env bash
# Builds libjzx in Release and runs the demo: a supervised TCP echo service
# on 127.0.0.1 on every core (a group of loops, one per core; the acceptor on
# loop 0 starts each connection's actor on the least-loaded loop), driven by
# client threads through real sockets.
# Usage: scripts/demo.sh [LOOPS]   (default: one loop per core; 1: a single loop)
#        scripts/demo.sh cluster   (libjzx-nats: three nodes, one killed)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DJZX_BUILD_TESTS=OFF -DJZX_WITH_NATS=ON >/dev/null
if [ "${1:-}" = cluster ]; then
  # Three node processes and a nats-server on loopback (libjzx-nats): B is
  # killed, and the work moves to C.
  cmake --build build-release -j"$(nproc)" --target cluster_demo >/dev/null
  exec build-release/examples/cluster_demo
fi
cmake --build build-release -j"$(nproc)" --target demo >/dev/null
exec build-release/examples/demo "$@"
