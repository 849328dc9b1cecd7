#!/usr/bin/env bash
# The test command: installs what is missing, then
#   1. builds with -Werror and runs the CMocka suite (shared + static builds),
#   2. runs it again under ASan+UBSan,
#   3. runs the threaded tests under TSan,
#   4. runs the suite and the examples under valgrind (any leak or error fails),
#   5. installs into a temporary prefix and builds consumers through
#      pkg-config and find_package, libjzx-nats's included, checks the
#      exported symbols of both libraries and libjzx's dependencies,
#   6. compares the ABI with the committed baseline (abidiff),
#   7. builds the API reference (Doxygen, undocumented symbols fail), checks
#      that the code quoted in docs/ is verbatim in its source file, compiles
#      the guides' programs, checks every link and anchor in the Markdown and
#      the HTML, and checks the man pages (one per function),
#   8. runs the Python bindings' tests and example against the fresh library,
#   9. builds the Debian packages (libjzx-nats's included), lints them, checks
#      how the files are split between them and builds consumers from them,
#  10. walks a new user's path: installs freshly built .debs system-wide (and
#      removes them after), builds the README's example from an empty
#      directory, reads the man pages, pip-installs the Python binding into a
#      venv and runs its hello world and tests against the installed library,
#  11. checks formatting against .clang-format,
#  12. runs each libFuzzer harness of test/fuzz for 60 s (scripts/fuzz.sh),
#  13. soaks a group on every core with a NATS node for 60 s (scripts/soak.sh),
#  14. builds the benchmarks and the CAF and Erlang peers and runs each
#      program and workload once at a tiny scale (a smoke run: output and
#      exit status, no timing), the remote workloads with their own
#      nats-server and two node processes each.
# Usage: scripts/test.sh [stage ...]
#   stages: unit asan tsan valgrind install abi docs python deb newcomer format fuzz soak bench
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

jobs=$(nproc)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(unit asan tsan valgrind install abi docs python deb newcomer format fuzz soak bench)

say() { printf '\n== %s ==\n' "$*"; }

build() { # dir, extra cmake args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -DJZX_BUILD_EXAMPLES=ON -DJZX_WITH_NATS=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
}

run_ctest() { # dir, extra ctest args...
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" "$@"
}

# Runs one benchmark program (or a peer through bench/peers/run.sh) on one
# workload at a tiny scale. It must exit 0 and print, as well-formed BENCH
# lines, every metric bench/metrics.txt lists for the workload (must=all) or
# nothing (must=none: an implementation without that workload).
bench_smoke_one() { # impl workload must(all|none) command...
  local impl=$1 w=$2 must=$3
  shift 3
  local out rc=0
  out=$(timeout 300 "$@" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf 'bench smoke FAILED: %s %s exited %s\n%s\n' "$impl" "$w" "$rc" "$out"
    return 1
  fi
  local want got bad
  want=$(awk -v w="$w" '!/^#/ && $1 == w { print $2 }' bench/metrics.txt | sort)
  got=$(grep '^BENCH ' <<<"$out" | awk '{ print $4 }' | sort || true)
  bad=$(grep '^BENCH ' <<<"$out" | grep -Ev "^BENCH $w $impl [a-z0-9_]+ -?[0-9]+(\.[0-9]+)?$" || true)
  local ok=0
  case "$must" in
  all) [ "$got" = "$want" ] && ok=1 ;;
  none) [ -z "$got" ] && ok=1 ;;
  esac
  if [ -n "$bad" ] || [ "$ok" = 0 ]; then
    printf 'bench smoke FAILED: %s %s printed:\n%s\nexpected (%s) one line for each of: %s\n' \
      "$impl" "$w" "$out" "$must" "$(echo $want)"
    return 1
  fi
  echo "bench smoke ok: $impl $w ($(echo $got))"
}

bench_smoke() {
  local scale=0.001 bin=build-bench/bench peers=build-bench/peers failed=0
  local all="pingpong flood threadring spawn async timers io restart limit scale"
  all+=" monitor link_cascade request whereis big big1 xpingpong xflood"
  declare -A prog=([jzx]=jzx_bench [floor]=floor_bench [libuv]=uv_bench)
  declare -A has=([jzx]="$all"
    [floor]="pingpong flood threadring spawn timers limit xpingpong"
    [libuv]="pingpong flood threadring async timers io")
  for impl in jzx floor libuv; do
    for w in $all; do
      local must=none
      [[ " ${has[$impl]} " == *" $w "* ]] && must=all
      bench_smoke_one "$impl" "$w" "$must" "$bin/${prog[$impl]}" "$w" "$scale" || failed=1
    done
  done
  # The CAF and Erlang peers. bench/peers/build.sh installs libcaf-dev,
  # erlang-nox and g++ when they are missing (as it does in CI), so both peers
  # are built and run here, and a built peer must print every metric of the
  # workloads it does. Only where nothing can be installed (no root, no sudo,
  # no network) does build.sh leave a peer unbuilt, saying why; that peer is
  # reported as skipped.
  mkdir -p "$peers"
  bash bench/peers/build.sh "$peers"
  local peer_has="pingpong flood threadring spawn async timers io restart"
  peer_has+=" monitor link_cascade request whereis big"
  declare -A peer_file=([caf1]=caf_peer [caf]=caf_peer [erlang1]=jzx_peer.beam
    [erlang]=jzx_peer.beam)
  for impl in caf1 caf erlang1 erlang; do
    if [ ! -e "$peers/${peer_file[$impl]}" ]; then
      echo "bench smoke SKIPPED: $impl (not built, see above)"
      continue
    fi
    for w in $all; do
      local must=none
      [[ " $peer_has " == *" $w "* ]] && must=all
      bench_smoke_one "$impl" "$w" "$must" bash bench/peers/run.sh "$impl" "$w" "$scale" "$peers" ||
        failed=1
    done
  done
  return $failed
}

# The remote workloads at a tiny scale: nats_bench (libjzx-nats) and
# nats_floor (raw libnats) each start their own nats-server on loopback and
# two node processes; the Erlang peer runs two distributed nodes (run.sh
# starts epmd if none runs, and stops it). Each must print every figure of
# each workload. bench_smoke, run first, built the Erlang peer.
bench_smoke_remote() {
  local scale=0.001 bin=build-bench/bench peers=build-bench/peers failed=0 w
  for w in remote_pingpong remote_request remote_flood; do
    bench_smoke_one jzx "$w" all "$bin/nats_bench" "$w" "$scale" || failed=1
    bench_smoke_one nats "$w" all "$bin/nats_floor" "$w" "$scale" || failed=1
    if [ -e "$peers/jzx_dist.beam" ]; then
      bench_smoke_one erlang "$w" all bash bench/peers/run.sh erlang "$w" "$scale" "$peers" ||
        failed=1
    else
      echo "bench smoke SKIPPED: erlang $w (not built, see above)"
    fi
  done
  return $failed
}

for stage in "${stages[@]}"; do
  start=$(date +%s)
  case "$stage" in
  unit)
    say "unit: CMocka suite, -Werror, shared and static"
    build build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
    run_ctest build-test
    ;;
  asan)
    say "asan: suite under AddressSanitizer + UndefinedBehaviorSanitizer"
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DJZX_SANITIZE=address
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_ctest build-asan
    ;;
  tsan)
    say "tsan: threaded tests under ThreadSanitizer"
    build build-tsan -DCMAKE_BUILD_TYPE=Debug -DJZX_SANITIZE=thread
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_ctest build-tsan -L threaded
    ;;
  valgrind)
    say "valgrind: suite under memcheck, leaks are errors"
    build build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
    # Every test program once (the static and shared variants run the same
    # code; white-box tests exist only as static).
    mapfile -t progs < <(find build-test/test -maxdepth 1 -type f -executable -name 'test_*_shared' | sort)
    mapfile -t -O ${#progs[@]} progs < <(find build-test/test -maxdepth 1 -type f -executable -name 'test_*_static' |
      while read -r p; do [ -e "${p%_static}_shared" ] || echo "$p"; done)
    # The examples too: each exits by itself and must leave nothing behind.
    mapfile -t -O ${#progs[@]} progs < <(find build-test/examples -maxdepth 1 -type f -executable | sort)
    printf '%s\n' "${progs[@]}" | xargs -P "$jobs" -I{} sh -c \
      'valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
        --suppressions=test/valgrind.supp \
        --error-exitcode=99 --log-file={}.vg.log {} >{}.vg.out 2>&1 \
        && echo "valgrind ok: $(basename {})" \
        || { echo "valgrind FAILED: {}"; cat {}.vg.log {}.vg.out; exit 255; }'
    ;;
  install)
    say "install: temporary prefix, pkg-config and find_package consumers"
    build build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
    scripts/install-check.sh build-test
    ;;
  abi)
    say "abi: libjzx.so.0 against abi/libjzx.so.0.abi (abidw + abidiff)"
    scripts/abi.sh check
    ;;
  docs)
    say "docs: API reference (Doxygen, every public symbol documented), quoted code, guides, links, man pages"
    scripts/docs.sh
    ;;
  python)
    say "python: ctypes bindings, their tests and example, against build-test's library"
    scripts/deps.sh python3
    build build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
    # JZX_TEST_NATS=1: the node tests (libjzx-nats.so.0 beside libjzx.so.0,
    # nats-server from deps.sh) must run here, never skip.
    JZX_LIBRARY="$PWD/build-test/libjzx.so.0" JZX_TEST_NATS=1 PYTHONPATH=bindings/python \
      PYTHONDONTWRITEBYTECODE=1 timeout 600 python3 -m unittest discover -s bindings/python/tests -v
    ;;
  deb)
    say "deb: libjzx0, libjzx-dev, libjzx-nats0, libjzx-nats-dev, libjzx-doc, python3-jzx with dpkg-buildpackage, lintian, consumers from the .debs"
    scripts/deb-check.sh
    ;;
  newcomer)
    say "newcomer: the .debs installed, README example, man pages, pip-installed binding, no JZX_LIBRARY"
    scripts/newcomer-check.sh
    ;;
  format)
    say "format: clang-format --dry-run --Werror"
    git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
    ;;
  soak)
    say "soak: a group on every core with a NATS node for ${JZX_SOAK_MINUTES:-1} min (RSS bound, stuck loops, payload ledger)"
    scripts/soak.sh "${JZX_SOAK_MINUTES:-1}"
    ;;
  fuzz)
    say "fuzz: each libFuzzer harness for ${JZX_FUZZ_SECONDS:-60} s (ASan+UBSan); a crash fails, its reproducer kept"
    for h in fuzz_api fuzz_group fuzz_wire; do
      scripts/fuzz.sh "$h" "${JZX_FUZZ_SECONDS:-60}"
    done
    ;;
  bench)
    say "bench: build the benchmarks (Release), run each program and workload once, tiny scale"
    build build-bench -DCMAKE_BUILD_TYPE=Release -DJZX_BUILD_BENCH=ON
    bench_smoke
    bench_smoke_remote
    ;;
  *)
    echo "unknown stage: $stage" >&2
    exit 2
    ;;
  esac
  echo "-- $stage passed in $(($(date +%s) - start)) s"
done
say "all stages passed: ${stages[*]}"
