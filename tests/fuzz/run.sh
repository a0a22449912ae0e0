#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...] - runs each libFuzzer
# target of BUILD_DIR/fuzz (a -DHUB_FUZZ=ON build, `--target fuzz`) for
# SECONDS on its seed corpus tests/fuzz/corpus/<name>, growing a scratch
# corpus in BUILD_DIR/fuzz/corpus/<name> (kept between runs). Prints one
# line of figures per target; fails when a target crashes (ASan, UBSan, a
# leak, an oracle's abort, a timeout), naming the reproducer it saved in
# BUILD_DIR/fuzz/artifacts/. Without TARGET arguments: every target.
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
dir=$(cd "$1" && pwd)/fuzz
secs=$2
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for exe in "$dir"/fuzz_*; do
    [ -x "$exe" ] && targets+=("$(basename "$exe" | sed 's/^fuzz_//')")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets in $dir (configure with -DHUB_FUZZ=ON, build --target fuzz)" >&2
  exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$dir/artifacts"
status=0
for t in "${targets[@]}"; do
  exe=$dir/fuzz_$t
  seeds=$src/corpus/$t
  work=$dir/corpus/$t
  log=$dir/$t.log
  if [ ! -x "$exe" ] || [ ! -d "$seeds" ]; then
    echo "fuzz $t: missing $exe or $seeds" >&2
    status=1
    continue
  fi
  mkdir -p "$work"
  "$exe" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$t-" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  if [ $rc -eq 0 ]; then
    printf 'fuzz %-10s ok    %ss  %s execs (%s/s)  cov %s  ft %s  corpus %s\n' \
      "$t" "$secs" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
  else
    status=1
    printf 'fuzz %-10s FAILED (exit %d) after %s execs; log %s\n' "$t" "$rc" "${execs:-?}" "$log"
    grep -E 'ERROR:|SUMMARY:|Test unit written|^==[0-9]+==' "$log" | head -20
    grep -A25 -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$log" | head -40
  fi
done
exit $status
