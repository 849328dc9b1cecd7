#!/usr/bin/env bash
# Installs a build tree into a temporary prefix and builds consumers against
# it the three ways users do: pkg-config (shared), pkg-config --static, and
# CMake's find_package(jzx). Also checks that libjzx.so exports exactly the
# public API and that each function has its man page. When the build has
# libjzx-nats (JZX_WITH_NATS), the same for it: its exported symbols (all at
# JZX_NATS_0.3), its man pages, a consumer through pkg-config (jzx-nats, with
# no libnats.pc in reach) and through find_package (jzx::nats); and libjzx.so
# still needs nothing but libuv and libc.
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

# libjzx.so's own dependencies: libuv and glibc, nothing else (libnats is
# libjzx-nats.so's alone). glibc's dynamic loader is named because the async
# queue's per-thread record is thread-local (__tls_get_addr lives there);
# every process has it loaded already.
needed=$(readelf -d "$libdir/libjzx.so.0" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -v '^ld-linux' |
  sort | tr '\n' ' ')
if [ "$needed" != "libc.so.6 libuv.so.1 " ] || ldd "$libdir/libjzx.so.0" | grep -i nats >/dev/null; then
  echo "install-check: libjzx.so.0 needs $needed(libuv.so.1 and glibc only)" >&2
  ldd "$libdir/libjzx.so.0" >&2
  exit 1
fi

# Exported symbols == functions declared JZX_API in the header.
want=$(grep -oE 'JZX_API [^(]*\b(jzx_[a-z_]+)\(' include/jzx/jzx.h | grep -oE 'jzx_[a-z_]+\($' | tr -d '(' | sort)
# (jzx_spawn and jzx_spawn_supervisor are there twice: their JZX_0.1 entry
# points live on beside the default JZX_0.2 ones.)
have=$(nm -D --defined-only "$libdir/libjzx.so.0" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u)
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

# ---- libjzx-nats -------------------------------------------------------------
if [ ! -e "$libdir/libjzx-nats.so.0" ]; then
  if grep -qE '^JZX_WITH_NATS:[A-Z]+=ON$' "$build/CMakeCache.txt"; then
    echo "install-check: JZX_WITH_NATS=ON, but libjzx-nats is not installed" >&2
    exit 1
  fi
  echo "install-check: libjzx-nats not built (JZX_WITH_NATS), its checks skipped"
  exit 0
fi
test -L "$libdir/libjzx-nats.so" && test -f "$prefix/include/jzx/jzx_nats.h" &&
  test -f "$libdir/pkgconfig/jzx-nats.pc" && test -f "$libdir/cmake/jzx/jzxNatsTargets.cmake"
if [ -e "$libdir/libjzx-nats.a" ]; then
  echo "install-check: a static libjzx-nats is installed, but jzx-nats.pc has no Libs.private for it" >&2
  exit 1
fi
# Exported symbols == functions declared JZX_NATS_API in jzx_nats.h, every one
# of them at JZX_NATS_0.3 (the map's only node, defined once).
nats_want=$(grep -oE 'JZX_NATS_API [^(]*\b(jzx_[a-z_]+)\(' include/jzx/jzx_nats.h |
  grep -oE 'jzx_[a-z_]+\($' | tr -d '(' | sort)
nats_have=$(nm -D --defined-only "$libdir/libjzx-nats.so.0" | awk '$2 == "T" {print $3}' | sort)
if [ "$(sed 's/$/@@JZX_NATS_0.3/' <<<"$nats_want")" != "$nats_have" ] ||
  [ "$(nm -D --defined-only "$libdir/libjzx-nats.so.0" | awk '$2 != "T" {print $2, $3}')" != "A JZX_NATS_0.3" ]; then
  echo "install-check: libjzx-nats.so.0 exports other than the JZX_NATS_API functions at JZX_NATS_0.3" >&2
  diff <(sed 's/$/@@JZX_NATS_0.3/' <<<"$nats_want") <(nm -D --defined-only "$libdir/libjzx-nats.so.0") >&2 || true
  exit 1
fi
echo "install-check: libjzx-nats.so exports exactly the $(echo "$nats_have" | wc -l) public functions, at JZX_NATS_0.3"
for page in jzx_nats $nats_want; do
  if [ ! -f "$prefix/share/man/man3/$page.3" ]; then
    echo "install-check: $page(3) is not installed" >&2
    exit 1
  fi
done
# Nothing of libnats in the CMake package: jzx::nats links jzx::jzx only.
if grep -il 'nats' "$libdir"/cmake/jzx/jzxTargets*.cmake "$libdir"/cmake/jzx/jzxConfigVersion.cmake ||
  grep -iE 'libnats|PkgConfig::' "$libdir"/cmake/jzx/jzxNatsTargets*.cmake; then
  echo "install-check: the CMake package mixes jzx::nats into jzxTargets or needs libnats" >&2
  exit 1
fi

# pkg-config with only the prefix and libuv's .pc file in reach: libnats.pc
# must not be needed (there is no static libjzx-nats to need it).
mkdir "$work/pc"
ln -s "$(pkg-config --variable=pcfiledir libuv)/libuv.pc" "$work/pc/libuv.pc"
nats_flags=$(PKG_CONFIG_LIBDIR="$libdir/pkgconfig:$work/pc" pkg-config --cflags --libs jzx-nats)
cc -std=c11 -Wall -Wextra -Werror -o "$work/pc_nats" test/install/consumer_nats.c $nats_flags
# The header includes jzx.h and no NATS header.
if cc -std=c11 -M test/install/consumer_nats.c $nats_flags | grep '/nats/' >/dev/null; then
  echo "install-check: jzx_nats.h pulls in a header of libnats" >&2
  exit 1
fi
LD_LIBRARY_PATH="$libdir" "$work/pc_nats"
LD_LIBRARY_PATH="$libdir" ldd "$work/pc_nats" | grep "libjzx-nats.so.0 => $libdir/libjzx-nats.so.0" >/dev/null

cmake -S test/install -B "$work/cmake-nats" -DCMAKE_PREFIX_PATH="$prefix" -DJZX_EXPECT_NATS=ON >/dev/null
cmake --build "$work/cmake-nats" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake-nats/consumer_nats"
# And a prefix where libjzx was installed without libjzx-nats: find_package(jzx)
# works, defines no jzx::nats, and find_package(jzx COMPONENTS nats) fails.
bare=$(mktemp -d /tmp/jzx-prefix-bare.XXXXXX)
trap 'rm -rf "$prefix" "$work" "$bare"' EXIT
cp -a "$prefix/." "$bare/"
bare_libdir=$bare/${libdir#"$prefix"/}
rm "$bare_libdir"/libjzx-nats.so* "$bare_libdir"/cmake/jzx/jzxNatsTargets*.cmake
cmake -S test/install -B "$work/cmake-bare" -DCMAKE_PREFIX_PATH="$bare" -DJZX_EXPECT_NATS=OFF >/dev/null
cmake --build "$work/cmake-bare" >/dev/null
LD_LIBRARY_PATH="$bare_libdir" "$work/cmake-bare/consumer_shared"
echo "install-check: libjzx-nats: pkg-config (without libnats.pc) and find_package (jzx::nats," \
  "and without it installed) consumers OK"
