#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, lints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx eslint .
# Tests run one file at a time: many of them own network namespaces and real haproxy/keepalived.
node --test --test-concurrency=1 --test-timeout=600000 dist/test/
