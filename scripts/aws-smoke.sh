#!/usr/bin/env bash
# The real-account smoke run (docs/provisioning.md, "A real-account smoke run"): overlay-lb up,
# traffic from a client instance, the master's instance terminated and the failover timed, up
# again, apply --cluster, down; a report at the end (--json: one object). Skipped (exit 0) when no
# AWS credentials are given. Runs the build in dist/ (npx tsc -p tsconfig.json) with the pinned
# Node.js runtime.
#
#   scripts/aws-smoke.sh SPEC --package DEB --change SPEC2 [--json] [--keep] [--endpoint-url URL]
#                        [--client-subnet SUBNET] [--wait-minutes N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/runtime.sh
source "$root/scripts/runtime.sh"
entry=$root/dist/src/cli/aws-smoke.js
if [[ ! -f $entry ]]; then
  echo "aws-smoke.sh: $entry is missing: build first (npx tsc -p tsconfig.json)" >&2
  exit 1
fi
exec "$OVERLAY_LB_NODE" "$entry" "$@"
