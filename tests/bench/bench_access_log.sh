#!/usr/bin/env bash
# bench_access_log.sh - what the access log costs flist-hub-api (issue 11):
# wrk on a cached listing (GET /api/flist/alice, 20 flists) with the access
# log off (log-level warn), as text and as JSON lines (log-level info); the
# log goes to a file, as a container's stderr goes to a pipe. Prints req/s
# and p99 latency per mode, and the bytes logged per request.
#
# usage: tests/bench/bench_access_log.sh [BUILD_DIR] [DURATION_S]
# Needs wrk and redis-server; starts its own on free ports in a temporary
# directory and stops them (by pid) on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
dur=${2:-5}
bin=$build/bin/flist-hub-api
[ -x "$bin" ] || { echo "bench: $bin not built" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk is not installed" >&2; exit 1; }

work=$(mktemp -d /tmp/hub-bench-log.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --dir "$work" >/dev/null 2>&1 &
pids+=($!)
mkdir -p "$work/public/users/alice"
for i in $(seq 1 20); do cp "$here/../data/sample.flist" "$work/public/users/alice/f$i.flist"; done

printf '%-6s %-6s %10s %10s %14s\n' mode level req/s p99 log-bytes/req
for mode in off text json; do
  port=$(free_port)
  level=info
  [ "$mode" = off ] && level=warn
  fmt=$mode
  [ "$mode" = off ] && fmt=json
  log=$work/api-$mode.log
  HUB_LISTEN_ADDR=127.0.0.1 HUB_LISTEN_PORT=$port HUB_REDIS_URL=redis://127.0.0.1:$rport/0 \
  HUB_USERDATA_ROOT_PATH=$work/public HUB_WORKDIR_ROOT_PATH=$work/workdir-$mode HUB_THREADS=2 \
  HUB_LOG_LEVEL=$level HUB_LOG_FORMAT=$fmt HUB_MAX_CONNECTIONS_PER_IP=0 \
    "$bin" 2>"$log" &
  api=$!
  pids+=($api)
  for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$port/api/flist/alice" && break; sleep 0.1; done
  before=$(stat -c %s "$log")
  out=$(wrk -t2 -c32 -d"${dur}s" --latency "http://127.0.0.1:$port/api/flist/alice")
  after=$(stat -c %s "$log")
  reqs=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  printf '%-6s %-6s %10s %10s %14s\n' "$mode" "$level" "$reqs" "$p99" "$(( (after - before) / (total > 0 ? total : 1) ))"
  kill "$api"; wait "$api" 2>/dev/null || true
done
