#!/usr/bin/env bash
# Soak: test/soak/soak.c on a group of every core for MINUTES (fractions
# allowed: 1 = 60 s), with a nats-server on loopback for its second node.
# Prints a line every 10 s and a summary; fails on RSS growth past the
# bound after warm-up, a stuck loop, or a payload not accounted for.
# Usage: scripts/soak.sh MINUTES
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
minutes=${1:?usage: scripts/soak.sh MINUTES}
seconds=$(python3 -c "print(max(1, round(float('$minutes') * 60)))")
cmake -S . -B build-soak -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJZX_BUILD_SOAK=ON -DJZX_WITH_NATS=ON \
  -DJZX_BUILD_TESTS=OFF -DJZX_BUILD_EXAMPLES=OFF -DJZX_BUILD_MANPAGES=OFF >/dev/null
cmake --build build-soak -j"$(nproc)" --target soak >/dev/null
dir=$(mktemp -d /tmp/jzx-soak.XXXXXX)
nats-server -a 127.0.0.1 -p -1 --ports_file_dir "$dir" >"$dir/server.log" 2>&1 &
server=$!
# nats-server exits 1 on SIGTERM: that is not the soak's status.
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  [ -s "$dir/nats-server_$server.ports" ] && break
  sleep 0.05
done
url=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['nats'][0])" "$dir/nats-server_$server.ports")
build-soak/test/soak/soak "$seconds" "$url"
