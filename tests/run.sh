#!/usr/bin/env bash
# tests/run.sh - the README's test command: installs what is missing, builds
# the project twice (warnings as errors; AddressSanitizer + UBSan) and runs
# the whole ctest suite on both builds. Servers (redis-server, ...) are
# started by the tests themselves on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deployment/install-deps.sh

jobs=$(nproc)
build() { # dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DHUB_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}

build build
build build-asan -DHUB_SANITIZE=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug

status=0
(cd build && ctest --output-on-failure -j2) || status=1
echo "== sanitizer build (ASan + UBSan)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j2) || status=1
exit $status
