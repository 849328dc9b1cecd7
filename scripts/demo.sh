#!/usr/bin/env bash
# Builds libjzx in Release and runs the demo: a supervised TCP echo service
# on 127.0.0.1 driven by client threads through real sockets.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DJZX_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" --target demo >/dev/null
exec build-release/examples/demo "$@"
