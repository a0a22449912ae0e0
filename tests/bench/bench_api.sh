#!/usr/bin/env bash
# bench_api.sh - wrk benchmark of flist-hub-api (issue 3): 1,000 repositories
# of 20 flists; req/s and p99 latency of the repository listing, /light, full
# contents of a 200-entry flist, a .flist download and /api/repositories;
# the API's peak RSS under 256 connections and during a 2 GiB upload.
#
# Two passes, printed side by side at the end:
#  * "same URL" (the issue's measurement): the 20,000 flists are hard links of
#    one file and every wrk run asks for one fixed URL, after a warming
#    request: every reply comes from the API's caches (keyed by file identity).
#  * "spread": the 20,000 flists are distinct files (copies) and spread.lua
#    picks a random repository / flist per request (seeded per wrk thread, so
#    runs are reproducible); each route starts on a freshly started API (empty
#    cache), so the figures include the cost of computing replies that are
#    not cached yet and of a working set larger than the cache. After each
#    run the cache's fill (/metrics) and the API's peak RSS are printed.
#    A "control" run sends the pass-1 listing URL through spread.lua, to show
#    what the script itself costs wrk.
#
# usage: tests/bench/bench_api.sh [BUILD_DIR] [DURATION_S]
# About 11 x DURATION_S of wrk plus ~25 s (fixtures, the 2 GiB upload).
# Needs wrk, redis-server, curl. Starts its own redis-server and API on free
# ports in a temporary directory and stops them (by pid) on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
dur=${2:-10}
seed=42
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

echo "== fixtures"
printf 'same URL: '
python3 "$here/make_fixture.py" "$work/links/public/users" --flist-bin "$build/bin/flist" \
  --testdata "$here/../data"
printf 'spread:   '
python3 "$here/make_fixture.py" "$work/copies/public/users" --copies --flist-bin "$build/bin/flist" \
  --testdata "$here/../data"

api='' base=''
start_api() { # DIR: starts the API on DIR/public (work dir DIR/workdir); sets api, base
  local port
  port=$(free_port)
  cat > "$1/hub.conf" <<CONF
listen-port = $port
userdata-root-path = $1/public
workdir-root-path = $1/workdir
redis-url = redis://127.0.0.1:$rport/0
backend-internal-port = $rport
threads = 2
max-connections = 4096
max-connections-per-ip = 0
log-level = warn
CONF
  "$bin" -c "$1/hub.conf" 2>>"$work/api.log" &
  api=$!
  pids+=("$api")
  wait_port "$port" || { echo "bench: the API did not start:" >&2; cat "$work/api.log" >&2; exit 1; }
  base=http://127.0.0.1:$port
}
stop_api() {
  kill "$api"
  wait "$api" 2>/dev/null || true
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" = "$api" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}
peak_rss() { awk '/VmHWM/ {print $2, $3}' "/proc/$api/status"; }

declare -A rps p99
# run KEY LABEL CONNECTIONS URL [spread.lua args...]: one wrk run; prints a
# line, records req/s and p99 under KEY, and flags error replies
run() {
  local key=$1 label=$2 conns=$3 url=$4 out bad
  shift 4
  if [ $# -gt 0 ]; then
    out=$(wrk -t2 -c"$conns" -d"${dur}s" --latency -s "$here/spread.lua" "$url" -- "$@" 2>&1)
  else
    out=$(wrk -t2 -c"$conns" -d"${dur}s" --latency "$url" 2>&1)
  fi
  rps[$key]=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99[$key]=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses/ {printf " %s non-2xx replies!", $NF}
             /Socket errors/ {printf " socket errors:%s", substr($0, index($0, ":") + 1)}' <<<"$out")
  printf '%-34s c=%-4s %12s req/s   p99 %s%s\n' "$label" "$conns" "${rps[$key]:-?}" "${p99[$key]:-?}" "$bad"
  [ -n "${rps[$key]}" ] || { echo "bench: wrk printed no figures:" >&2; echo "$out" >&2; }
}

L_LIST="GET /api/flist/<repo>"
L_LIGHT="GET /api/flist/<repo>/<n>/light"
L_FULL="GET /api/flist/<repo>/<n>"
L_DL="GET /<repo>/<n>.flist"
L_REPOS="GET /api/repositories"

echo "== pass 1, same URL: hard links of one flist, one fixed URL per run, caches warmed"
echo "   (wrk -t2 -c64 -d${dur}s --latency URL; API threads = 2, wrk on the same machine)"
start_api "$work/links"
for u in /api/flist/repo0500 /api/flist/repo0500/flist07/light /api/flist/repo0500/flist07 \
         /repo0500/flist07.flist /api/repositories; do
  curl -sf -o /dev/null "$base$u"
done
run s.list  "$L_LIST"  64 "$base/api/flist/repo0500"
run s.light "$L_LIGHT" 64 "$base/api/flist/repo0500/flist07/light"
run s.full  "$L_FULL"  64 "$base/api/flist/repo0500/flist07"
run s.dl    "$L_DL"    64 "$base/repo0500/flist07.flist"
run s.repos "$L_REPOS" 64 "$base/api/repositories"
echo "-- 256 connections"
run s.c256  "$L_LIST" 256 "$base/api/flist/repo0500"
echo "peak RSS after 256 connections: $(peak_rss)"
echo "-- 2 GiB upload (async: streamed to the spool file and queued)"
python3 "$here/upload_stream.py" "$base/api/flist/me/upload?async=1" $((2 * 1024 * 1024 * 1024))
echo "peak RSS after the upload: $(peak_rss)"
stop_api

echo "== pass 2, spread: 20,000 distinct flists, a random repository/flist per request"
echo "   (wrk -t2 -c64 -d${dur}s --latency -s spread.lua URL -- ROUTE 1000 20 $seed; a fresh API per route)"
cache_fill() {
  curl -sf "$base/metrics" | awk '/^hub_cache_items/ {i=$2} /^hub_cache_bytes/ {b=$2}
    END {printf "%d items, %.1f MiB", i, b / 1048576}'
}
store_fill() {
  find "$work/copies/workdir/replies" -type f 2>/dev/null | awk 'END {printf "%d entries", NR}'
}
# full contents runs twice: with the shared reply store empty (flists an
# older hub published: every first read computes and stores its reply) and
# with the store filled (flists our workers published, or read once by any
# replica: a fresh replica answers its memory-cache misses from the store)
for r in list light full fullw dl; do
  case $r in
    list)  label=$L_LIST  route=list ;;
    light) label=$L_LIGHT route=light ;;
    full)  label="$L_FULL (store empty)" route=contents
           rm -rf "$work/copies/workdir/replies" ;;
    fullw) label="$L_FULL (store filled)" route=contents
           start_api "$work/copies"
           python3 "$here/fill_replies.py" "$base" 1000 20
           stop_api ;;
    dl)    label=$L_DL    route=download ;;
  esac
  start_api "$work/copies"
  run "r.$r" "$label" 64 "$base" "$route" 1000 20 "$seed"
  echo "   cache after the run: $(cache_fill); reply store $(store_fill); API peak RSS $(peak_rss)"
  stop_api
done
start_api "$work/copies"
curl -sf -o /dev/null "$base/api/flist/repo0500"
run r.ctl "control: fixed URL via spread.lua" 64 "$base" fixed
stop_api

echo "== summary: req/s and p99 at 64 connections (wrk -t2 -d${dur}s, API threads = 2, same machine)"
printf '%-34s  %-27s  %s\n' "" "same URL (cache hits)" "spread (20,000 files, cold start)"
for r in list light full fullw dl repos; do
  case $r in
    list)  label=$L_LIST ;;
    light) label=$L_LIGHT ;;
    full)  label="$L_FULL" ;;
    fullw) label="  ... reply store filled" ;;
    dl)    label=$L_DL ;;
    repos) label=$L_REPOS ;;
  esac
  same=$(printf '%10s req/s  p99 %-8s' "${rps[s.$r]:-?}" "${p99[s.$r]:-?}")
  [ "$r" = fullw ] && same=$(printf '%-33s' "")
  if [ "$r" = repos ]; then
    spread="-  (one URL)"
  else
    spread=$(printf '%10s req/s  p99 %s' "${rps[r.$r]:-?}" "${p99[r.$r]:-?}")
  fi
  printf '%-34s  %s  %s\n' "$label" "$same" "$spread"
done
echo "spread.lua's own cost (control): ${rps[r.ctl]:-?} req/s through the script vs ${rps[s.list]:-?} without, same URL"
