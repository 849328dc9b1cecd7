#!/usr/bin/env bash
# The nats-server the libjzx-nats tests share, as a CTest fixture
# (test/nats/CMakeLists.txt):
#   scripts/nats-fixture.sh start DIR   starts nats-server on 127.0.0.1 with an
#                                       ephemeral port, waits until it accepts
#                                       connections, writes its URL to DIR/url
#   scripts/nats-fixture.sh stop DIR    kills it by pid (DIR/server.pid), waits
#                                       until it is gone, removes DIR's files
# The server outlives `start` (the tests run meanwhile), so it cannot die with
# its parent: it runs under `timeout` as a bound on its life should `stop`
# never run (ctest interrupted), and a new `start` first stops what an earlier
# one left behind.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
lifetime=${JZX_NATS_FIXTURE_LIFETIME:-900} # seconds

# The pid in DIR/server.pid, if it is still that directory's nats-server.
ours() {
  local pid
  pid=$(cat "$dir/server.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "nats-server.*--ports_file_dir $dir" ||
    return 1
  echo "$pid"
}

# Running, not gone nor a zombie waiting for `timeout` to reap it.
running() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

stop() {
  local pid _
  if pid=$(ours); then
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 200); do
      running "$pid" || break
      sleep 0.05
    done
    if running "$pid"; then
      echo "nats-server $pid is still there" >&2
      return 1
    fi
    echo "stopped nats-server $pid"
  fi
  rm -f "$dir"/server.pid "$dir"/url "$dir"/nats-server_*.ports
}

start() {
  local server
  server=$(command -v nats-server || true)
  for c in /usr/sbin/nats-server /usr/bin/nats-server; do
    [ -n "$server" ] || { [ -x "$c" ] && server=$c; } || true
  done
  if [ -z "$server" ]; then
    echo "nats-server not found (scripts/deps.sh installs it)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  stop
  rm -f "$dir"/server.log
  # setsid: out of ctest's process group; all fds away from ctest's pipes.
  setsid timeout -s KILL "$lifetime" "$server" -a 127.0.0.1 -p -1 --ports_file_dir "$dir" \
    -l "$dir/server.log" -P "$dir/server.pid" </dev/null >/dev/null 2>&1 &
  local _ port=
  for _ in $(seq 300); do
    local pid ports
    if pid=$(cat "$dir/server.pid" 2>/dev/null) && [[ "$pid" =~ ^[0-9]+$ ]]; then
      ports="$dir/nats-server_$pid.ports"
      if [ -s "$ports" ] && grep -q '}' "$ports"; then
        port=$(sed -n 's/.*"nats":\["nats:\/\/127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$ports")
        if [ -n "$port" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
          break
        fi
        port=
      fi
    fi
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "nats-server did not come up; its log:" >&2
    cat "$dir/server.log" >&2 || true
    stop || true
    exit 1
  fi
  echo "nats://127.0.0.1:$port" >"$dir/url"
  echo "nats-server $(cat "$dir/server.pid") on nats://127.0.0.1:$port"
}

case "$cmd" in
start) start ;;
stop) stop ;;
*) usage ;;
esac
