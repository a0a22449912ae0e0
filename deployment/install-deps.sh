#!/usr/bin/env bash
# install-deps.sh - installs, on Debian 12, every package the build, the
# services and the tests need; installs only what is missing, so it is cheap
# to run again. Needs root (or sudo) and apt.
set -euo pipefail

PKGS=(
  # toolchain (libclang-rt: the ASan, TSan and libFuzzer runtimes; llvm:
  # llvm-symbolizer, for the sanitizers' stack traces)
  build-essential cmake pkg-config clang libclang-rt-14-dev llvm
  # libraries (ARCHITECTURE.md "Libraries")
  libsodium-dev libsnappy-dev libhiredis-dev libjansson-dev libarchive-dev
  libsqlite3-dev zlib1g-dev libssl-dev libcurl4-openssl-dev
  libmicrohttpd-dev libjwt-dev libisal-dev
  # services the hub and its tests run
  redis-server
  # tests and benchmarks
  python3 python3-cryptography wrk time procps curl
  # deployment tests (tests/deploy): a private dockerd, compose, debootstrap'd
  # image bases; kubectl (kubernetes-client) for `kubectl kustomize`, unless
  # one is installed already
  docker.io docker-compose debootstrap python3-yaml
)
command -v kubectl >/dev/null 2>&1 || PKGS+=(kubernetes-client)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
