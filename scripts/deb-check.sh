#!/usr/bin/env bash
# Builds the Debian packages libjzx0, libjzx-dev and libjzx-doc from a copy of
# the tree (dpkg-buildpackage writes to the parent directory, and the build
# must not litter the checkout), runs lintian on them (errors fail, warnings
# are shown), extracts them into a temporary root with dpkg-deb -x, checks the
# man pages and the HTML reference there (every link resolves) and builds the
# out-of-tree consumers against that root: through pkg-config (shared and
# --static), through find_package(jzx), and the Python bindings' example
# through ctypes. Usage: scripts/deb-check.sh
# DEB_BUILD_OPTIONS from the environment is passed on (e.g. nocheck).
set -euo pipefail
cd "$(dirname "$0")/.."
# build-essential: dpkg-buildpackage checks for it (an implicit build
# dependency), and --no-install-recommends does not pull it in.
scripts/deps.sh dpkg-dev debhelper fakeroot lintian build-essential cmake pkg-config libuv1-dev \
  libcmocka-dev python3 doxygen

version=$(dpkg-parsechangelog -S Version)
upstream=${version%-*}
work=$(mktemp -d /tmp/jzx-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/libjzx-$upstream"
mkdir "$src"

# The tracked and new (not ignored) files, as they are in the working tree.
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$src"

echo "deb: dpkg-buildpackage -us -uc -b (log: build.log on failure)"
if ! (cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
  tail -n 60 "$work/build.log" >&2
  exit 1
fi
grep -E '^[0-9]+% tests passed' "$work/build.log" | sed 's/^/deb: dh_auto_test: /' ||
  echo "deb: dh_auto_test: skipped (nocheck)"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
changes="$work/libjzx_${version}_${arch}.changes"
runtime="$work/libjzx0_${version}_${arch}.deb"
dev="$work/libjzx-dev_${version}_${arch}.deb"
doc="$work/libjzx-doc_${version}_all.deb"
test -f "$changes" && test -f "$runtime" && test -f "$dev" && test -f "$doc"
for deb in "$runtime" "$dev"; do
  echo "deb: $(basename "$deb"):"
  dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print "  " $6 ($7 ? " " $7 " " $8 : "")}'
done
echo "deb: $(basename "$doc"): $(dpkg-deb -c "$doc" | grep -c '/html/') files in" \
  "/usr/share/doc/libjzx-doc/html, $(dpkg-deb -c "$doc" | awk '/doc-base/ && $1 !~ /^d/ {print $6}')"

echo "deb: lintian (errors fail the stage):"
lintian --fail-on error --display-info "$changes" 2>&1 | grep -v 'root privileges' | sed 's/^/  /' || {
  echo "deb: lintian reported errors" >&2
  exit 1
}
echo "deb: lintian done"

root="$work/root"
for deb in "$runtime" "$dev" "$doc"; do
  dpkg-deb -x "$deb" "$root"
done
libdir="$root/usr/lib/$multiarch"
test -f "$libdir/libjzx.so.0" && test -L "$libdir/libjzx.so" && test -f "$libdir/libjzx.a"
for fn in jzx $(grep -oE 'JZX_API [^(]*\bjzx_[a-z_]+\(' include/jzx/jzx.h | grep -oE 'jzx_[a-z_]+\($' | tr -d '('); do
  if [ ! -f "$root/usr/share/man/man3/$fn.3.gz" ]; then
    echo "deb: libjzx-dev lacks the man page $fn(3)" >&2
    exit 1
  fi
done
python3 scripts/linkcheck.py "$root/usr/share/doc/libjzx-doc/html"

# jzx.pc finds its prefix from where it lies, so pointing pkg-config at the
# extracted file is enough to get paths inside the root.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
include=$(pkg-config --cflags-only-I jzx | sed 's/^-I//; s/ *$//')
if [ "$(readlink -f "$include")" != "$root/usr/include" ]; then
  echo "deb: jzx.pc does not point into the extracted root: $(pkg-config --cflags jzx)" >&2
  exit 1
fi
cc -std=c11 -Wall -Wextra -Werror -o "$work/pc_shared" test/install/consumer.c \
  $(pkg-config --cflags --libs jzx)
LD_LIBRARY_PATH="$libdir" "$work/pc_shared"
LD_LIBRARY_PATH="$libdir" ldd "$work/pc_shared" | grep -q "libjzx.so.0 => $libdir/libjzx.so.0"
static_libs=$(pkg-config --static --libs jzx | sed -E 's/(^| )-ljzx( |$)/ /')
cc -std=c11 -Wall -Wextra -Werror -o "$work/pc_static" test/install/consumer.c \
  $(pkg-config --cflags jzx) "$libdir/libjzx.a" $static_libs
"$work/pc_static"

cmake -S test/install -B "$work/cmake" -DCMAKE_PREFIX_PATH="$root/usr" >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake/consumer_shared"
"$work/cmake/consumer_static"

JZX_LIBRARY="$libdir/libjzx.so.0" PYTHONPATH=bindings/python PYTHONDONTWRITEBYTECODE=1 \
  python3 bindings/python/examples/worker_pool.py --jobs 40 --workers 2 -q
echo "deb: libjzx0 + libjzx-dev + libjzx-doc $version: man pages, HTML links, pkg-config" \
  "(shared, static), find_package and ctypes consumers OK"
