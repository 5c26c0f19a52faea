import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { memoryIo } from '../../src/cli/io.js';
import { haproxyPaths } from '../../src/haproxy/config-writer.js';
import { get } from '../haproxy/fixture.js';
import { NODE, reloads, specYaml, startNode } from './fixture.js';

void test('overlay-lb apply: initial reload, runtime-only flip, dry run, invalid spec changes nothing', async (t) => {
  const signal = AbortSignal.timeout(60_000);
  const node = await startNode(t, { signal, source: (dir) => `{ name: svc-src, type: file, path: ${join(dir, 'svc.json')} }` });
  const specFile = join(node.dir, 'spec.yaml');
  const apply = async (...extra: string[]): Promise<{ code: number; out: string; err: string }> => {
    const io = memoryIo();
    const code = await runCli(['apply', specFile, '--node', NODE, '--run-dir', node.dir, ...extra], io, signal);
    return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  };

  // No applied state yet: one reload with reason `initial`.
  await writeFile(specFile, specYaml(node.params));
  const first = await apply();
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /plan: one reload/);
  assert.match(first.out, /reason initial: node lb-a/);
  assert.match(first.out, /config sha256 [0-9a-f]{64}/);
  const base = await reloads(node, signal);

  // A dry run of a flip prints the runtime plan and changes nothing.
  await writeFile(specFile, specYaml({ ...node.params, active: 'green' }));
  const dry = await apply('--dry-run');
  assert.equal(dry.code, 0, dry.err);
  assert.match(dry.out, /plan: 1 runtime operation, no reload/);
  assert.match(dry.out, /set map switches\.map checkout green/);
  assert.equal((await get(node.params.port, { signal, path: '/checkout' })).body, 'blue');

  // The flip itself: runtime only.
  const flip = await apply();
  assert.equal(flip.code, 0, flip.err);
  assert.match(flip.out, /result: applied 1 runtime operation, no reload/);
  assert.equal((await get(node.params.port, { signal, path: '/checkout' })).body, 'green');
  assert.equal(await reloads(node, signal), base);
  const hash = /config sha256 ([0-9a-f]{64})/.exec(flip.out)?.[1];

  // The same spec again: nothing to change, same hash.
  const same = await apply();
  assert.match(same.out, /plan: no change/);
  assert.equal(/config sha256 ([0-9a-f]{64})/.exec(same.out)?.[1], hash);

  // An invalid spec: exit 2, diagnostics, nothing on disk or in haproxy changes.
  const cfg = await readFile(haproxyPaths(node.dir).config, 'utf8');
  await writeFile(specFile, specYaml({ ...node.params, active: 'green' }).replace('active: green', 'active: purple'));
  const bad = await apply();
  assert.equal(bad.code, 2);
  assert.match(bad.err, /spec\.yaml:\d+:\d+: .*purple/);
  assert.equal(await readFile(haproxyPaths(node.dir).config, 'utf8'), cfg);
  assert.equal(await reloads(node, signal), base);
  assert.equal((await get(node.params.port, { signal, path: '/checkout' })).body, 'green');
});
