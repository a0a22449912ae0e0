#!/usr/bin/env bash
# bench_docker.sh [BUILD] - the registry path of the image converter
# (bench_docker.py): a ~100 MiB 5-layer image from a local docker-registry
# through the hub, first conversion, again, and an image sharing 4 of 5
# layers; the worker's peak RSS. Needs docker-registry (install-deps.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../../build}"
command -v docker-registry >/dev/null || { echo "bench: docker-registry missing (deployment/install-deps.sh)" >&2; exit 1; }
exec python3 "$here/bench_docker.py" "$build"
