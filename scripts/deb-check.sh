#!/usr/bin/env bash
# Builds the Debian packages libjzx0, libjzx-dev, libjzx-nats0,
# libjzx-nats-dev, libjzx-doc and python3-jzx from a copy of the tree
# (dpkg-buildpackage writes to the parent directory, and the build must not
# litter the checkout), runs lintian on them (errors fail, warnings are
# shown), checks how the files are split between them (each -dev package has
# its header, its man pages and its part of the CMake package, no more;
# libjzx0 needs no NATS, libjzx-nats-dev no libnats-dev), extracts them into
# a temporary root with dpkg-deb -x, checks the man pages and the HTML
# reference there (every link resolves) and builds the out-of-tree consumers
# against that root: through pkg-config (shared and --static; jzx-nats with
# no libnats.pc in reach) and through find_package(jzx), with libjzx-nats-dev
# and without. Last, it installs libjzx0, libjzx-dev and python3-jzx
# system-wide (removed again on exit; where any package of this source is
# installed already it refuses instead of replacing it), runs the Python
# README's hello world and example with Debian's python3, from an empty
# directory, JZX_LIBRARY, PYTHONPATH and LD_LIBRARY_PATH unset (the module
# comes from dist-packages and libjzx.so.0 is found by its SONAME), builds a
# find_package(jzx) consumer against libjzx-dev alone, then installs
# libjzx-nats0 and libjzx-nats-dev and builds the jzx::nats and jzx-nats.pc
# consumers. Needs root or sudo for that. Usage: scripts/deb-check.sh
# DEB_BUILD_OPTIONS from the environment is passed on (e.g. nocheck).
set -euo pipefail
cd "$(dirname "$0")/.."
# build-essential: dpkg-buildpackage checks for it (an implicit build
# dependency), and --no-install-recommends does not pull it in.
scripts/deps.sh dpkg-dev debhelper dh-python fakeroot lintian build-essential cmake pkg-config \
  libuv1-dev libcmocka-dev python3 doxygen libnats-dev nats-server

# The first fenced block of a language in a Markdown file.
first_block() { # file language
  awk -v lang="$2" '$0 == "```" lang && !done {on = 1; next} on && $0 == "```" {on = 0; done = 1} on' "$1"
}

# The packages this check installs system-wide, and those of them dpkg knows
# (installed, or removed with their configuration kept).
installs=(libjzx0 libjzx-dev libjzx-nats0 libjzx-nats-dev python3-jzx)
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
nats_runtime="$work/libjzx-nats0_${version}_${arch}.deb"
nats_dev="$work/libjzx-nats-dev_${version}_${arch}.deb"
test -f "$changes" && test -f "$runtime" && test -f "$dev" && test -f "$doc" && test -f "$python"
test -f "$nats_runtime" && test -f "$nats_dev"
for deb in "$runtime" "$dev" "$nats_runtime" "$nats_dev" "$python"; do
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

# The split. A -dev package's headers, man pages and CMake files: exactly
# its own (a page or header in the wrong package would clash on upgrades
# and leave a user of libjzx-dev alone with dangling files).
functions() { # header macro
  grep -oE "$2 [^(]*\\bjzx_[a-z_]+\\(" "$1" | grep -oE 'jzx_[a-z_]+\($' | tr -d '(' | sort
}
files() { # deb dir suffix: the names of the files under dir, suffix dropped
  dpkg-deb -c "$1" | awk -v d="./$2/" '$1 !~ /^d/ && index($6, d) == 1 {print substr($6, length(d) + 1)}' |
    sed "s/$3\$//" | sort
}
split_ok=1
expect_files() { # what deb dir suffix want...
  local what=$1 deb=$2 dir=$3 suffix=$4
  shift 4
  local have want
  have=$(files "$deb" "$dir" "$suffix")
  want=$(printf '%s\n' "$@" | sort)
  if [ "$have" != "$want" ]; then
    echo "deb: $(basename "$deb"): $what differ from what it should ship (< want, > have):" >&2
    diff <(echo "$want") <(echo "$have") >&2 || true
    split_ok=0
  fi
}
expect_files headers "$dev" usr/include/jzx "" jzx.h
expect_files headers "$nats_dev" usr/include/jzx "" jzx_nats.h
expect_files "man pages" "$dev" usr/share/man/man3 .3.gz jzx $(functions include/jzx/jzx.h JZX_API)
expect_files "man pages" "$nats_dev" usr/share/man/man3 .3.gz jzx_nats \
  $(functions include/jzx/jzx_nats.h JZX_NATS_API)
expect_files "CMake files" "$dev" "usr/lib/$multiarch/cmake/jzx" "" \
  jzxConfig.cmake jzxConfigVersion.cmake jzxTargets.cmake jzxTargets-none.cmake
expect_files "CMake files" "$nats_dev" "usr/lib/$multiarch/cmake/jzx" "" \
  jzxNatsTargets.cmake jzxNatsTargets-none.cmake
[ "$split_ok" = 1 ] || exit 1
# libjzx0 needs libuv and libc only; libjzx-nats-dev builds without
# libnats-dev (its header includes jzx.h only, and jzx-nats.pc has no
# Requires.private), libjzx-nats0 brings the libnats runtime.
depends_wrong() { # deb why
  echo "deb: $(basename "$1"): $2: Depends: $(dpkg-deb -f "$1" Depends)" >&2
  exit 1
}
grep -qi nats <<<"$(dpkg-deb -f "$runtime" Depends)" && depends_wrong "$runtime" "NATS"
grep -q libnats <<<"$(dpkg-deb -f "$nats_dev" Depends)" && depends_wrong "$nats_dev" "libnats"
grep -q libnats3 <<<"$(dpkg-deb -f "$nats_runtime" Depends)" || depends_wrong "$nats_runtime" "no libnats3"
echo "deb: split OK: libjzx-dev has jzx.h and its pages, libjzx-nats-dev jzx_nats.h and its;" \
  "libjzx0 Depends: $(dpkg-deb -f "$runtime" Depends)"

# libjzx-dev alone first: find_package(jzx) works, without jzx::nats.
bare="$work/root-bare"
for deb in "$runtime" "$dev"; do
  dpkg-deb -x "$deb" "$bare"
done
cmake -S test/install -B "$work/cmake-bare" -DCMAKE_PREFIX_PATH="$bare/usr" -DJZX_EXPECT_NATS=OFF >/dev/null
cmake --build "$work/cmake-bare" >/dev/null
LD_LIBRARY_PATH="$bare/usr/lib/$multiarch" "$work/cmake-bare/consumer_shared"

root="$work/root"
for deb in "$runtime" "$dev" "$nats_runtime" "$nats_dev" "$doc" "$python"; do
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

# jzx-nats.pc with only the root's .pc files and libuv's in reach.
mkdir "$work/pc"
ln -s "$(pkg-config --variable=pcfiledir libuv)/libuv.pc" "$work/pc/libuv.pc"
cc -std=c11 -Wall -Wextra -Werror -o "$work/pc_nats" test/install/consumer_nats.c \
  $(PKG_CONFIG_LIBDIR="$libdir/pkgconfig:$work/pc" pkg-config --cflags --libs jzx-nats)
LD_LIBRARY_PATH="$libdir" "$work/pc_nats"
LD_LIBRARY_PATH="$libdir" ldd "$work/pc_nats" | grep "libjzx-nats.so.0 => $libdir/libjzx-nats.so.0" >/dev/null

cmake -S test/install -B "$work/cmake" -DCMAKE_PREFIX_PATH="$root/usr" -DJZX_EXPECT_NATS=ON >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake/consumer_shared"
"$work/cmake/consumer_static"
LD_LIBRARY_PATH="$libdir" "$work/cmake/consumer_nats"

# python3-jzx ships the module's sources as they are in the tree, nothing else.
dist=usr/lib/python3/dist-packages/jzx
diff <(cd bindings/python/jzx && ls -- *.py) <(cd "$root/$dist" && ls)
for f in bindings/python/jzx/*.py; do cmp "$f" "$root/$dist/${f##*/}"; done

# Installed for real, and used the way a Debian user would: Debian's python3
# from an empty directory, nothing in the environment pointing anywhere.
tree=$PWD
echo "deb: apt-get install ${runtime##*/} ${dev##*/} ${python##*/}"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  "$runtime" "$dev" "$python" >/dev/null
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
# A CMake project against the system's libjzx-dev alone, then with
# libjzx-nats-dev installed too: jzx::nats appears, through the same
# find_package(jzx). (An earlier run's build directory would remember jzx_DIR.)
system_consumer() { # build-dir expect-nats
  cmake -S test/install -B "$1" -DJZX_EXPECT_NATS="$2" >/dev/null
  cmake --build "$1" >/dev/null
  local found
  found=$(sed -n 's/^jzx_DIR:PATH=//p' "$1/CMakeCache.txt")
  if [ "$found" != "/usr/lib/$multiarch/cmake/jzx" ]; then
    echo "deb: find_package(jzx) found $found, not the installed package" >&2
    exit 1
  fi
  (cd "$work" && unset LD_LIBRARY_PATH && "$1/consumer_shared")
}
system_consumer "$work/cmake-system" OFF
echo "deb: apt-get install ${nats_runtime##*/} ${nats_dev##*/}"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  "$nats_runtime" "$nats_dev" >/dev/null
system_consumer "$work/cmake-system-nats" ON
(cd "$work" && unset LD_LIBRARY_PATH && "$work/cmake-system-nats/consumer_nats")
cc -std=c11 -Wall -Wextra -Werror -o "$work/pc_nats_system" test/install/consumer_nats.c \
  $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs jzx-nats)
(unset LD_LIBRARY_PATH && "$work/pc_nats_system")
echo "deb: find_package(jzx) against the installed libjzx-dev alone, and jzx::nats and" \
  "jzx-nats.pc once libjzx-nats-dev is installed: OK"

# dh_python3's maintainer scripts byte-compiled the module; removing the
# package must take that along.
test -d "/$dist/__pycache__"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq "${installs[@]}" >/dev/null
if [ -e "/$dist" ]; then
  echo "deb: /$dist is left after apt-get purge python3-jzx" >&2
  exit 1
fi
echo "deb: libjzx0 + libjzx-dev + libjzx-nats0 + libjzx-nats-dev + libjzx-doc + python3-jzx" \
  "$version: the split, man pages, HTML links, pkg-config (shared, static, jzx-nats)," \
  "find_package (with and without jzx::nats) and the installed Python module OK"
