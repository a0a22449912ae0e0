#!/usr/bin/env bash
# bench_api.sh - wrk benchmark of flist-hub-api (issue 3): 1,000 repositories
# of 20 flists; req/s and p99 latency of the repository listing, /light, full
# contents of a ~200-entry flist, a .flist download and /api/repositories;
# the API's peak RSS under 256 connections and during a 2 GiB upload.
#
# usage: tests/bench/bench_api.sh [BUILD_DIR] [DURATION_S]
# Needs wrk, redis-server, curl. Starts its own redis-server and API on free
# ports in a temporary directory and stops them (by pid) on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
dur=${2:-10}
bin=$build/bin/flist-hub-api
[ -x "$bin" ] || { echo "bench: $bin not built" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk is not installed" >&2; exit 1; }

work=$(mktemp -d /tmp/hub-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >/dev/null 2>&1 &
pids+=($!)
wait_port "$rport"

echo "== fixture: 1000 repositories x 20 flists"
python3 "$here/make_fixture.py" "$work/public/users" --flist-bin "$build/bin/flist" \
  --testdata "$here/../data" >/dev/null

port=$(free_port)
cat > "$work/hub.conf" <<CONF
listen-port = $port
userdata-root-path = $work/public
workdir-root-path = $work/workdir
redis-url = redis://127.0.0.1:$rport/0
backend-internal-port = $rport
threads = 2
max-connections = 4096
log-level = warn
CONF
"$bin" -c "$work/hub.conf" 2>"$work/api.log" &
api=$!
pids+=($api)
wait_port "$port"
base=http://127.0.0.1:$port

# warm the caches once
for u in /api/flist/repo0500 /api/flist/repo0500/flist07/light /api/flist/repo0500/flist07 \
         /repo0500/flist07.flist /api/repositories; do
  curl -sf -o /dev/null "$base$u"
done

report() { # label url connections
  local out rps p99
  out=$(wrk -t2 -c"$3" -d"${dur}s" --latency "$base$2")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  printf '%-34s c=%-4s %12s req/s   p99 %s\n' "$1" "$3" "$rps" "$p99"
}

echo "== wrk -t2 -c64 -d${dur}s --latency (API threads = 2, wrk on the same machine)"
report "GET /api/flist/<repo>"            /api/flist/repo0500 64
report "GET /api/flist/<repo>/<n>/light"  /api/flist/repo0500/flist07/light 64
report "GET /api/flist/<repo>/<n>"        /api/flist/repo0500/flist07 64
report "GET /<repo>/<n>.flist"            /repo0500/flist07.flist 64
report "GET /api/repositories"            /api/repositories 64
echo "== 256 connections"
report "GET /api/flist/<repo>"            /api/flist/repo0500 256
echo "peak RSS after 256 connections: $(awk '/VmHWM/ {print $2, $3}' /proc/$api/status)"

echo "== 2 GiB upload (async: streamed to the spool file and queued)"
python3 "$here/upload_stream.py" "$base/api/flist/me/upload?async=1" $((2 * 1024 * 1024 * 1024))
echo "peak RSS after the upload: $(awk '/VmHWM/ {print $2, $3}' /proc/$api/status)"
