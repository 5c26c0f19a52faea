# shellcheck shell=bash
# The pinned Node.js runtime of overlay-lb, obtained from the npm registry (the only place besides
# Debian's mirror this project can reach; Debian 12 ships nodejs 18). Source it from a script:
#
#   source scripts/runtime.sh    # or: . "$(dirname "$0")/runtime.sh"
#
# It installs the pinned runtime if it is not there yet (idempotent; a few stat calls when it is),
# then exports, for the calling script and its children only:
#   OVERLAY_LB_NODE          absolute path of the pinned node binary
#   OVERLAY_LB_NODE_VERSION  its version (24.22.3)
#   OVERLAY_LB_RUNTIME       the versioned runtime directory (bin/node, bin/npm, bin/npx)
#   PATH                     with that bin directory first, so `node`, `npm`, `npx` are the pinned ones
# Nothing outside the runtime directory changes: /usr/bin/node (if any) stays what it was, and no
# link is made on the system PATH.
#
# What is pinned: the npm packages node-linux-<arch>@24.22.3 (package/bin/node) and npm@11.21.3
# (the registry's node packages carry no npm), each by its registry sha512 integrity. A download
# that does not match fails with a clear message and installs nothing.
#
# Where: $OVERLAY_LB_RUNTIME_ROOT (default /opt/overlay-lb/runtime as root, else
# ${XDG_CACHE_HOME:-~/.cache}/overlay-lb/runtime) / node-v24.22.3-npm-11.21.3-linux-<arch>.
# Downloaded tarballs are kept in $OVERLAY_LB_RUNTIME_CACHE (default <root>/cache) so a rebuild, a
# CI cache or a chroot can reuse them. $OVERLAY_LB_NPM_REGISTRY overrides the registry URL (a mirror).
# Needs curl and ca-certificates (scripts/install-deps.sh installs them first), tar, gzip, flock.

overlay_lb_runtime() {
  local node_version=24.22.3 npm_version=11.21.3 arch node_pkg node_sri
  local npm_sri='sha512-5Cf+jE+XctbhH/zjOOqXC+ity7eec/Tkk4Ql38tf6w+1htp2wYPHmE4c1R1Es3DY227Ac14+SLrlYJwkBicbTg=='
  case $(uname -m) in
    x86_64 | amd64)
      arch=x64
      node_sri='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' ;;
    aarch64 | arm64)
      arch=arm64
      node_sri='sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==' ;;
    *)
      echo "runtime: no pinned Node.js $node_version for the machine architecture '$(uname -m)': overlay-lb runs on x86_64 and aarch64 Linux (Debian 12)" >&2
      return 1 ;;
  esac
  node_pkg=node-linux-$arch
  local root=${OVERLAY_LB_RUNTIME_ROOT:-}
  if [[ -z $root ]]; then
    if [[ $(id -u) -eq 0 ]]; then root=/opt/overlay-lb/runtime; else root=${XDG_CACHE_HOME:-$HOME/.cache}/overlay-lb/runtime; fi
  fi
  local dir=$root/node-v$node_version-npm-$npm_version-linux-$arch
  if [[ ! -x $dir/bin/node || ! -f $dir/.complete ]]; then
    overlay_lb_runtime_install "$root" "$dir" "$node_pkg" "$node_version" "$node_sri" "$npm_version" "$npm_sri" || return 1
  fi
  export OVERLAY_LB_NODE=$dir/bin/node OVERLAY_LB_NODE_VERSION=$node_version OVERLAY_LB_RUNTIME=$dir
  case ":$PATH:" in
    "$dir/bin:"*) ;;
    *) export PATH=$dir/bin:$PATH ;;
  esac
}

# Fetches one pinned tarball into the cache (kept only when its sha512 matches the pinned
# integrity) and prints its path.
overlay_lb_runtime_fetch() {
  local cache=$1 name=$2 version=$3 sri=$4
  local registry=${OVERLAY_LB_NPM_REGISTRY:-https://registry.npmjs.org}
  local file=$cache/$name-$version.tgz url="${registry%/}/$name/-/$name-$version.tgz"
  local want got
  # The registry's integrity is base64 of the sha512 digest; sha512sum prints hex (coreutils only).
  want=$(printf '%s' "${sri#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  if [[ -f $file ]] && [[ $(sha512sum "$file" | cut -d' ' -f1) == "$want" ]]; then
    printf '%s\n' "$file"; return 0
  fi
  if ! command -v curl >/dev/null 2>&1; then
    echo "runtime: curl is needed to fetch $name@$version from $registry: run scripts/install-deps.sh (or apt-get install curl ca-certificates)" >&2
    return 1
  fi
  echo "runtime: fetching $url" >&2
  if ! curl -fsSL --retry 3 --connect-timeout 20 --max-time 600 -o "$file.part" "$url"; then
    rm -f "$file.part"
    echo "runtime: could not download $url (is the npm registry reachable? set OVERLAY_LB_NPM_REGISTRY for a mirror)" >&2
    return 1
  fi
  got=$(sha512sum "$file.part" | cut -d' ' -f1)
  if [[ $got != "$want" ]]; then
    rm -f "$file.part"
    echo "runtime: $name-$version.tgz from $registry does not match the pinned integrity $sri (got sha512 $got); nothing was installed. A mirror serving other bytes, or a changed pin in scripts/runtime.sh: check both" >&2
    return 1
  fi
  mv -f "$file.part" "$file"
  printf '%s\n' "$file"
}

# Unpacks node and npm into a temporary directory beside the target and renames it into place, under
# a lock, so concurrent callers never see a half-installed runtime.
overlay_lb_runtime_install() {
  local root=$1 dir=$2 node_pkg=$3 node_version=$4 node_sri=$5 npm_version=$6 npm_sri=$7
  local cache=${OVERLAY_LB_RUNTIME_CACHE:-$root/cache}
  mkdir -p "$root" "$cache" || { echo "runtime: cannot create $root or $cache (set OVERLAY_LB_RUNTIME_ROOT to a writable directory)" >&2; return 1; }
  # Each step checks its own status: `set -e` does not apply here (this runs as the left side of
  # `||`, and the caller's shell options are the caller's).
  (
    exec 9>"$root/.lock" && flock 9 || { echo "runtime: cannot lock $root/.lock" >&2; exit 1; }
    [[ -x $dir/bin/node && -f $dir/.complete ]] && exit 0
    node_tgz=$(overlay_lb_runtime_fetch "$cache" "$node_pkg" "$node_version" "$node_sri") || exit 1
    npm_tgz=$(overlay_lb_runtime_fetch "$cache" npm "$npm_version" "$npm_sri") || exit 1
    tmp=$(mktemp -d "$root/.install.XXXXXX") || exit 1
    trap 'rm -rf "$tmp"' EXIT
    rt=$tmp/runtime
    { mkdir -p "$tmp/node" "$tmp/npm" &&
      tar -xzf "$node_tgz" -C "$tmp/node" --no-same-owner &&
      tar -xzf "$npm_tgz" -C "$tmp/npm" --no-same-owner &&
      mv "$tmp/node/package" "$rt" &&
      mkdir -p "$rt/lib/node_modules" &&
      mv "$tmp/npm/package" "$rt/lib/node_modules/npm"; } || { echo "runtime: could not unpack $node_tgz and $npm_tgz into $tmp" >&2; exit 1; }
    # The npm launchers call the pinned node by path: whatever `node` is on PATH does not matter.
    for tool in npm npx; do
      printf '#!/bin/sh\nexec "$(dirname "$(readlink -f "$0")")/node" "$(dirname "$(readlink -f "$0")")/../lib/node_modules/npm/bin/%s-cli.js" "$@"\n' "$tool" >"$rt/bin/$tool" &&
        chmod 0755 "$rt/bin/$tool" || exit 1
    done
    chmod 0755 "$rt/bin/node" || exit 1
    got=$("$rt/bin/node" -p process.versions.node) || { echo "runtime: the unpacked node binary does not run on this machine ($(uname -m))" >&2; exit 1; }
    [[ $got == "$node_version" ]] || { echo "runtime: the unpacked node says version $got, pinned $node_version" >&2; exit 1; }
    { touch "$rt/.complete" && rm -rf "$dir" && mv "$rt" "$dir"; } || { echo "runtime: could not move the runtime into $dir" >&2; exit 1; }
    echo "runtime: Node.js $node_version and npm $npm_version installed in $dir" >&2
  )
}

overlay_lb_runtime || { echo "runtime: the pinned Node.js runtime is not available (see the message above)" >&2; return 1 2>/dev/null || exit 1; }
