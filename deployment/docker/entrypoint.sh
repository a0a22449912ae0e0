#!/bin/bash
# entrypoint.sh - the images' entrypoint (Dockerfile): uses a configuration
# file mounted at /etc/flist-hub/hub.conf when present (unless HUB_CONFIG
# names another; HUB_* variables override both), then runs the command.
#
#   hub-entrypoint PROGRAM ARGS...   exec PROGRAM
#   hub-entrypoint --check-worker    the worker's HEALTHCHECK: the job queue
#                                    (redis-url) answers PING
set -euo pipefail

if [ -z "${HUB_CONFIG:-}" ] && [ -r /etc/flist-hub/hub.conf ]; then
  export HUB_CONFIG=/etc/flist-hub/hub.conf
fi

if [ "${1:-}" = "--check-worker" ]; then
  url=${HUB_REDIS_URL:-}
  if [ -z "$url" ] && [ -n "${HUB_CONFIG:-}" ]; then
    url=$(sed -n 's/^[[:space:]]*redis-url[[:space:]]*=[[:space:]]*"\{0,1\}\([^"# ]*\).*/\1/p' "$HUB_CONFIG" | tail -1)
  fi
  url=${url:-redis://127.0.0.1:6379/0}
  rest=${url#redis://}
  rest=${rest%%/*}
  pass=""
  if [[ $rest == *@* ]]; then
    pass=${rest%@*}
    pass=${pass#:}
    rest=${rest##*@}
  fi
  host=${rest%:*}
  port=6379
  [[ $rest == *:* ]] && port=${rest##*:}
  host=${host#[}
  host=${host%]}
  exec 3<>"/dev/tcp/$host/$port"
  [ -n "$pass" ] && printf 'AUTH %s\r\n' "$pass" >&3 && read -r -t 3 _ <&3
  printf 'PING\r\n' >&3
  read -r -t 3 reply <&3
  [[ $reply == +PONG* ]]
  exit $?
fi

exec "$@"
