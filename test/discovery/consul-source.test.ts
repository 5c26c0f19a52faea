import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConsulSource, nextConsulIndex } from '../../src/discovery/consul-source.js';
import { startConsul } from '../helpers/consul-server.js';
import { runSource } from './collect.js';

void test('consul index rules: backwards resets to 0, non-positive becomes 1 (table)', () => {
  const rows: [number, number, number][] = [[0, 5, 5], [5, 5, 5], [5, 9, 9], [9, 3, 0], [0, 0, 1], [7, -1, 0]];
  for (const [prev, got, want] of rows) assert.equal(nextConsulIndex(prev, got), want, `${prev} -> ${got}`);
});

void test('consul source against the emulated API: passing filter, tag, blocking updates, index reset, garbage, server death', async (t) => {
  const consul = await startConsul();
  t.after(() => consul.stop());
  consul.setService('web', [
    { node: 'n1', nodeAddress: '10.4.0.1', port: 80, tags: ['prod'] },
    { node: 'n2', nodeAddress: '10.4.0.2', address: '10.4.1.2', port: 81, tags: ['prod'], weight: 5 },
    { node: 'n3', nodeAddress: '10.4.0.3', port: 80, tags: ['prod'], passing: false },
    { node: 'n4', nodeAddress: '10.4.0.4', port: 80, tags: ['canary'] },
  ]);
  const source = createConsulSource({ name: 'consul', address: consul.address, service: 'web', tag: 'prod', waitMs: 2000, backoff: { baseMs: 50, maxMs: 300 } });
  const c = runSource(t, source);
  // THEN passing instances with the tag; the service address wins over the node's.
  await c.waitFor('first snapshot', () => c.snapshotCount() === 1);
  assert.deepEqual(c.latestKeys(), ['10.4.0.1:80/1', '10.4.1.2:81/5']);

  // WHEN an instance is added THEN the blocked query returns it.
  consul.setService('web', [
    { node: 'n1', nodeAddress: '10.4.0.1', port: 80, tags: ['prod'] },
    { node: 'n5', nodeAddress: '10.4.0.5', port: 80, tags: ['prod'] },
  ]);
  await c.waitFor('update', () => c.latestKeys().join() === '10.4.0.1:80/1,10.4.0.5:80/1');
  // AND while nothing changes the source blocks instead of polling (a bounded number of requests).
  const before = consul.requests();
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(consul.requests() - before <= 1, `requests while idle: ${consul.requests() - before}`);

  // WHEN the index goes backwards (a restored Consul) THEN the source re-reads and still follows.
  consul.setIndex(1);
  consul.setService('web', [{ node: 'n6', nodeAddress: '10.4.0.6', port: 80, tags: ['prod'] }]);
  await c.waitFor('after index reset', () => c.latestKeys().join() === '10.4.0.6:80/1');
  const count = c.snapshotCount();

  // WHEN the API returns something that is not a list THEN nothing changes and health says so.
  consul.setGarbage('{"oops": true}');
  await c.waitFor('stale on garbage', () => source.health().state === 'stale' && source.health().lastError?.code === 'DISCOVERY_INVALID_DATA');
  consul.setGarbage(undefined);
  await c.waitFor('ok after garbage', () => source.health().state === 'ok');
  assert.equal(c.snapshotCount(), count);

  // WHEN the server dies THEN the snapshot stands; it recovers when the server returns.
  await consul.stop();
  await c.waitFor('stale when down', () => source.health().state === 'stale' && source.health().lastError?.code === 'DISCOVERY_UNAVAILABLE');
  assert.equal(c.snapshotCount(), count);
  consul.setService('web', [{ node: 'n7', nodeAddress: '10.4.0.7', port: 80, tags: ['prod'] }]);
  await consul.start();
  await c.waitFor('recovered', () => source.health().state === 'ok' && c.latestKeys().join() === '10.4.0.7:80/1');
});
