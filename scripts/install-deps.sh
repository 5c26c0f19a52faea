#!/usr/bin/env bash
# Installs what overlay-lb needs on Debian 12, idempotently; quick when everything is there:
# the Debian packages, the pinned Node.js 24 runtime from the npm registry (scripts/runtime.sh;
# needs curl and ca-certificates, installed here first), the npm packages from the lockfile with
# the pinned npm, and the TypeScript build. Works whatever `node` is on PATH, or none.
# Usage: scripts/install-deps.sh [--with-bench]
set -euo pipefail
cd "$(dirname "$0")/.."

# debootstrap: test/install/fresh-root.test.ts builds a fresh Debian 12 root with it; dpkg-dev
# (dpkg-shlibdeps), binutils (strip) and lintian: scripts/build-deb.sh and its test; prometheus:
# its promtool checks the agent's /metrics and the alert rules in packaging/ (tests); socat:
# receives HAProxy's syslog datagrams in test/agent/access-log.test.ts (Node.js has no Unix
# datagram sockets). perl (perl-base, Essential) enlarges the agent's log pipes: always there.
pkgs=(ca-certificates curl haproxy keepalived iproute2 iptables openssl awscli wrk etcd-server dnsmasq-base debootstrap dpkg-dev binutils lintian prometheus socat)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts haproxy and keepalived as services on install; overlay-lb runs its own
# instances (the agent, the lab and the tests), so the distribution's units must not hold the ports.
# The prometheus server (port 9090) is installed for promtool only.
for svc in haproxy keepalived etcd dnsmasq prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled "$svc" >/dev/null 2>&1; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done

# The pinned runtime first on PATH for the rest of this script: npm, npx and tsc run on it.
source scripts/runtime.sh

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --no-update-notifier >/dev/null
fi
if [[ ! -f dist/src/cli/main.js ]] || [[ -n "$(find src test bench -newer dist/.built -name '*.ts' 2>/dev/null | head -1)" ]] || [[ ! -f dist/.built ]]; then
  npx tsc -p tsconfig.json
  touch dist/.built
fi
