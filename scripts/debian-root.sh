#!/usr/bin/env bash
# Prints the path of a cached Debian 12 (bookworm) minbase root with the package's dependencies
# (haproxy, keepalived, iproute2, iptables) installed from the Debian mirror, making it the first
# time (debootstrap, a few minutes). The package test installs the .deb into a throwaway overlay
# on top of it, so the cache itself is never changed by a test.
#   scripts/debian-root.sh [CACHE_DIR]    (default: $OVERLAY_LB_DEB_CACHE or /var/cache/overlay-lb)
set -euo pipefail
cache=${1:-${OVERLAY_LB_DEB_CACHE:-/var/cache/overlay-lb}}
root=$cache/bookworm-minbase
mirror=${OVERLAY_LB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
[[ $(id -u) -eq 0 ]] || { echo "debian-root: run as root (debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debian-root: debootstrap is missing; run scripts/install-deps.sh" >&2; exit 1; }
if [[ ! -f $root/.complete ]]; then
  mkdir -p "$cache"
  rm -rf "$root.partial"
  echo "debian-root: debootstrap bookworm minbase into $root (first time only)" >&2
  debootstrap --variant=minbase --include=haproxy,keepalived,iproute2,iptables \
    bookworm "$root.partial" "$mirror" >&2
  # Debian's haproxy and keepalived units would be started by a real init; there is none here.
  rm -rf "$root"
  mv "$root.partial" "$root"
  touch "$root/.complete"
fi
echo "$root"
