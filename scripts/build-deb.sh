#!/usr/bin/env bash
# Builds the Debian package of overlay-lb: one single executable (the CLI and agent bundled by
# esbuild, injected into the pinned Node.js 24 runtime of scripts/runtime.sh as a Single
# Executable Application), the hardened systemd unit, /etc/overlay-lb conffiles, a man page,
# bash completion, the license and third-party notices, and maintainer scripts.
#
#   scripts/build-deb.sh [--version V] [--out DIR]
#
# --version  the package version (default: package.json's version); the package test builds a
#            second, higher one to test upgrades.
# --out      where overlay-lb_<version>_<arch>.deb goes (default: dist/deb). The path of the .deb
#            is the last line of standard output.
# Needs: node_modules (esbuild, postject), dpkg-deb, git (for the commit; "unknown" without).
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD
version='' out=dist/deb
while (($#)); do
  case $1 in
    --version) version=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    *) echo "build-deb: unknown argument $1; usage: scripts/build-deb.sh [--version V] [--out DIR]" >&2; exit 64 ;;
  esac
done
# shellcheck source=scripts/runtime.sh
source scripts/runtime.sh   # OVERLAY_LB_NODE, OVERLAY_LB_RUNTIME: the pinned Node.js 24
node=$OVERLAY_LB_NODE
[[ -n $version ]] || version=$("$node" -p 'require("./package.json").version')
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || { echo "build-deb: --version $version is not a Debian version (digits first, then letters, digits, . + ~ -)" >&2; exit 64; }
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ $commit != unknown && -n $(git status --porcelain --untracked-files=no -- src package.json packaging scripts 2>/dev/null) ]]; then commit="$commit-dirty"; fi
case $(uname -m) in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) echo "build-deb: unsupported machine $(uname -m)" >&2; exit 1 ;; esac
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing" >&2; exit 1; }; done
[[ -x node_modules/.bin/esbuild && -x node_modules/.bin/postject ]] || { echo "build-deb: esbuild or postject missing in node_modules; run scripts/install-deps.sh" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/overlay-lb-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-deb: overlay-lb $version ($commit) for $arch on Node.js $("$node" --version)" >&2

# 1. Two CommonJS files (Node 24's SEA runs a CommonJS main); import.meta.url becomes the file's URL.
# src/ops/sea-bundle.ts (run by the runtime's type stripping) bundles npm packages from their ES
# module builds, tree-shaken. The main script is the agent alone (src/cli/sea-agent-main.ts); the
# whole CLI (src/cli/sea-main.ts: provisioning with the AWS SDK, the lab...) is an asset that the
# main script compiles for every other command: the agent's memory holds only its own source
# (docs/BENCHMARKS.md, "Agent footprint"). The CLI's metafile lists everything bundled (notices).
build_json=$("$node" -e 'process.stdout.write(JSON.stringify({version: process.argv[1], commit: process.argv[2]}))' "$version" "$commit")
for entry in "src/cli/sea-agent-main.ts agent" "src/cli/sea-main.ts cli"; do
  read -r source name <<<"$entry"
  "$node" --input-type=module -e "const { main } = await import('./src/ops/sea-bundle.ts'); await main(process.argv.slice(1));" \
    "$source" "$work/overlay-lb-$name.cjs" "$work/meta-$name.json" "$build_json"
done

# 2. The single executable: a SEA blob injected into a copy of the pinned runtime.
# The runtime's flags for the executable (the SEA config's execArgv), for the idle agent's
# footprint (docs/BENCHMARKS.md, "Agent footprint"; CPU not up with any of them):
# - a young generation of 1 MiB per semi-space instead of up to 16 MiB (the agent's garbage is
#   small and short-lived): RSS 124-125 -> 108-111 MiB;
# - no optimizing compilers (--no-opt --no-maglev: the interpreter and the baseline compiler
#   only): the executable's pages of TurboFan are never touched and no optimized code is made;
#   the idle agent has nothing hot to optimize. The price: a CPU-bound CLI run is slower
#   (validating a spec of 10,000 routes 1.5-1.8 -> 2.2 s);
# - --single-threaded: V8 collects garbage and compiles on the main thread (a heap of about
#   20 MiB), no worker thread's memory.
# (The agent adds --optimize-for-size at run time: src/cli/sea-agent-main.ts.)
# The blob, with its code cache, is made under the same flags: V8 rejects a code cache made
# under other flags.
sea_exec_argv=(--max-semi-space-size=1 --no-opt --no-maglev --single-threaded)
exec_argv_json=$("$node" -e 'process.stdout.write(JSON.stringify(process.argv.slice(1)))' -- "${sea_exec_argv[@]}")
cat > "$work/sea-config.json" <<JSON
{ "main": "$work/overlay-lb-agent.cjs", "output": "$work/sea.blob", "disableExperimentalSEAWarning": true, "useCodeCache": true,
  "assets": { "overlay-lb-cli.cjs": "$work/overlay-lb-cli.cjs" }, "execArgv": $exec_argv_json }
JSON
"$node" "${sea_exec_argv[@]}" --experimental-sea-config "$work/sea-config.json" >&2
# Stripped first (Debian ships no unstripped binaries; 20 MB less), then the blob is injected.
install -m 0755 "$node" "$work/overlay-lb"
strip --strip-all "$work/overlay-lb"
node_modules/.bin/postject "$work/overlay-lb" NODE_SEA_BLOB "$work/sea.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null 2>&1
reported=$("$work/overlay-lb" --version)
[[ $reported == "overlay-lb $version (commit $commit, Node.js v$OVERLAY_LB_NODE_VERSION)" ]] \
  || { echo "build-deb: the executable reports '$reported', not version $version, commit $commit, Node.js $OVERLAY_LB_NODE_VERSION" >&2; exit 1; }

# 3. The package tree.
pkg=$work/pkg
doc=$pkg/usr/share/doc/overlay-lb
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/usr/share/man/man1" \
  "$pkg/usr/share/bash-completion/completions" "$doc" "$pkg/usr/share/lintian/overrides"
# /etc/overlay-lb holds the spec, which may carry the stats password hash: root only.
install -d -m 0750 "$pkg/etc/overlay-lb"
install -m 0755 "$work/overlay-lb" "$pkg/usr/bin/overlay-lb"
install -m 0644 packaging/deb/overlay-lb-agent.service "$pkg/lib/systemd/system/overlay-lb-agent.service"
install -m 0644 packaging/deb/spec.yaml.example "$pkg/etc/overlay-lb/spec.yaml.example"
install -m 0644 packaging/deb/agent.env "$pkg/etc/overlay-lb/agent.env"
gzip -9n < packaging/deb/overlay-lb.1 > "$pkg/usr/share/man/man1/overlay-lb.1.gz"
install -m 0644 packaging/deb/overlay-lb.bash-completion "$pkg/usr/share/bash-completion/completions/overlay-lb"
install -m 0644 packaging/deb/lintian-overrides "$pkg/usr/share/lintian/overrides/overlay-lb"
# What the operators' monitoring reads: the Prometheus alert rules and the Grafana dashboard
# (docs/metrics.md). The rules' unit tests (.rules.test.yml) stay in the repository.
install -d -m 0755 "$pkg/usr/share/overlay-lb/prometheus" "$pkg/usr/share/overlay-lb/grafana"
install -m 0644 packaging/prometheus/overlay-lb.rules.yml "$pkg/usr/share/overlay-lb/prometheus/overlay-lb.rules.yml"
install -m 0644 packaging/grafana/overlay-lb.json "$pkg/usr/share/overlay-lb/grafana/overlay-lb.json"
# Licenses: overlay-lb's own (Apache-2.0) in the copyright file; every bundled component's
# license from what esbuild really bundled (and Node.js's), generated, never hand-kept.
echo "import { main } from './src/ops/third-party-notices.ts'; main(process.argv.slice(2));" \
  | node_modules/.bin/esbuild --bundle --platform=node --format=esm --log-level=warning --outfile="$work/notices.mjs"
"$node" "$work/notices.mjs" "$work/meta-cli.json" "$root_dir/node_modules" "$OVERLAY_LB_RUNTIME" | gzip -9n > "$doc/THIRD-PARTY-NOTICES.gz"
# (tail, not head: head would end git with SIGPIPE, which pipefail turns into a failure)
first_year=$(git log --format=%ad --date=format:%Y 2>/dev/null | tail -n 1 || true)
years=${first_year:-$(date -u +%Y)}-$(date -u +%Y)
{
  cat <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: overlay-lb
Comment: /usr/bin/overlay-lb is the Node.js runtime with overlay-lb and npm packages bundled into
 it. Each bundled component's license text is in /usr/share/doc/overlay-lb/THIRD-PARTY-NOTICES.gz
 (generated at build time from what the executable contains).

Files: *
Copyright: $years overlay-lb authors
License: Apache-2.0
 On Debian systems, the complete text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0; the project's own copy is
 /usr/share/doc/overlay-lb/LICENSE.
COPYRIGHT
} > "$doc/copyright"
chmod 0644 "$doc/copyright"
install -m 0644 LICENSE "$doc/LICENSE"
printf 'overlay-lb (%s) unstable; urgency=medium\n\n  * Release %s, built from commit %s.\n\n -- overlay-lb maintainers <maintainers@overlay-lb.invalid>  %s\n' \
  "$version" "$version" "$commit" "$(date -u -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")" | gzip -9n > "$doc/changelog.gz"

# The runtime's shared-library dependencies (libc6, libgcc-s1, libstdc++6), as dh_shlibdeps would.
mkdir -p "$work/shlibs/debian"
printf 'Source: overlay-lb\n\nPackage: overlay-lb\nArchitecture: any\n' > "$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$pkg/usr/bin/overlay-lb" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || { echo "build-deb: dpkg-shlibdeps found no library dependencies of the executable" >&2; exit 1; }
installed_kb=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: overlay-lb
Version: $version
Architecture: $arch
Maintainer: overlay-lb maintainers <maintainers@overlay-lb.invalid>
Installed-Size: $installed_kb
Depends: $shlibs, haproxy, keepalived, iproute2, iptables
Section: net
Priority: optional
Homepage: https://github.com/overlay-lb/overlay-lb
Description: highly available layer-7 load balancer for cloud VPCs
 overlay-lb runs HAProxy as the data plane on one load-balancer node per
 availability zone and keepalived (VRRP) to elect the active node. A virtual
 IP outside the VPC's range follows the active node: its /32 route in every
 route table (or an Elastic IP) is moved through the cloud API on failover.
 One declarative spec drives every node; backends come from static lists or
 service discovery and change without a reload.
 .
 This package holds the single executable (the Node.js runtime inside), the
 hardened systemd unit of the node agent, an example spec, a man page and
 bash completion.
CONTROL
printf '/etc/overlay-lb/agent.env\n/etc/overlay-lb/spec.yaml.example\n' > "$pkg/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "packaging/deb/$script" "$pkg/DEBIAN/$script"; done
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles"

mkdir -p "$out"
deb=$out/overlay-lb_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$deb" >&2
echo "$deb"
