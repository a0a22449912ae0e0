#!/usr/bin/env bash
# tests/run.sh - the README's test command: installs what is missing, builds
# the project four times and tests each build:
#   build        warnings as errors: the whole ctest suite
#   build-asan   clang, AddressSanitizer + UBSan: the whole ctest suite
#   build-tsan   clang, ThreadSanitizer: the unit tests and the api and
#                worker end-to-end tests (reports: build-tsan/tsan-reports)
#   build-fuzz   clang, libFuzzer: every fuzz target for 10 s (tests/fuzz)
# Servers (redis-server, ...) are started by the tests themselves on free
# ports.
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
build build-tsan -DHUB_TSAN=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo
# only the fuzz targets: the rest of that tree is not tested there
cmake -S . -B build-fuzz -DHUB_WERROR=ON -DHUB_FUZZ=ON -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz

status=0
(cd build && ctest --output-on-failure -j2) || status=1
echo "== sanitizer build (ASan + UBSan)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j2) || status=1

echo "== ThreadSanitizer build (unit tests, api and worker end-to-end tests)"
# Reports go to files, one per process: the end-to-end tests run the
# servers with their output captured, and a report must never go unseen.
reports=$PWD/build-tsan/tsan-reports
rm -rf "$reports"
mkdir -p "$reports"
(cd build-tsan && \
   TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/../tests/tsan.supp:log_path=$reports/report" \
   ctest --output-on-failure -j2 -R '^(unit/|e2e/test_(api|worker))') || status=1
if compgen -G "$reports/report.*" >/dev/null; then
  echo "ThreadSanitizer reports:"
  cat "$reports"/report.*
  status=1
fi

echo "== fuzz targets (10 s each)"
bash tests/fuzz/run.sh build-fuzz 10 || status=1
exit $status
