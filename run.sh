#!/usr/bin/env bash
# run.sh - the README's first command: installs what is missing, builds, and
# runs the project on its embedded default. Today that is the `flist` engine
# against a local redis-server this script starts (as the content backend):
# the reference tree becomes an flist, is listed, checked and fetched back.
set -euo pipefail
cd "$(dirname "$0")"
bash deployment/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

work=$(mktemp -d /tmp/flist-hub-run.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
  >"$work/redis.log" 2>&1 &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

backend="redis://127.0.0.1:$port/0"
flist=build/bin/flist
echo "== content backend: $backend"
echo "== flist create tests/data/tree.tar.gz"
$flist create --backend "$backend" tests/data/tree.tar.gz "$work/tree.flist"
echo "== flist ls /"
$flist ls "$work/tree.flist" /
echo "== flist metadata"
$flist metadata "$work/tree.flist"
echo "== flist check"
$flist check "$work/tree.flist"
echo "== flist get / (decrypted back to disk)"
$flist get "$work/tree.flist" / "$work/tree"
ls -la "$work/tree"
