#!/usr/bin/env bash
# make-bases.sh - makes the Debian 12 base images of the Dockerfile without
# pulling anything from a registry: debootstrap (minbase) with the stage's
# packages already installed (packages.sh), then `docker import`.
#
#   make-bases.sh [STAGE...]        STAGE: build, runtime, proxy, redis (default: all)
#
# Images: flist-hub/<STAGE>-base:bookworm. The root file systems are cached as
# tarballs in $HUB_BASE_CACHE (default /var/cache/flist-hub/bases), named by a
# hash of the package list, so a second run only imports (delete a tarball to
# bootstrap it again with current packages). $DOCKER is the docker
# command (e.g. "docker -H unix:///tmp/d.sock"); $DEBIAN_MIRROR the mirror
# (default: the first URIs/deb line of the machine's apt sources). Needs root
# and debootstrap.
#
# With a registry at hand none of this is needed: the Dockerfile's defaults
# (debian:bookworm-slim) install the same packages with apt-get.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DOCKER=${DOCKER:-docker}
cache=${HUB_BASE_CACHE:-/var/cache/flist-hub/bases}
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(build runtime proxy redis)

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}')
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /\[/ && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi
mkdir -p "$cache"

for stage in "${stages[@]}"; do
  pkgs=$("$here/packages.sh" list "$stage")
  key=$(printf '%s\n%s\n' "$pkgs" "$mirror" | sha256sum | cut -c1-16)
  tarball=$cache/$stage-$key.tar
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "make-bases.sh: debootstrap is not installed" >&2; exit 1; }
    root=$(mktemp -d "$cache/root-$stage.XXXXXX")
    echo "make-bases.sh: debootstrap $stage ($mirror)" >&2
    if ! debootstrap --variant=minbase --include="$pkgs" bookworm "$root" "$mirror" \
        >"$cache/debootstrap-$stage.log" 2>&1; then
      echo "make-bases.sh: debootstrap failed; last lines of $cache/debootstrap-$stage.log:" >&2
      tail -20 "$cache/debootstrap-$stage.log" >&2
      rm -rf "$root"
      exit 1
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/* \
           "$root"/debootstrap
    # apt lists are gone: a later apt-get in a container needs its own `update`
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  $DOCKER import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    "$tarball" "flist-hub/$stage-base:bookworm" >/dev/null
  echo "flist-hub/$stage-base:bookworm"
done
