#!/bin/sh
# packages.sh - the Debian 12 packages of each image stage, in one place.
#
#   packages.sh list build|runtime|proxy|redis  prints the stage's packages, comma separated
#                                             (what `debootstrap --include=` takes)
#   packages.sh install STAGE                   installs those missing (apt-get; needs the
#                                             network only when something is missing)
#
# The Dockerfile runs `install` in each stage: on a plain debian:bookworm-slim
# base it downloads the packages; on a base made with
# `debootstrap --include=$(packages.sh list STAGE)` (what the tests do, with no
# registry to pull from) everything is there and nothing is fetched.
set -eu

# build: the toolchain and the -dev packages CMakeLists.txt asks pkg-config for
BUILD="build-essential cmake pkg-config libsodium-dev libsnappy-dev libhiredis-dev
libjansson-dev libarchive-dev libsqlite3-dev zlib1g-dev libssl-dev libcurl4-openssl-dev
libmicrohttpd-dev libjwt-dev libisal-dev ca-certificates"
# runtime: only the shared libraries the three binaries link (ldd), plus curl
# for the HEALTHCHECK and the CA certificates for outgoing HTTPS (login)
RUNTIME="libsodium23 libsnappy1v5 libhiredis0.14 libjansson4 libarchive13 libsqlite3-0
zlib1g libssl3 libcurl4 libmicrohttpd12 libjwt0 libisal2 ca-certificates curl"
# proxy: the reverse proxy in front of the api replicas (compose)
PROXY="nginx-light curl"
# redis: the job queue's server, for a local stand-in of the compose file's
# redis image (the tests; operators use the published redis image)
REDIS="redis-server"

usage() { echo "usage: $0 list|install build|runtime|proxy|redis" >&2; exit 2; }
[ $# -eq 2 ] || usage
case "$2" in
  build) pkgs=$BUILD ;;
  runtime) pkgs=$RUNTIME ;;
  proxy) pkgs=$PROXY ;;
  redis) pkgs=$REDIS ;;
  *) usage ;;
esac
case "$1" in
  list) echo $pkgs | tr ' ' ',' ;;
  install)
    missing=""
    for p in $pkgs; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
    done
    [ -z "$missing" ] && exit 0
    echo "installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    rm -rf /var/lib/apt/lists/*
    ;;
  *) usage ;;
esac
