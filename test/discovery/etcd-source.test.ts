import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEtcdSource, prefixRangeEnd } from '../../src/discovery/etcd-source.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { runSource } from './collect.js';

void test('prefix range end follows etcd (last byte + 1, 0xff bytes dropped)', () => {
  assert.equal(Buffer.from(prefixRangeEnd('/svc/web/')).toString('utf8'), '/svc/web0');
  assert.deepEqual([...prefixRangeEnd('a\u00ff')], [0x61, 0xc3, 0xc0]);
});

void test('etcd source against a real etcd: snapshot, watch, bad values, server death and return', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-disc-etcd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const etcd = await startEtcd({ dir, signal: AbortSignal.timeout(30_000) });
  t.after(() => etcd.kill());
  await etcd.put('/svc/web/a', JSON.stringify({ address: '10.1.0.1', port: 80 }));
  await etcd.put('/svc/web/b', JSON.stringify({ address: '10.1.0.2', port: 80, weight: 20 }));
  await etcd.put('/svc/other/x', JSON.stringify({ address: '10.9.9.9', port: 80 }));

  const source = createEtcdSource({ name: 'kv', endpoints: [etcd.clientUrl], prefix: '/svc/web/', backoff: { baseMs: 50, maxMs: 300 } });
  const c = runSource(t, source);
  // THEN only the prefix is read.
  await c.waitFor('first snapshot', () => c.snapshotCount() === 1);
  assert.deepEqual(c.latestKeys(), ['10.1.0.1:80', '10.1.0.2:80/20']);

  // WHEN a key is added and another deleted THEN the watch brings both.
  await etcd.put('/svc/web/c', JSON.stringify({ address: '10.1.0.3', port: 81 }));
  await c.waitFor('add via watch', () => c.latestKeys().includes('10.1.0.3:81'));
  await etcd.del('/svc/web/a');
  await c.waitFor('delete via watch', () => c.latestKeys().join() === '10.1.0.2:80/20,10.1.0.3:81');
  const count = c.snapshotCount();

  // WHEN a value is not JSON THEN the snapshot stays and the source is stale, naming the key.
  await etcd.put('/svc/web/bad', 'not json');
  await c.waitFor('stale on bad value', () => source.health().state === 'stale');
  assert.match(source.health().lastError?.message ?? '', /key \/svc\/web\/bad/);
  await etcd.del('/svc/web/bad');
  await c.waitFor('ok after fix', () => source.health().state === 'ok');
  assert.equal(c.snapshotCount(), count);

  // WHEN etcd dies THEN the last snapshot stands and health goes stale.
  await etcd.kill();
  await c.waitFor('stale when etcd is down', () => source.health().state === 'stale' && source.health().lastError?.code === 'DISCOVERY_UNAVAILABLE');
  assert.equal(c.snapshotCount(), count);

  // WHEN it comes back (with a change made meanwhile) THEN the source reconnects and follows.
  await etcd.start();
  await etcd.put('/svc/web/d', JSON.stringify({ address: '10.1.0.4', port: 80 }));
  await c.waitFor('recovered', () => source.health().state === 'ok' && c.latestKeys().includes('10.1.0.4:80'), 20_000);
});
