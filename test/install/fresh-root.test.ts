import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/util/exec.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** A cold run (debootstrap, every Debian package downloaded) takes ~8 min here; with the cache ~4.5 min. */
const DEADLINE_MS = 25 * 60_000;

void test('fresh Debian 12 root without Node.js: the README\'s install step (scripts/install-deps.sh) fetches the pinned Node.js 24 from the npm registry and builds the project', { timeout: DEADLINE_MS + 60_000 }, async () => {
  // GIVEN a bookworm root from debootstrap with no node, nodejs or npm (the script checks that)
  // WHEN install-deps.sh runs in it, THEN the pinned runtime runs the built CLI and the root's PATH has no node
  const r = await runCommand(['bash', 'scripts/check-fresh-root.sh'], { cwd: ROOT, timeoutMs: DEADLINE_MS });
  const tail = r.stderr.split('\n').slice(-40).join('\n');
  assert.equal(r.code, 0, `scripts/check-fresh-root.sh exited ${r.code ?? r.signal}:\n${tail}`);
  assert.match(r.stderr, /ok: Node\.js v24\.\d+\.\d+ from the npm registry runs the built CLI/);
  assert.match(r.stderr, /ok: the system PATH still has no node/);
  assert.match(r.stderr, /PASS in \d+ s/);
});
