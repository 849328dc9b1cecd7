#!/usr/bin/env bash
# Builds the Debian packages libjzx0, libjzx-dev, libjzx-doc and python3-jzx
# from a copy of the tree (dpkg-buildpackage writes to the parent directory,
# and the build must not litter the checkout), runs lintian on them (errors
# fail, warnings are shown), extracts them into a temporary root with
# dpkg-deb -x, checks the man pages and the HTML reference there (every link
# resolves) and builds the out-of-tree consumers against that root: through
# pkg-config (shared and --static) and through find_package(jzx). Last, it
# installs libjzx0 and python3-jzx system-wide (removed again on exit; where
# either is installed already it refuses instead of replacing it) and runs
# the Python README's hello world and example with Debian's python3, from an
# empty directory, JZX_LIBRARY, PYTHONPATH and LD_LIBRARY_PATH unset: the
# module comes from dist-packages and libjzx.so.0 is found by its SONAME.
# Needs root or sudo for that. Usage: scripts/deb-check.sh
# DEB_BUILD_OPTIONS from the environment is passed on (e.g. nocheck).
set -euo pipefail
cd "$(dirname "$0")/.."
# build-essential: dpkg-buildpackage checks for it (an implicit build
# dependency), and --no-install-recommends does not pull it in.
scripts/deps.sh dpkg-dev debhelper dh-python fakeroot lintian build-essential cmake pkg-config \
  libuv1-dev libcmocka-dev python3 doxygen

# The first fenced block of a language in a Markdown file.
first_block() { # file language
  awk -v lang="$2" '$0 == "```" lang && !done {on = 1; next} on && $0 == "```" {on = 0; done = 1} on' "$1"
}

# The packages this check installs system-wide, and those of them dpkg knows
# (installed, or removed with their configuration kept).
installs=(libjzx0 python3-jzx)
known() {
  dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${installs[@]}" 2>/dev/null |
    awk '$2 != "not-installed" {print $1}' || true
}
present=$(known)
if [ -n "$present" ]; then
  echo "deb: already installed: $(echo $present); remove them first" \
    "(apt-get purge ${installs[*]}): this check installs its own build and removes it" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

version=$(dpkg-parsechangelog -S Version)
upstream=${version%-*}
work=$(mktemp -d /tmp/jzx-deb.XXXXXX)
cleanup() {
  local left
  left=$(known)
  if [ -n "$left" ]; then
    # shellcheck disable=SC2086 # one package a word
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq $left >/dev/null ||
      echo "deb: could not remove $(echo $left); apt-get purge them by hand" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
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
python="$work/python3-jzx_${version}_all.deb"
test -f "$changes" && test -f "$runtime" && test -f "$dev" && test -f "$doc" && test -f "$python"
for deb in "$runtime" "$dev" "$python"; do
  echo "deb: $(basename "$deb"):"
  dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print "  " $6 ($7 ? " " $7 " " $8 : "")}'
done
echo "deb: $(basename "$doc"): $(dpkg-deb -c "$doc" | grep -c '/html/') files in" \
  "/usr/share/doc/libjzx-doc/html, $(dpkg-deb -c "$doc" | awk '/doc-base/ && $1 !~ /^d/ {print $6}')"

echo "deb: lintian (errors fail the stage):"
# Its exit status, not its output, decides: a clean run prints nothing at all
# (but the warning about root), which grep must not take for a failure.
lint_rc=0
lint_out=$(lintian --fail-on error --display-info "$changes" 2>&1) || lint_rc=$?
grep -v 'root privileges' <<<"$lint_out" | sed 's/^/  /' || echo "  (no tags)"
if [ "$lint_rc" -ne 0 ]; then
  echo "deb: lintian reported errors" >&2
  exit 1
fi
echo "deb: lintian done"

root="$work/root"
for deb in "$runtime" "$dev" "$doc" "$python"; do
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
# grep reads all of ldd's output: with -q it could stop at the match, ldd
# die of SIGPIPE on its next line, and pipefail fail the stage.
LD_LIBRARY_PATH="$libdir" ldd "$work/pc_shared" | grep "libjzx.so.0 => $libdir/libjzx.so.0" >/dev/null
static_libs=$(pkg-config --static --libs jzx | sed -E 's/(^| )-ljzx( |$)/ /')
cc -std=c11 -Wall -Wextra -Werror -o "$work/pc_static" test/install/consumer.c \
  $(pkg-config --cflags jzx) "$libdir/libjzx.a" $static_libs
"$work/pc_static"

cmake -S test/install -B "$work/cmake" -DCMAKE_PREFIX_PATH="$root/usr" >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake/consumer_shared"
"$work/cmake/consumer_static"

# python3-jzx ships the module's sources as they are in the tree, nothing else.
dist=usr/lib/python3/dist-packages/jzx
diff <(cd bindings/python/jzx && ls -- *.py) <(cd "$root/$dist" && ls)
for f in bindings/python/jzx/*.py; do cmp "$f" "$root/$dist/${f##*/}"; done

# Installed for real, and used the way a Debian user would: Debian's python3
# from an empty directory, nothing in the environment pointing anywhere.
tree=$PWD
echo "deb: apt-get install ${runtime##*/} ${python##*/}"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  "$runtime" "$python" >/dev/null
mkdir "$work/app"
(
  cd "$work/app"
  unset JZX_LIBRARY PYTHONPATH LD_LIBRARY_PATH
  where=$(/usr/bin/python3 -c '
import jzx
lib = next(line.split()[-1] for line in open("/proc/self/maps") if "libjzx.so" in line)
print(jzx.__file__, lib, jzx.version_string())')
  read -r module lib loaded <<<"$where"
  if [ "$module" != "/$dist/__init__.py" ] ||
    [ "$(readlink -f "$lib")" != "$(readlink -f "/usr/lib/$multiarch/libjzx.so.0")" ] ||
    [ "$loaded" != "${version%-*}" ]; then
    echo "deb: python3-jzx imported $module with $lib ($loaded)" >&2
    exit 1
  fi
  first_block "$tree/bindings/python/README.md" python >hello.py
  out=$(/usr/bin/python3 hello.py)
  [ "$out" = "got {'any': 'object'}" ] || { echo "deb: Python hello world printed '$out'" >&2; exit 1; }
  echo "deb: python3-jzx: $module, $lib by SONAME; hello world: $out"
  /usr/bin/python3 "$tree/bindings/python/examples/worker_pool.py" --jobs 40 --workers 2 -q
)
# dh_python3's maintainer scripts byte-compiled the module; removing the
# package must take that along.
test -d "/$dist/__pycache__"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq "${installs[@]}" >/dev/null
if [ -e "/$dist" ]; then
  echo "deb: /$dist is left after apt-get purge python3-jzx" >&2
  exit 1
fi
echo "deb: libjzx0 + libjzx-dev + libjzx-doc + python3-jzx $version: man pages, HTML links," \
  "pkg-config (shared, static), find_package and the installed Python module OK"
