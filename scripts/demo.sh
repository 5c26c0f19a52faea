#!/usr/bin/env bash
# The demo: compile the example spec (checked by the real haproxy and keepalived), ask `explain`
# where a request goes, then run the whole design in the lab: traffic through the VIP with header
# routing, the active node killed under a steady request stream, the measured outage, and the VIP
# routes on the other node. The LB nodes run the packaged executable (scripts/build-deb.sh), not
# dist/. Everything the lab starts is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/runtime.sh   # the pinned Node.js 24 (installed by install-deps)
olb() { "$OVERLAY_LB_NODE" dist/src/cli/main.js "$@"; }
spec=examples/demo.yaml
out=${OVERLAY_LB_DEMO_OUT:-/tmp/overlay-lb-demo}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate $spec, render node lb-a into $out (validated with haproxy -c and keepalived --config-test)"
olb validate "$spec"
olb render "$spec" --node lb-a --out "$out/lb-a"
step "the routing part of the generated haproxy.cfg"
sed -n '/^frontend web/,/^$/p' "$out/lb-a/haproxy.cfg"

step "explain: a beta user with a session cookie is pinned to one side of the 95/5 split"
olb explain "$spec" --header 'X-Beta: yes' --header 'Cookie: session=u-1234'

step "build the Debian package: the lab's LB nodes run its single executable, as a node would"
deb=$(bash scripts/build-deb.sh --out "$out/deb" | tail -n 1)
rm -rf "$out/pkg"
dpkg-deb -x "$deb" "$out/pkg"
"$out/pkg/usr/bin/overlay-lb" --version

# The agents get the packaged unit's capability bounding set and no_new_privs (setpriv).
olb lab demo --spec "$spec" --agent-exec "$out/pkg/usr/bin/overlay-lb" --agent-restricted
