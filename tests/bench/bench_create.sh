#!/usr/bin/env bash
# bench_create.sh - figures of the flist engine (issue "Foundation" §5):
#   * the chunk pipeline's single-thread rate (no I/O);
#   * `flist create` of the 5,000-file / 200 MiB archive into a fresh local
#     redis-server: wall time, MB/s, peak RSS;
#   * the same again on the same backend (nothing to upload);
#   * the same into a fresh 0-db, the production backend (../shared/tools/zdb
#     or $ZDB_BIN), and again on the same 0-db;
#   * the same create with --threads 1 into a fresh redis-server.
# Each create row is the median of RUNS (default 3) runs.
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

zdb=${ZDB_BIN:-$PWD/../shared/tools/zdb}
[ -x "$zdb" ] || { echo "bench: 0-db not found: set ZDB_BIN to the zdb binary (../shared/tools/zdb)" >&2; exit 1; }
runs=${RUNS:-3}

work=$(mktemp -d /tmp/flist-bench.XXXXXX)
redis_pid=""
stop_redis() { [ -z "$redis_pid" ] || { kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null || true; }; redis_pid=""; }
trap 'stop_redis; rm -rf "$work"' EXIT
backend_url=""
start_redis() { # fresh, empty redis-server on a free port; sets $port
  stop_redis
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$work/redis"; mkdir -p "$work/redis"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly no >/dev/null 2>&1 &
  redis_pid=$!
  backend_url=redis://127.0.0.1:$port/0
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis-server did not start" >&2; exit 1
}
start_zdb() { # fresh, empty 0-db (user mode) on a free port; same pid slot as redis
  stop_redis
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$work/zdb"; mkdir -p "$work/zdb"
  "$zdb" --listen 127.0.0.1 --port "$port" --mode user --data "$work/zdb/data" --index "$work/zdb/index" >/dev/null 2>&1 &
  redis_pid=$!
  backend_url=zdb://127.0.0.1:$port/default
  for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "0-db did not start" >&2; exit 1
}
# run_create LABEL START ARGS...: RUNS creates, each after START (a fresh
# server: start_redis/start_zdb; "same": reuse the one there); prints the
# median run
run_create() {
  local label=$1 start=$2 i; shift 2
  : >"$work/runs"
  for i in $(seq "$runs"); do
    [ "$start" = same ] || $start
    /usr/bin/time -f '%e %M' -o "$work/time" \
      "$flist" create --json --backend "$backend_url" "$@" "$archive" "$work/out.flist" >"$work/json" ||
      { echo "bench: $label: flist create failed:" >&2; cat "$work/json" >&2; exit 1; }
    echo "$(cat "$work/time") $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["response"]; print(r["chunks_uploaded"], r["chunks_unique"])' "$work/json")" >>"$work/runs"
  done
  read -r wall rss up uniq < <(sort -n "$work/runs" | sed -n "$(( (runs + 1) / 2 ))p")
  uploaded="$up $uniq"
  all=$(awk '{printf "%s%s", sep, $1; sep=" "}' "$work/runs")
  uploaded=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["response"]; print(r["chunks_uploaded"], r["chunks_unique"])' "$work/json")
  printf '%-34s wall %6.2f s  %7.1f MB/s  peak RSS %6.1f MiB  chunks uploaded/distinct %s  [runs: %s]\n' \
    "$label" "$wall" "$(python3 -c "print($bytes/1e6/$wall)")" "$(python3 -c "print($rss/1024)")" "${uploaded/ //}" "$all"
  eval "${label%% *}_wall=$wall"
}

echo "machine: $(nproc) cores, $(uname -m); archive: $(du -h "$archive" | cut -f1) ($archive)"
"$build/bin/bench_chunk" 256
run_create "default  (fresh redis-server)" start_redis
run_create "second   (same redis-server)" same
run_create "zdb      (fresh 0-db)" start_zdb
run_create "zdbagain (same 0-db)" same
run_create "threads1 (fresh redis-server)" start_redis --threads 1
python3 -c "print('speed-up default vs --threads 1: %.2fx' % ($threads1_wall/$default_wall))"
python3 -c "print('into 0-db vs into redis-server: %.2fx the time (target <= 1.15)' % ($zdb_wall/$default_wall))"
python3 -c "print('into 0-db vs zflist putdir into 0-db (2.07 s on this kind of machine): %.2fx faster (target >= 3)' % (2.07/$zdb_wall))"
