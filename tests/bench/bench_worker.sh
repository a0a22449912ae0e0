#!/usr/bin/env bash
# bench_worker.sh - figures of the job path (issue 4): the 200 MiB / 5,000-file
# archive uploaded through the api in compatibility mode (transfer time, end
# of upload -> answer, vs `flist create`), and 200 small uploads from 16
# clients with 1 and 2 workers (jobs/s, p50/p99). See bench_worker.py.
# usage: tests/bench/bench_worker.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
archive=tests/bench/out/tree-5000.tar.gz
[ -f "$archive" ] || { echo "generating $archive (fixed seed)..."; python3 tests/bench/gen_tree.py "$archive"; }
for b in flist flist-hub-api flist-hub-worker; do
  [ -x "$build/bin/$b" ] || { echo "missing $build/bin/$b: build it first" >&2; exit 1; }
done
exec python3 tests/bench/bench_worker.py "$build" "$archive"
