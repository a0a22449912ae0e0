#!/usr/bin/env bash
# bench_docker_engine.sh [BUILD] - the engine-path row of the image
# converter's benchmark (bench_docker_engine.py): the image of
# bench_docker.py through `flist create docker://` (registry path) and
# `flist create docker-daemon:` (a private dockerd), end to end. Needs
# docker-registry and docker.io (install-deps.sh), and root for dockerd.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../../build}"
command -v docker-registry >/dev/null || { echo "bench: docker-registry missing (deployment/install-deps.sh)" >&2; exit 1; }
command -v dockerd >/dev/null || { echo "bench: dockerd missing (docker.io, deployment/install-deps.sh)" >&2; exit 1; }
exec python3 "$here/bench_docker_engine.py" "$build"
