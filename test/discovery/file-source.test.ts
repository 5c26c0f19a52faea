import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileSource } from '../../src/discovery/file-source.js';
import { writeFileAtomic } from '../../src/util/fs-atomic.js';
import { recordingLogger, runSource } from './collect.js';

void test('file source: reads, follows atomic renames and in-place writes, rejects bad data, survives deletion', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-disc-file-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'servers.yaml');
  await writeFile(path, '- {address: 10.0.0.1, port: 80}\n- {address: 10.0.0.2, port: 80, weight: 10}\n');
  const logs: { level: string; msg: string; fields: Readonly<Record<string, unknown>> }[] = [];
  const source = createFileSource({ name: 'files', path, pollMs: 300, logger: recordingLogger(logs), backoff: { baseMs: 50, maxMs: 200 } });
  const c = runSource(t, source);

  // GIVEN a list file THEN the first snapshot is its content.
  await c.waitFor('first snapshot', () => c.snapshotCount() === 1);
  assert.deepEqual(c.latestKeys(), ['10.0.0.1:80', '10.0.0.2:80/10']);
  assert.equal(source.health().state, 'ok');

  // WHEN an editor replaces the file by a rename THEN the change is followed.
  await writeFileAtomic(path, '- {address: 10.0.0.3, port: 8080}\n');
  await c.waitFor('snapshot after rename', () => c.latestKeys().join() === '10.0.0.3:8080');

  // WHEN the file is rewritten in place THEN the change is followed too.
  await writeFile(path, '- {address: 10.0.0.4, port: 8080}\n- {address: 10.0.0.5, port: 8080}\n');
  await c.waitFor('snapshot after in-place write', () => c.latestKeys().join() === '10.0.0.4:8080,10.0.0.5:8080');
  const count = c.snapshotCount();

  // WHEN the file holds a port out of range THEN nothing changes, the source is stale and says why.
  await writeFileAtomic(path, '- {address: 10.0.0.4, port: 99999}\n');
  await c.waitFor('stale after bad data', () => source.health().state === 'stale');
  assert.equal(c.snapshotCount(), count);
  assert.match(source.health().lastError?.message ?? '', /entry 0 field port \(99999\) must be an integer from 1 to 65535/);
  const warn = logs.find((l) => l.msg === 'discovery snapshot rejected');
  assert.equal(warn?.fields['code'], 'DISCOVERY_INVALID_DATA');
  assert.equal(warn?.fields['keptServers'], 2);

  // WHEN it is not even YAML THEN the same.
  await writeFileAtomic(path, '- {address: [\n');
  await c.waitFor('parse error reported', () => /not valid YAML/.test(source.health().lastError?.message ?? ''));
  assert.equal(c.snapshotCount(), count);

  // WHEN the file disappears THEN the last snapshot stands and health is stale; it recovers when it returns.
  await writeFileAtomic(path, '- {address: 10.0.0.4, port: 8080}\n- {address: 10.0.0.5, port: 8080}\n');
  await c.waitFor('ok again', () => source.health().state === 'ok');
  await unlink(path);
  await c.waitFor('stale after deletion', () => source.health().state === 'stale' && source.health().lastError?.code === 'DISCOVERY_UNAVAILABLE');
  assert.equal(c.snapshotCount(), count);
  await writeFileAtomic(path, '[{"address": "10.0.0.6", "port": 80}]\n');
  await c.waitFor('recovered', () => source.health().state === 'ok' && c.latestKeys().join() === '10.0.0.6:80');
});

void test('file source: a missing file at start is failed, not an empty backend', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-disc-file-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const source = createFileSource({ name: 'files', path: join(dir, 'nope.json'), pollMs: 200, backoff: { baseMs: 20, maxMs: 100 } });
  const c = runSource(t, source);
  await c.waitFor('failed', () => source.health().state === 'failed' && source.health().failures >= 2);
  assert.equal(c.snapshotCount(), 0);
  assert.match(source.health().lastError?.message ?? '', /^file source files: cannot stat .*nope\.json \(create the file or fix the path\): ENOENT/);
});
