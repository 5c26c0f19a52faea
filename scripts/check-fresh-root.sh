#!/usr/bin/env bash
# Proves the README's install step on a fresh Debian 12 root with no Node.js in it: builds a
# minimal bookworm root with debootstrap, copies this checkout's tracked files into it, chroots in
# and runs `bash scripts/install-deps.sh` (what both README commands run first). It must install
# the Debian packages, fetch the pinned Node.js 24 and npm from the npm registry (checked against
# their pinned integrity), install the npm packages and build the project; then the built CLI must
# run on that runtime, while `node` on the root's PATH still resolves to nothing (the runtime is
# the project's, not the system's).
#
#   scripts/check-fresh-root.sh [--cache DIR] [--mirror URL] [--keep]
#
# As root. --cache (default /var/cache/overlay-lb-fresh-root) keeps debootstrap's and apt's .deb
# files and the bare root as a tarball, so a second run downloads no Debian package again; the
# Node runtime and the npm packages are always fetched anew (that is what is checked). --keep
# leaves the root in place for inspection (its path is printed). Prints one line per check and
# exits 0 when all pass.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

cache=/var/cache/overlay-lb-fresh-root mirror=http://deb.debian.org/debian keep=0
while (($#)); do
  case $1 in
    --cache) cache=$2; shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "check-fresh-root: unknown argument $1; usage: scripts/check-fresh-root.sh [--cache DIR] [--mirror URL] [--keep]" >&2; exit 64 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "check-fresh-root: run as root (debootstrap and chroot need it)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "check-fresh-root: debootstrap is not installed: apt-get install debootstrap" >&2; exit 1; }

mkdir -p "$cache/debs" "$cache/apt-archives"
root=$(mktemp -d /var/tmp/olb-fresh-root.XXXXXX)
mounts=()
cleanup() {
  local m i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    m=${mounts[i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if ((keep)); then echo "check-fresh-root: root kept in $root" >&2; return; fi
  # Never delete through a mount that is still there (the cache, /dev, /proc).
  if findmnt -rn -o TARGET | grep -q "^$root"; then
    echo "check-fresh-root: $root still has mounts; not removed" >&2
  else
    rm -rf --one-file-system "$root"
  fi
}
trap cleanup EXIT
# A stopped check (a test's deadline, ^C) still unmounts and removes its root.
trap 'exit 143' TERM
trap 'exit 130' INT
bind() { mkdir -p "$root$2" && mount --bind "$1" "$root$2" && mounts+=("$root$2"); }
step() { printf 'check-fresh-root: %s\n' "$*" >&2; }
started=$(date +%s)

base=$cache/bookworm-minbase.tar
if [[ -f $base ]]; then
  step "unpacking the cached bare Debian 12 root ($base)"
  tar -xpf "$base" -C "$root"
else
  step "debootstrap --variant=minbase bookworm from $mirror (debs cached in $cache/debs)"
  debootstrap --variant=minbase --cache-dir="$cache/debs" bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; echo "check-fresh-root: debootstrap failed (log: $cache/debootstrap.log)" >&2; exit 1; }
  tar -cpf "$base.part" -C "$root" . && mv "$base.part" "$base"
fi

# Daemons installed in the chroot (haproxy, keepalived, etcd, dnsmasq) must not start on this
# machine's network: Debian's maintainer scripts ask policy-rc.d first. On a real machine they do
# start, and install-deps.sh disables them.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The site's network, as a new machine here would get it: when this machine reaches the registries
# through a TLS proxy whose CA is in its local trust store (/usr/local/share/ca-certificates), the
# fresh root trusts it too (Debian's ca-certificates, installed by install-deps.sh, adds it to
# /etc/ssl/certs) and Node.js is told to use that bundle (Node has its own CA list). On a machine
# without such a proxy there is nothing to copy and nothing is set.
site_env=()
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  site_env=(NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
  step "the site's local CA certificates are trusted in the fresh root (${site_env[*]})"
fi
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" >"$root/etc/apt/sources.list"
mount -t proc proc "$root/proc" && mounts+=("$root/proc")
mount -t sysfs sysfs "$root/sys" && mounts+=("$root/sys")
bind /dev /dev
bind "$cache/apt-archives" /var/cache/apt/archives

# GIVEN a root without Node.js
if chroot "$root" /bin/sh -c 'command -v node || command -v nodejs || command -v npm'; then
  echo "check-fresh-root: FAIL: the fresh root already has Node.js or npm" >&2; exit 1
fi
step "ok: the fresh root has no node, nodejs or npm"

# The checkout as the README assumes it: this repository's tracked files (working-tree content).
mkdir -p "$root/root/overlay-lb"
git -C "$repo" ls-files -z | tar -C "$repo" --null -cf - -T - | tar -xf - -C "$root/root/overlay-lb"

# WHEN the README's install step runs there (a login shell's PATH; no Node anywhere)
step "running scripts/install-deps.sh in the chroot (Debian packages, the pinned runtime, npm ci, tsc)"
log=$cache/install-deps.log
if ! chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "${site_env[@]}" \
  /bin/bash -c 'cd /root/overlay-lb && bash scripts/install-deps.sh' >"$log" 2>&1; then
  tail -30 "$log" >&2
  echo "check-fresh-root: FAIL: scripts/install-deps.sh failed in the fresh root (log: $log)" >&2; exit 1
fi
step "ok: install-deps.sh succeeded ($(($(date +%s) - started)) s so far; log: $log)"

# THEN the pinned runtime is there, the project is built, and the CLI runs on that runtime
out=$(chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin "${site_env[@]}" /bin/bash -c '
  set -euo pipefail
  cd /root/overlay-lb
  source scripts/runtime.sh
  printf "node=%s version=%s\n" "$OVERLAY_LB_NODE" "$("$OVERLAY_LB_NODE" --version)"
  printf "npm=%s\n" "$(npm --version)"
  test -f dist/src/cli/main.js && echo built=yes
  "$OVERLAY_LB_NODE" dist/src/cli/main.js validate examples/demo.yaml
') || { printf '%s\n' "$out" >&2; echo "check-fresh-root: FAIL: the built project does not run on the pinned runtime" >&2; exit 1; }
printf '%s\n' "$out" | sed 's/^/check-fresh-root:   /' >&2
want=$(sed -n 's/.*node_version=\([0-9.]*\).*/\1/p' scripts/runtime.sh | head -1)
grep -q "version=v$want\$" <<<"$out" || { echo "check-fresh-root: FAIL: the runtime is not the pinned Node.js $want" >&2; exit 1; }
grep -q '^built=yes$' <<<"$out" || { echo "check-fresh-root: FAIL: dist/src/cli/main.js was not built" >&2; exit 1; }
grep -q 'valid' <<<"$out" || { echo "check-fresh-root: FAIL: the CLI did not validate examples/demo.yaml" >&2; exit 1; }
step "ok: Node.js v$want from the npm registry runs the built CLI"
if chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c 'command -v node'; then
  echo "check-fresh-root: FAIL: install-deps.sh put a node on the system PATH" >&2; exit 1
fi
step "ok: the system PATH still has no node (the runtime is the project's)"
step "PASS in $(($(date +%s) - started)) s"
