#!/usr/bin/env bash
# Runs one benchmark peer on one workload and prints its BENCH lines.
# Usage: bench/peers/run.sh <caf1|caf|erlang1|erlang> <workload> <scale> <outdir>
#   caf1: CAF, scheduler limited to 1 worker thread; caf: CAF default scheduler
#   erlang1: erl +S 1; erlang: default schedulers
#   scale: multiplier of the full sizes (1.0 = full).
# A peer that was not built (toolchain missing) prints nothing and exits 0;
# a workload that computes the wrong thing exits non-zero.
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 <caf1|caf|erlang1|erlang> <workload> <scale> <outdir>" >&2
  exit 2
fi
impl=$1 workload=$2 scale=$3 out=$4
if ! [[ $scale =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]]; then
  echo "run.sh: bad scale '$scale'" >&2
  exit 2
fi
# Erlang's list_to_float wants digits on both sides of a dot and no bare 1e-3.
scale=$(awk -v s="$scale" 'BEGIN { printf "%.10f", s }')

erl_run() { # extra erl flags...
  if [ ! -f "$out/jzx_peer.beam" ]; then
    echo "run.sh: Erlang peer not built in $out; skipping $impl" >&2
    exit 0
  fi
  # +P: the spawn workload keeps 1M processes alive (default limit 262144).
  exec erl -noshell "$@" +P 2000000 -pa "$out" -run jzx_peer main "$workload" "$impl" "$scale"
}

# The remote workloads: Erlang distribution between two `erl -sname` nodes
# (jzx_dist.erl; node A starts node B). Distribution needs epmd: started here
# if none runs, and stopped afterwards (epmd -kill refuses while other nodes
# are registered with it). Only impl erlang does them.
erl_remote() {
  if [ "$impl" != erlang ] || [ ! -f "$out/jzx_dist.beam" ]; then
    [ "$impl" != erlang ] || echo "run.sh: jzx_dist not built in $out; skipping $impl" >&2
    exit 0
  fi
  local own_epmd=0 rc=0
  if ! epmd -names >/dev/null 2>&1; then
    epmd -daemon
    own_epmd=1
  fi
  erl -noshell -sname "jzxa_$$" -setcookie "jzxbench_$$" -pa "$out" \
    -run jzx_dist main "$workload" "$impl" "$scale" || rc=$?
  if [ "$own_epmd" = 1 ]; then
    epmd -kill >/dev/null 2>&1 || true
  fi
  exit "$rc"
}

caf_run() { # threads (0: CAF default)
  if [ ! -x "$out/caf_peer" ]; then
    echo "run.sh: CAF peer not built in $out; skipping $impl" >&2
    exit 0
  fi
  exec "$out/caf_peer" "$workload" "$impl" "$scale" "$1"
}

[[ $workload != remote_* ]] || erl_remote

case "$impl" in
caf1) caf_run 1 ;;
caf) caf_run 0 ;;
erlang1) erl_run +S 1 ;;
erlang) erl_run ;;
*)
  echo "run.sh: unknown peer '$impl' (caf1, caf, erlang1, erlang)" >&2
  exit 2
  ;;
esac
