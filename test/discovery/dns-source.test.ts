import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDnsSource } from '../../src/discovery/dns-source.js';
import { startDnsmasq } from '../helpers/dns-server.js';
import { runSource } from './collect.js';

void test('dns source (A) against dnsmasq: snapshot, TTL re-resolve, bad data, server death and return', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-disc-dns-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dns = await startDnsmasq({ dir, signal: AbortSignal.timeout(10_000), hosts: ['10.2.0.1 web.olb.test', '10.2.0.2 web.olb.test'] });
  t.after(() => dns.kill());

  const source = createDnsSource({ name: 'dns', query: 'web.olb.test', recordType: 'A', port: 8080, servers: [dns.server], ttlFloorMs: 100, timeoutMs: 300, backoff: { baseMs: 50, maxMs: 300 } });
  const c = runSource(t, source);
  await c.waitFor('first snapshot', () => c.snapshotCount() === 1);
  assert.deepEqual(c.latestKeys(), ['10.2.0.1:8080', '10.2.0.2:8080']);

  // WHEN the zone changes THEN the next re-resolve (after the 1 s TTL) follows it.
  await dns.setHosts(['10.2.0.2 web.olb.test', '10.2.0.3 web.olb.test']);
  await c.waitFor('follows the change', () => c.latestKeys().join() === '10.2.0.2:8080,10.2.0.3:8080');
  const count = c.snapshotCount();

  // WHEN the name vanishes (dnsmasq then refuses: no upstream) THEN that is a failure, not an empty list.
  await dns.setHosts(['10.2.0.9 other.olb.test']);
  await c.waitFor('stale on missing name', () => source.health().state === 'stale');
  assert.equal(c.snapshotCount(), count);
  await dns.setHosts(['10.2.0.2 web.olb.test', '10.2.0.3 web.olb.test']);
  await c.waitFor('ok again', () => source.health().state === 'ok');

  // WHEN the server dies THEN the last snapshot stands; it recovers when the server returns.
  await dns.kill();
  await c.waitFor('stale when down', () => source.health().state === 'stale');
  assert.equal(c.snapshotCount(), count);
  await dns.setHosts(['10.2.0.4 web.olb.test']);
  await dns.start();
  await c.waitFor('recovered', () => source.health().state === 'ok' && c.latestKeys().join() === '10.2.0.4:8080', 15_000);
});

void test('dns source (SRV) against dnsmasq: ports and weights from the records, lowest priority only', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-disc-dns-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dns = await startDnsmasq({
    dir,
    signal: AbortSignal.timeout(10_000),
    hosts: ['10.3.0.1 a.olb.test', '10.3.0.2 b.olb.test', '10.3.0.3 c.olb.test'],
    srv: ['_http._tcp.olb.test,a.olb.test,8081,0,10', '_http._tcp.olb.test,b.olb.test,8082,0,1000', '_http._tcp.olb.test,c.olb.test,8083,5,10'],
  });
  t.after(() => dns.kill());
  const source = createDnsSource({ name: 'srv', query: '_http._tcp.olb.test', recordType: 'SRV', servers: [dns.server], timeoutMs: 300 });
  const c = runSource(t, source);
  await c.waitFor('snapshot', () => c.snapshotCount() === 1);
  assert.deepEqual(c.latestKeys(), ['10.3.0.1:8081/10', '10.3.0.2:8082/256']);
});

void test('an A source without a port is refused with the fix', () => {
  assert.throws(() => createDnsSource({ name: 'd', query: 'x.test', recordType: 'A' }), {
    code: 'SPEC_REQUIRED',
    message: 'dns source d: recordType A needs a port (the records carry only addresses); add port: <1-65535>',
  });
});
