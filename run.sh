#!/usr/bin/env bash
# run.sh - the README's first command: installs what is missing, builds, and
# runs the hub on its embedded default:
#   * redis-server (AOF on): database 0 is the job queue, database 1 the
#     content backend (where chunks go; 0-db in production);
#   * flist-hub-api on http://127.0.0.1:${HUB_LISTEN_PORT:-5555}, authentication off;
#   * one flist-hub-worker.
# Data stays in ./hub-data between runs. Ctrl-C stops everything.
# Any configuration key can be overridden with HUB_<KEY> (see
# deployment/hub.conf.sample).
set -euo pipefail
cd "$(dirname "$0")"
bash deployment/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

data=${HUB_DATA:-$PWD/hub-data}
mkdir -p "$data/redis"
redis_port=${HUB_REDIS_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data/redis" \
  --appendonly yes --save '' >"$data/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done

export HUB_USERDATA_ROOT_PATH=$data/public HUB_WORKDIR_ROOT_PATH=$data/workdir
export HUB_REDIS_URL=redis://127.0.0.1:$redis_port/0
export HUB_BACKEND_INTERNAL_KIND=redis HUB_BACKEND_INTERNAL_HOST=127.0.0.1
export HUB_BACKEND_INTERNAL_PORT=$redis_port HUB_BACKEND_INTERNAL_NAME=1
export HUB_BACKEND_PUBLIC_HOST=127.0.0.1 HUB_BACKEND_PUBLIC_PORT=$redis_port HUB_BACKEND_PUBLIC_NAME=1
export HUB_AUTHENTICATION=${HUB_AUTHENTICATION:-false}
export HUB_LISTEN_PORT=${HUB_LISTEN_PORT:-5555}
export HUB_PUBLIC_WEBSITE=${HUB_PUBLIC_WEBSITE:-http://127.0.0.1:$HUB_LISTEN_PORT}

build/bin/flist-hub-worker &
pids+=($!)
build/bin/flist-hub-api &
pids+=($!)
url=http://127.0.0.1:$HUB_LISTEN_PORT
for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

cat <<MSG

flist hub running at $url   (data in $data; Ctrl-C stops it)
  curl -F file=@tests/data/tree.tar.gz $url/api/flist/me/upload
  curl $url/api/flist/Administrator
  curl -o tree.flist $url/Administrator/tree.flist && build/bin/flist ls tree.flist

MSG
wait -n "${pids[@]}"
