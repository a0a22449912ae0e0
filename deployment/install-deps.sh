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
  # browser tests of the web pages (tests/browser: playwright-core from npm)
  chromium nodejs
  # container images: umoci (reference unpacker), zstd (zstd layers)
  umoci zstd
  # registry path of the converter: a real registry, htpasswd -B for its basic auth
  docker-registry apache2-utils
  # engine path of the converter: a real dockerd the tests start (tests/e2e/dockerd.py)
  docker.io
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
# npm: Debian's package, unless a node distribution already brings its own
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# playwright-core for the browser tests, at the version of the lock file
# (it drives Debian's chromium: no browser download)
browser_dir="$(dirname "$0")/../tests/browser"
if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
  (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null)
fi
