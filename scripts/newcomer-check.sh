#!/usr/bin/env bash
# A new user's path, scripted. In a scratch directory: builds the Debian
# packages from a copy of the tree as the README says, installs them
# system-wide, then, from an empty directory outside the tree, builds and runs
# the README's example through pkg-config, finds a man page for every public
# function (of jzx.h and of jzx_nats.h) with man -w, builds the example of
# jzx_nats(3) as its page shows it, through pkg-config, and runs its two
# nodes against a nats-server on loopback, checks every link of the
# installed HTML reference,
# pip-installs the Python binding into a venv of Debian's python3 (offline,
# from /usr/share/python-wheels) and runs its README's hello world, its
# example and its tests against the installed library, JZX_LIBRARY unset.
# The packages are removed again on exit; where libjzx packages are already
# installed it refuses to start instead of replacing them.
# The deb stage runs the test suite inside the package build; this build skips
# it (nocheck). Needs root or sudo. Usage: scripts/newcomer-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh dpkg-dev debhelper dh-python fakeroot build-essential cmake pkg-config \
  libuv1-dev libnats-dev nats-server python3 doxygen man-db python3-venv python3-wheel-whl

say() { printf 'newcomer: %s\n' "$*"; }

# The first fenced block of a language in a Markdown file.
first_block() { # file language
  awk -v lang="$2" '$0 == "```" lang && !done {on = 1; next} on && $0 == "```" {on = 0; done = 1} on' "$1"
}

# python3-jzx is built but not installed (the binding comes from pip here);
# it is listed so that one already installed is refused and removed with the
# rest, since it depends on libjzx0.
packages=(libjzx0 libjzx-dev libjzx-nats0 libjzx-nats-dev libjzx-doc python3-jzx)
# Those of them dpkg knows (installed, or removed with their configuration kept).
known() {
  dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null |
    awk '$2 != "not-installed" {print $1}' || true
}
present=$(known)
if [ -n "$present" ]; then
  echo "newcomer: already installed: $(echo $present); remove them first" \
    "(apt-get purge ${packages[*]}): this check installs its own build and removes it" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
work=$(mktemp -d /tmp/jzx-newcomer.XXXXXX)
src="$work/libjzx-${version%-*}"
nats_pid=""
cleanup() {
  local left
  [ -z "$nats_pid" ] || kill "$nats_pid" 2>/dev/null || true
  left=$(known)
  if [ -n "$left" ]; then
    # shellcheck disable=SC2086 # one package a word
    $SUDO apt-get purge -y -qq $left >/dev/null ||
      echo "newcomer: could not remove $(echo $left); apt-get purge them by hand" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "dpkg-buildpackage -us -uc -b in a copy of the tree (log: build.log on failure)"
mkdir "$src"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$src"
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
  >"$work/build.log" 2>&1; then
  tail -n 60 "$work/build.log" >&2
  exit 1
fi
debs=("$work/libjzx0_${version}_${arch}.deb" "$work/libjzx-dev_${version}_${arch}.deb"
  "$work/libjzx-nats0_${version}_${arch}.deb" "$work/libjzx-nats-dev_${version}_${arch}.deb"
  "$work/libjzx-doc_${version}_all.deb")
say "apt-get install ${debs[*]##*/}"
$SUDO apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null

# Everything below runs where a user's own project would be: nowhere near
# the tree, with nothing pointing into it.
app="$work/app"
mkdir "$app"
cd "$app"
unset JZX_LIBRARY PYTHONPATH

first_block "$src/README.md" c >app.c
cc -std=c11 -Wall -Wextra -Werror -o app app.c $(pkg-config --cflags --libs jzx)
out=$(./app)
[ "$out" = "total = 6" ] || { echo "newcomer: README example printed '$out'" >&2; exit 1; }
say "README example built with pkg-config: $out"

functions=$(grep -oE 'JZX_API [^(]*\bjzx_[a-z_]+\(' "$src/include/jzx/jzx.h" | grep -oE 'jzx_[a-z_]+\($' | tr -d '(')
nats_functions=$(grep -oE 'JZX_NATS_API [^(]*\bjzx_[a-z_]+\(' "$src/include/jzx/jzx_nats.h" |
  grep -oE 'jzx_[a-z_]+\($' | tr -d '(')
for page in jzx $functions jzx_nats $nats_functions; do
  man -w 3 "$page" >/dev/null
  warnings=$(MANWIDTH=80 man --warnings 3 "$page" 2>&1 >/dev/null)
  if [ -n "$warnings" ]; then
    echo "newcomer: man $page: $warnings" >&2
    exit 1
  fi
done
say "man -w: jzx(3) and $(echo $functions | wc -w) function pages, e.g. $(man -w jzx_send);" \
  "jzx_nats(3) and $(echo $nats_functions | wc -w), e.g. $(man -w jzx_node_start)"

# jzx_nats(3)'s example, copied from the installed page (roff's \- and \e
# undone) and built as the page says; a nats-server on an ephemeral port of
# loopback stands in for the one on 4222 the page assumes.
man -w jzx_nats | xargs zcat | awk '/^\.EX$/ {on = 1; next} /^\.EE$/ {on = 0} on' |
  sed 's/\\-/-/g; s/\\e/\\/g' >echo.c
grep -q 'nats://127.0.0.1:4222' echo.c || { echo "newcomer: jzx_nats(3)'s example changed" >&2; exit 1; }
mkdir ports
nats-server -a 127.0.0.1 -p -1 --ports_file_dir "$app/ports" >nats-server.log 2>&1 &
nats_pid=$!
for _ in $(seq 100); do
  [ -s "ports/nats-server_$nats_pid.ports" ] && break
  sleep 0.1
done
url=$(grep -o 'nats://127.0.0.1:[0-9]*' "ports/nats-server_$nats_pid.ports")
sed -i "s#nats://127.0.0.1:4222#$url#" echo.c
cc -std=c11 -Wall -Wextra -Werror -o echo echo.c $(pkg-config --cflags --libs jzx-nats)
./echo server &
server_pid=$!
out=""
for _ in $(seq 50); do # until the server node has registered its actor
  out=$(timeout 10 ./echo 2>&1) && break
  sleep 0.1
done
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
kill "$nats_pid"
wait "$nats_pid" 2>/dev/null || true
nats_pid=""
[ "$out" = "hello" ] || { echo "newcomer: jzx_nats(3)'s example printed '$out'" >&2; exit 1; }
say "jzx_nats(3)'s example, built with pkg-config jzx-nats: two nodes through $url: $out"

html=/usr/share/doc/libjzx-doc/html
python3 "$src/scripts/linkcheck.py" "$html"
grep -lq "^Index: $html/index.html" /usr/share/doc-base/* ||
  { echo "newcomer: $html is not registered with doc-base" >&2; exit 1; }
say "HTML reference in $html, registered with doc-base"

# Debian's interpreter, the one python3-venv and the wheels serve (another
# python3 may come first in PATH).
/usr/bin/python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-index --find-links /usr/share/python-wheels "$src/bindings/python"
py="$work/venv/bin/python"
location=$("$py" -c 'import jzx; print(jzx.__file__)')
[[ "$location" == "$work/venv/"* ]] || { echo "newcomer: jzx imported from $location" >&2; exit 1; }
first_block "$src/bindings/python/README.md" python >hello.py
out=$("$py" hello.py)
[ "$out" = "got {'any': 'object'}" ] || { echo "newcomer: Python hello world printed '$out'" >&2; exit 1; }
say "pip install bindings/python into a venv; hello world: $out"
"$py" "$src/bindings/python/examples/worker_pool.py" --jobs 40 --workers 2 -q
PYTHONDONTWRITEBYTECODE=1 timeout 600 "$py" -m unittest discover -s "$src/bindings/python/tests"
say "libjzx0 + libjzx-dev + libjzx-nats0 + libjzx-nats-dev + libjzx-doc $version: a newcomer's path works"
