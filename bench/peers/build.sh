#!/usr/bin/env bash
# Builds the benchmark peers into <outdir>: the CAF program (caf_peer) and the
# Erlang modules (jzx_peer.beam, jzx_peer_sup.beam, jzx_peer_server.beam, and
# jzx_dist.beam for the remote workloads).
# Installs their Debian packages when missing. A peer whose toolchain is
# missing is skipped with a note (exit 0); a peer that fails to compile is an
# error.
# Usage: bench/peers/build.sh <outdir>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -ne 1 ]; then
  echo "usage: $0 <outdir>" >&2
  exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)

if ! "$root/scripts/deps.sh" libcaf-dev erlang-nox g++; then
  echo "peers: could not install libcaf-dev erlang-nox g++; building what is present" >&2
fi

# Debian's libcaf-dev (0.17) ships neither a pkg-config file nor a CMake
# package: the headers are in /usr/include and the libraries link by name.
if [ -f /usr/include/caf/all.hpp ] && [ -f /usr/include/caf/io/all.hpp ] &&
  command -v g++ >/dev/null; then
  src="$here/caf/caf_peer.cpp"
  if [ ! "$out/caf_peer" -nt "$src" ]; then
    echo "peers: building $out/caf_peer" >&2
    g++ -O2 -std=c++17 -Wall -Wextra -o "$out/caf_peer" "$src" \
      -lcaf_io -lcaf_core -pthread
  fi
else
  echo "peers: CAF peer not built: needs g++ and libcaf-dev (CAF headers in /usr/include/caf)" >&2
fi

if command -v erlc >/dev/null && command -v erl >/dev/null; then
  for m in jzx_peer jzx_peer_sup jzx_peer_server jzx_dist; do
    if [ ! "$out/$m.beam" -nt "$here/erlang/$m.erl" ]; then
      echo "peers: building $out/$m.beam" >&2
      erlc -Werror -o "$out" "$here/erlang/$m.erl"
    fi
  done
else
  echo "peers: Erlang peer not built: needs erl and erlc (erlang-nox)" >&2
fi
