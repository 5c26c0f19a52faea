#!/usr/bin/env bash
# The demo: validate the example spec, render a node's configs (checked by the real haproxy and
# keepalived), and explain where a few requests go.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
olb() { node dist/src/cli/main.js "$@"; }
spec=examples/demo.yaml
out=${OVERLAY_LB_DEMO_OUT:-/tmp/overlay-lb-demo}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate $spec"
olb validate "$spec"

step "render node lb-a into $out/lb-a (validated with haproxy -c and keepalived --config-test)"
olb render "$spec" --node lb-a --out "$out/lb-a"
step "the routing part of haproxy.cfg"
sed -n '/^frontend web/,/^$/p' "$out/lb-a/haproxy.cfg"
step "keepalived.conf for lb-a"
sed -n '/^vrrp_instance/,/^}/p' "$out/lb-a/keepalived.conf"

step "explain: a canary header"
olb explain "$spec" --header 'X-Canary: 1' --path /
step "explain: the v2 API"
olb explain "$spec" --method GET --path /api/v2/orders?id=7
step "explain: checkout goes to the active side of the blue/green switch"
olb explain "$spec" --path /checkout/cart
step "explain: a beta user with a session cookie is pinned to one side of the 95/5 split"
olb explain "$spec" --header 'X-Beta: yes' --header 'Cookie: session=u-1234'
step "explain: nothing matches: the default backend"
olb explain "$spec" --path /about
