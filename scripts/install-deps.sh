#!/usr/bin/env bash
# Installs what overlay-lb needs on Debian 12, idempotently; quick when everything is there.
# Usage: scripts/install-deps.sh [--with-bench]
set -euo pipefail
cd "$(dirname "$0")/.."

# prometheus: its promtool checks the agent's /metrics and the alert rules in packaging/ (tests).
pkgs=(haproxy keepalived iproute2 iptables curl openssl awscli wrk etcd-server dnsmasq-base prometheus)
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

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then echo "install-deps: Node.js >= 20 is required (found ${node_major})" >&2; exit 1; fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund >/dev/null
fi
if [[ ! -f dist/src/cli/main.js ]] || [[ -n "$(find src test bench -newer dist/.built -name '*.ts' 2>/dev/null | head -1)" ]] || [[ ! -f dist/.built ]]; then
  npx tsc -p tsconfig.json
  touch dist/.built
fi
