#!/usr/bin/env bash
# The benchmark suite: libjzx against the tight-C floor, raw libuv, CAF and
# Erlang/OTP, side by side in one run. It
#   1. installs what is missing (scripts/deps.sh),
#   2. builds Release with -DJZX_BUILD_BENCH=ON into build-bench,
#   3. builds the CAF and Erlang peers if their scripts are there (below),
#   4. runs every workload (or those named) for every implementation,
#      BENCH_RUNS times, round-robin so each workload's implementations are
#      measured close together,
#   5. counts instructions per message for flood and pingpong with callgrind,
#   6. writes docs/benchmarks.md (medians, ratios to libjzx from this same run,
#      targets, machine, load, date, command, and bench/notes.md if present)
#      and renders docs/benchmarks.png.
#
# Usage: scripts/bench.sh [workload ...]
#   workloads: pingpong flood threadring spawn async timers io restart limit scale
#              monitor link_cascade request whereis big big1 xpingpong xflood
#   BENCH_RUNS=3       runs per workload and implementation (the record needs >= 3)
#   BENCH_SCALE=1.0    size multiplier; 1.0 is the sizes of the issue
#   BENCH_OUT=docs     where benchmarks.md and benchmarks.png are written
#   BENCH_CALLGRIND=1  0 skips the callgrind step
#
# Every program prints `BENCH <workload> <impl> <metric> <value>` lines
# (bench/metrics.txt lists them) and nothing for a workload it cannot do.
# The C programs (impls jzx, floor, libuv) are built here. The CAF and Erlang
# peers are built and run by two scripts beside their sources, called only
# when they exist:
#   bench/peers/build.sh <outdir>
#       builds into <outdir> (build-bench/peers); if a toolchain is missing it
#       says why and exits 0 having built nothing.
#   bench/peers/run.sh <impl> <workload> <scale> <outdir>
#       impl is caf1 (CAF, 1 scheduler thread), caf (default), erlang1
#       (+S 1) or erlang (default); prints the BENCH lines.
#
# The remote workloads (remote_pingpong remote_request remote_flood) run two
# node processes and a nats-server on loopback: build-bench/bench/nats_bench
# (impl jzx, libjzx-nats) and nats_floor (impl nats, raw libnats, the floor)
# start their own server; the Erlang peer (impl erlang) runs two distributed
# nodes (bench/peers/run.sh starts epmd if none runs). Nothing else does
# them, and nats does nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

runs=${BENCH_RUNS:-3}
scale=${BENCH_SCALE:-1.0}
out=${BENCH_OUT:-docs}
use_callgrind=${BENCH_CALLGRIND:-1}
remote_workloads=(remote_pingpong remote_request remote_flood)
all_workloads=(pingpong flood threadring spawn async timers io restart limit scale
  monitor link_cascade request whereis big big1 xpingpong xflood)
workloads=("$@")
all_workloads+=("${remote_workloads[@]}")
[ ${#workloads[@]} -gt 0 ] || workloads=("${all_workloads[@]}")
for w in "${workloads[@]}"; do
  [[ " ${all_workloads[*]} " == *" $w "* ]] || { echo "bench: unknown workload: $w" >&2; exit 2; }
done
command="scripts/bench.sh${*:+ $*}"
for v in BENCH_RUNS BENCH_SCALE BENCH_OUT BENCH_CALLGRIND; do
  [ -z "${!v:-}" ] || command="$v=${!v} $command"
done

peers_build=bench/peers/build.sh
peers_run=bench/peers/run.sh
extra=(gnuplot-nox python3)
if [ -f "$peers_build" ]; then
  extra+=(g++ libcaf-dev erlang-nox)
fi
scripts/deps.sh "${extra[@]}"

say() { printf '== %s\n' "$*" >&2; }
start=$(date +%s)
# The machine may be shared: the load averages before and after go in the report.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

say "build: Release, benchmarks on, in build-bench"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DJZX_BUILD_BENCH=ON \
  -DJZX_BUILD_TESTS=OFF -DJZX_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
bin=$root/build-bench/bench

impls=(jzx floor libuv)
declare -A program=([jzx]=jzx_bench [floor]=floor_bench [libuv]=uv_bench)
peer_dir=$root/build-bench/peers
if [ -f "$peers_build" ] && [ -f "$peers_run" ]; then
  say "build: CAF and Erlang peers ($peers_build $peer_dir)"
  mkdir -p "$peer_dir"
  bash "$peers_build" "$peer_dir" >&2
  impls+=(caf1 caf erlang1 erlang)
else
  say "peers: $peers_build or $peers_run not found; running jzx, floor and libuv only"
fi
# Raw libnats, the floor of the remote workloads (built with libjzx-nats).
[ ! -x "$bin/nats_floor" ] || impls+=(nats)

work=$root/build-bench/results
rm -rf "$work"
mkdir -p "$work"
raw=$work/bench.txt
failures=$work/failures.txt
: >"$raw"
: >"$failures"

remote_one() { # impl workload scale: the remote workloads, and impl nats
  local impl=$1 w=$2 s=$3
  case "$impl:$w" in
  jzx:remote_*) [ ! -x "$bin/nats_bench" ] || timeout 600 "$bin/nats_bench" "$w" "$s" ;;
  nats:remote_*) timeout 600 "$bin/nats_floor" "$w" "$s" ;;
  erlang:remote_*) timeout 600 bash "$peers_run" "$impl" "$w" "$s" "$peer_dir" ;;
  esac
}

run_one() { # impl workload scale
  local impl=$1 w=$2 s=$3
  if [[ $w == remote_* || $impl == nats ]]; then
    remote_one "$impl" "$w" "$s"
    return
  fi
  if [ -n "${program[$impl]:-}" ]; then
    timeout 600 "$bin/${program[$impl]}" "$w" "$s"
  else
    timeout 600 bash "$peers_run" "$impl" "$w" "$s" "$peer_dir"
  fi
}

for ((r = 1; r <= runs; ++r)); do
  for w in "${workloads[@]}"; do
    for impl in "${impls[@]}"; do
      say "run $r/$runs: $w $impl"
      rc=0
      run_one "$impl" "$w" "$scale" >"$work/out" 2>"$work/err" || rc=$?
      if [ "$rc" -ne 0 ]; then
        echo "$w $impl run $r: exit $rc: $(tail -n 1 "$work/err")" >>"$failures"
        cat "$work/err" >&2
      fi
      grep '^BENCH ' "$work/out" >>"$raw" || true
    done
  done
done

# Instructions per message: the difference between two sizes cancels the
# fixed cost of starting the program and building the loop.
callgrind=$work/callgrind.txt
: >"$callgrind"
if [ "$use_callgrind" = 1 ]; then
  for impl in jzx floor libuv; do
    for w in flood pingpong; do
      for s in 0.01 0.02; do
        say "callgrind: $w $impl at scale $s"
        valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
          "$bin/${program[$impl]}" "$w" "$s" >/dev/null 2>"$work/cg.err" ||
          { cat "$work/cg.err" >&2; exit 1; }
        ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$work/cg.out")
        echo "$impl $w $s $ir" >>"$callgrind"
      done
    done
  done
fi

say "report: $out/benchmarks.md, $out/benchmarks.png"
# Hand-written notes on the figures (what limits a missed target), if any.
notes=
[ ! -s bench/notes.md ] || notes=bench/notes.md
mkdir -p "$out"
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
python3 scripts/bench_report.py \
  --raw "$raw" --callgrind "$callgrind" --failures "$failures" \
  --metrics bench/metrics.txt --impls "${impls[*]}" --workloads "${workloads[*]}" \
  --runs "$runs" --scale "$scale" --command "$command" \
  --machine "$(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r)" \
  --load "load average (1, 5, 15 min) $load_before at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end" \
  --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --versions "gcc $(gcc -dumpfullversion), libuv $(pkg-config --modversion libuv), libcaf-dev $(pkgver libcaf-dev), erlang-nox $(pkgver erlang-nox), libnats $(pkgver libnats-dev), nats-server $(pkgver nats-server)" \
  --seconds "$(($(date +%s) - start))" \
  --chart-data "$work/ratios.dat" --chart-name benchmarks.png \
  ${notes:+--notes "$notes"} --out "$out/benchmarks.md"
if [ -s "$work/ratios.dat" ]; then
  gnuplot -e "datafile='$work/ratios.dat'; outfile='$out/benchmarks.png'; \
    ncols=$(head -n 1 "$work/ratios.dat" | wc -w)" scripts/bench_chart.gp
fi
say "done in $(($(date +%s) - start)) s"
if [ -s "$failures" ]; then
  say "some runs failed:"
  cat "$failures" >&2
  exit 1
fi
