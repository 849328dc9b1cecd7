#!/usr/bin/env bash
# Installs a build tree into a temporary prefix and builds consumers against
# it the three ways users do: pkg-config (shared), pkg-config --static, and
# CMake's find_package(jzx). Also checks that libjzx.so exports exactly the
# public API and that each function has its man page.
# Usage: scripts/install-check.sh <build-dir>
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?build dir}
prefix=$(mktemp -d /tmp/jzx-prefix.XXXXXX)
work=$(mktemp -d /tmp/jzx-consumer.XXXXXX)
trap 'rm -rf "$prefix" "$work"' EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libjzx.so.0' -printf '%h\n' | head -n1)
test -L "$libdir/libjzx.so" && test -L "$libdir/libjzx.so.0" && test -f "$libdir/libjzx.a"
test -f "$prefix/include/jzx/jzx.h"

# Exported symbols == functions declared JZX_API in the header.
want=$(grep -oE 'JZX_API [^(]*\b(jzx_[a-z_]+)\(' include/jzx/jzx.h | grep -oE 'jzx_[a-z_]+\($' | tr -d '(' | sort)
have=$(nm -D --defined-only "$libdir/libjzx.so.0" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort)
if [ "$want" != "$have" ]; then
  echo "install-check: exported symbols differ from the header's JZX_API functions" >&2
  diff <(echo "$want") <(echo "$have") >&2 || true
  exit 1
fi
echo "install-check: libjzx.so exports exactly the $(echo "$have" | wc -l) public functions"
# The overview page and one page per public function.
for page in jzx $want; do
  if [ ! -f "$prefix/share/man/man3/$page.3" ]; then
    echo "install-check: $page(3) is not installed" >&2
    exit 1
  fi
done

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror -o "$work/pc_shared" test/install/consumer.c $(pkg-config --cflags --libs jzx)
LD_LIBRARY_PATH="$libdir" "$work/pc_shared"
# Static: the archive by path (libdir holds the .so too), the rest from --static.
static_libs=$(pkg-config --static --libs jzx | sed -E 's/(^| )-ljzx( |$)/ /')
cc -std=c11 -Wall -Wextra -Werror -o "$work/pc_static" test/install/consumer.c \
  $(pkg-config --cflags jzx) "$libdir/libjzx.a" $static_libs
if ldd "$work/pc_static" | grep -q libjzx; then
  echo "install-check: static consumer still links libjzx.so" >&2
  exit 1
fi
"$work/pc_static"
# The example from the README, built the way the README says.
cc -std=c11 -O2 -o "$work/ping_pong" examples/ping_pong.c $(pkg-config --cflags --libs jzx)
LD_LIBRARY_PATH="$libdir" "$work/ping_pong" 1000 >/dev/null

cmake -S test/install -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake/consumer_shared"
"$work/cmake/consumer_static"
echo "install-check: pkg-config (shared, static) and find_package consumers OK"
