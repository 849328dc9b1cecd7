#!/usr/bin/env bash
# Builds the libFuzzer harnesses of test/fuzz with clang (ASan + UBSan) and
# runs one of them. The committed seeds in test/fuzz/corpus/HARNESS start a
# working corpus in build-fuzz/corpus/HARNESS, which grows run after run; a
# crash is saved in build-fuzz/artifacts/HARNESS/ and fails the run (replay
# it with: build-fuzz/test/fuzz/HARNESS FILE).
# Usage: scripts/fuzz.sh HARNESS SECONDS     (harnesses: fuzz_api fuzz_group fuzz_wire)
#        scripts/fuzz.sh build              (only build them)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh clang libclang-rt-14-dev
harness=${1:?usage: scripts/fuzz.sh HARNESS SECONDS}
# -fno-integrated-as: clang's own assembler mishandles the .symver
# directives that give jzx_spawn its two versions.
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJZX_SANITIZE=address \
  -DJZX_BUILD_FUZZ=ON -DJZX_BUILD_TESTS=OFF -DJZX_BUILD_EXAMPLES=OFF -DJZX_BUILD_MANPAGES=OFF \
  -DJZX_WITH_NATS=ON -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link -fno-integrated-as" >/dev/null
# Only the harnesses: a sanitized libjzx.so would need the sanitizer
# runtimes at link time.
harnesses=(fuzz_api fuzz_wire fuzz_group)
cmake --build build-fuzz -j"$(nproc)" --target "${harnesses[@]}" >build-fuzz/build.log 2>&1 ||
  { tail -30 build-fuzz/build.log >&2; exit 1; }
[ "$harness" = build ] && exit 0
seconds=${2:?usage: scripts/fuzz.sh HARNESS SECONDS}
bin=build-fuzz/test/fuzz/$harness
[ -x "$bin" ] || { echo "fuzz: no harness $harness" >&2; exit 2; }
corpus=build-fuzz/corpus/$harness
artifacts=build-fuzz/artifacts/$harness
mkdir -p "$corpus" "$artifacts"
[ -d "test/fuzz/corpus/$harness" ] && cp -n "test/fuzz/corpus/$harness"/* "$corpus"/ 2>/dev/null || true
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Inputs that once found a bug (test/fuzz/regress/HARNESS) replay first.
if compgen -G "test/fuzz/regress/$harness/*" >/dev/null; then
  "$bin" test/fuzz/regress/"$harness"/* >"build-fuzz/$harness.regress.log" 2>&1 ||
    { echo "fuzz: $harness fails a regression input:" >&2; tail -30 "build-fuzz/$harness.regress.log" >&2; exit 1; }
  echo "fuzz: $harness passes its $(ls test/fuzz/regress/"$harness" | wc -l) regression input(s)"
fi
rc=0
"$bin" "$corpus" -max_total_time="$seconds" -max_len=1024 -timeout=20 -rss_limit_mb=4096 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 >"build-fuzz/$harness.log" 2>&1 || rc=$?
grep -E '^stat::(number_of_executed_units|peak_rss_mb)|DONE|cov:' "build-fuzz/$harness.log" | tail -3
if [ "$rc" -ne 0 ]; then
  echo "fuzz: $harness FAILED (exit $rc); reproducer(s) in $artifacts:" >&2
  ls "$artifacts" >&2
  tail -40 "build-fuzz/$harness.log" >&2
  exit 1
fi
echo "fuzz: $harness ran ${seconds} s without a failure"
