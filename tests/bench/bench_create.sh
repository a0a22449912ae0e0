#!/usr/bin/env bash
# bench_create.sh - figures of the flist engine (issue "Foundation" §5):
#   * the chunk pipeline's single-thread rate (no I/O);
#   * `flist create` of the 5,000-file / 200 MiB archive into a fresh local
#     redis-server: wall time, MB/s, peak RSS;
#   * the same again on the same backend (nothing to upload);
#   * the same create with --threads 1 into a fresh redis-server.
# usage: tests/bench/bench_create.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
flist=$build/bin/flist
out=tests/bench/out
mkdir -p "$out"
archive=$out/tree-5000.tar.gz
[ -f "$archive" ] || { echo "generating $archive (fixed seed)..."; python3 tests/bench/gen_tree.py "$archive"; }
bytes=$(python3 -c 'print(200*1024*1024)')

work=$(mktemp -d /tmp/flist-bench.XXXXXX)
redis_pid=""
stop_redis() { [ -z "$redis_pid" ] || { kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null || true; }; redis_pid=""; }
trap 'stop_redis; rm -rf "$work"' EXIT
start_redis() { # fresh, empty redis-server on a free port; sets $port
  stop_redis
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$work/redis"; mkdir -p "$work/redis"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly no >/dev/null 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis-server did not start" >&2; exit 1
}
run_create() { # label, extra args...
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" \
    "$flist" create --json --backend "redis://127.0.0.1:$port/0" "$@" "$archive" "$work/out.flist" >"$work/json"
  read -r wall rss <"$work/time"
  uploaded=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["response"]; print(r["chunks_uploaded"], r["chunks_unique"])' "$work/json")
  printf '%-34s wall %6.2f s  %7.1f MB/s  peak RSS %6.1f MiB  chunks uploaded/distinct %s\n' \
    "$label" "$wall" "$(python3 -c "print($bytes/1e6/$wall)")" "$(python3 -c "print($rss/1024)")" "${uploaded/ //}"
  eval "${label%% *}_wall=$wall"
}

echo "machine: $(nproc) cores, $(uname -m); archive: $(du -h "$archive" | cut -f1) ($archive)"
"$build/bin/bench_chunk" 256
start_redis; run_create "default  (fresh backend)"
run_create "second   (same backend)"
start_redis; run_create "threads1 (fresh backend)" --threads 1
python3 -c "print('speed-up default vs --threads 1: %.2fx' % ($threads1_wall/$default_wall))"
