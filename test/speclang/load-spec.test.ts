import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadSpecFile } from '../../src/ops/load-spec.js';
import { SpecInvalidError, UserError } from '../../src/util/errors.js';

void test('loadSpecFile loads the example', async () => {
  const file = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
  const r = await loadSpecFile(file, {});
  assert.equal(r.spec.cluster.name, 'demo');
  assert.equal(r.file, file);
  assert.match(r.hash, /^[0-9a-f]{64}$/);
});

void test('loadSpecFile throws FILE_READ for a missing file and SpecInvalidError with every diagnostic', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-spec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assert.rejects(loadSpecFile(join(dir, 'nope.yaml'), {}), (e: unknown) => e instanceof UserError && e.code === 'FILE_READ' && e.message.includes('no such file'));
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'cluster: {}\nfrontends: []\n');
  await assert.rejects(loadSpecFile(bad, { signal: AbortSignal.timeout(5000) }), (e: unknown) => {
    assert.ok(e instanceof SpecInvalidError);
    assert.deepEqual(e.diagnostics.map((d) => `${d.line}:${d.col}:${d.code}`), ['1:1:SPEC_REQUIRED', '1:10:SPEC_REQUIRED', '1:10:SPEC_REQUIRED', '1:10:SPEC_REQUIRED', '2:12:SPEC_RANGE']);
    return true;
  });
});
