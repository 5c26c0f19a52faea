#!/usr/bin/env bash
# Installs overlay-lb on an LB node (Debian 12, as root), idempotently:
#   scripts/install-node.sh --spec SPEC --node NAME
# Copies this checkout to /opt/overlay-lb, installs the Debian packages, the pinned Node.js 24
# runtime (scripts/runtime.sh, linked as /opt/overlay-lb/runtime/current, which the unit runs; not
# on the system PATH) and the npm production dependencies, builds, installs the spec and the
# systemd unit, and starts the agent.
set -euo pipefail
cd "$(dirname "$0")/.."
spec='' node=''
while (($#)); do
  case $1 in
    --spec) spec=$2; shift 2 ;;
    --node) node=$2; shift 2 ;;
    *) echo "install-node: unknown argument $1; usage: scripts/install-node.sh --spec SPEC --node NAME" >&2; exit 64 ;;
  esac
done
[[ -n $spec && -n $node ]] || { echo "install-node: usage: scripts/install-node.sh --spec SPEC --node NAME" >&2; exit 64; }
[[ $(id -u) -eq 0 ]] || { echo "install-node: run as root" >&2; exit 1; }
bash scripts/install-deps.sh   # Debian packages, the pinned runtime, npm packages and the TypeScript build
OVERLAY_LB_RUNTIME_ROOT=/opt/overlay-lb/runtime
source scripts/runtime.sh
# Refuse a spec that does not validate, or a node it does not name, before touching the system.
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
"$OVERLAY_LB_NODE" dist/src/cli/main.js render "$spec" --node "$node" --out "$check" >/dev/null
install -d -m 0755 /opt/overlay-lb /etc/overlay-lb
cp -a package.json package-lock.json dist examples docs packaging /opt/overlay-lb/
(cd /opt/overlay-lb && npm ci --omit=dev --no-audit --no-fund >/dev/null)
# The unit runs /opt/overlay-lb/runtime/current/bin/node: the pinned runtime this script installed.
ln -sfn "$OVERLAY_LB_RUNTIME" /opt/overlay-lb/runtime/current
install -m 0640 "$spec" /etc/overlay-lb/spec.yaml
printf 'OVERLAY_LB_NODE=%s\n' "$node" > /etc/overlay-lb/agent.env
install -m 0644 packaging/systemd/overlay-lb-agent.service /etc/systemd/system/overlay-lb-agent.service
systemctl daemon-reload
systemctl enable --now overlay-lb-agent.service
echo "overlay-lb agent installed for node $node; status: curl -s http://127.0.0.1:8406/status"
