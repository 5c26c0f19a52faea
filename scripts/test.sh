#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, lints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/runtime.sh   # the pinned Node.js 24 first on PATH (installed by install-deps)
npx eslint .
# The Debian package, built once for every test that installs or runs it (test/helpers/package.ts).
if [[ -z ${OVERLAY_LB_DEB:-} ]]; then OVERLAY_LB_DEB=$(bash scripts/build-deb.sh --out dist/deb | tail -n 1); export OVERLAY_LB_DEB; fi
# The AWS CDK construct (constructs/: its own package, lockfile and node_modules, so aws-cdk-lib
# never reaches the main package or the .deb): installed from its lockfile when that changed,
# built, linted and tested (docs/cdk.md).
(
  cd constructs
  if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund --no-update-notifier >/dev/null
  fi
  npm run --silent build
  npm run --silent lint
  npm test --silent
)
# Tests run one file at a time: many of them own network namespaces and real haproxy/keepalived.
# Every *.test.js under dist/test, matched by the runner's own glob (quoted: Node >= 22 expands it;
# a directory argument is no longer searched for tests).
node --test --test-concurrency=1 --test-timeout=600000 'dist/test/**/*.test.js'
