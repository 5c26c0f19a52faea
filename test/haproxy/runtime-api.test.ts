import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuntimeApi, HaproxyRuntimeError } from '../../src/haproxy/runtime-api.js';
import { OverlayError } from '../../src/util/errors.js';
import { startNamedBackends } from '../helpers/backends.js';
import { makeFixture, renderTestConfig, startFixtureHaproxy, tally, get } from './fixture.js';
import { join } from 'node:path';

void test('Runtime API against a real haproxy 2.6', async (t) => {
  const signal = AbortSignal.timeout(120_000);
  const backends = await startNamedBackends({ names: ['alpha', 'beta', 'gamma', 'other'], signal });
  t.after(() => backends.close());
  const f = await makeFixture(t, signal);
  const proc = await startFixtureHaproxy(t, f, renderTestConfig(f, { s1Port: backends.portOf('alpha'), otherPort: backends.portOf('other') }), signal);
  const api = new RuntimeApi({ socketPath: f.runtimeSocket });
  const routes = join(f.mapDir, 'routes.map');

  await t.test('show info and show stat answer from the worker', async () => {
    const info = await api.showInfo({ signal });
    assert.equal(info['Name'], 'HAProxy');
    assert.match(info['Version'] ?? '', /^2\.6\./);
    const stat = await api.showStat({ signal });
    assert.ok(stat.some((r) => r['pxname'] === 'app' && r['svname'] === 's1'));
    assert.equal(proc.state.state, 'running');
  });

  await t.test('a disabled spare slot gets an address, port and state ready, and serves', async () => {
    const before = await api.showServersState('app', { signal });
    assert.equal(before.find((r) => r.server === 'spare1')?.admin, 'maint');
    // GIVEN only s1 (alpha) serves; WHEN spare1 points at beta and s1 goes to maintenance
    await api.setServer('app', 'spare1', { addr: '127.0.0.1', port: backends.portOf('beta'), state: 'ready' }, { signal });
    await api.setServer('app', 's1', { state: 'maint' }, { signal });
    const after = await api.showServersState('app', { signal });
    const spare = after.find((r) => r.server === 'spare1');
    assert.equal(spare?.port, backends.portOf('beta'));
    assert.equal(spare?.admin, 'ready');
    assert.equal(after.find((r) => r.server === 's1')?.admin, 'maint');
    // THEN every request reaches beta
    assert.deepEqual(await tally(f.port, 6, { signal }), { beta: 6 });
    // drain is reported as drain
    await api.setServer('app', 's1', { state: 'drain' }, { signal });
    assert.equal((await api.showServersState('app', { signal })).find((r) => r.server === 's1')?.admin, 'drain');
  });

  await t.test('port alone keeps the address; weight 0 takes a server out of rotation', async () => {
    await api.setServer('app', 's1', { state: 'ready' }, { signal });
    assert.deepEqual(Object.keys(await tally(f.port, 6, { signal })).sort(), ['alpha', 'beta']);
    await api.setServer('app', 's1', { weight: 0 }, { signal });
    assert.equal((await api.showServersState('app', { signal })).find((r) => r.server === 's1')?.weight, 0);
    assert.deepEqual(await tally(f.port, 6, { signal }), { beta: 6 });
    await api.setServer('app', 'spare1', { port: backends.portOf('gamma') }, { signal });
    const spare = (await api.showServersState('app', { signal })).find((r) => r.server === 'spare1');
    assert.equal(spare?.addr, '127.0.0.1');
    assert.deepEqual(await tally(f.port, 6, { signal }), { gamma: 6 });
  });

  await t.test('add server and del server (no experimental mode needed in 2.6)', async () => {
    await api.setServer('app', 'spare1', { state: 'maint' }, { signal });
    await api.addServer('app', 'dyn1', { addr: '127.0.0.1', port: backends.portOf('alpha'), weight: 10 }, { signal });
    assert.deepEqual(await tally(f.port, 4, { signal }), { alpha: 4 });
    await api.delServer('app', 'dyn1', { signal });
    assert.equal((await api.showServersState('app', { signal })).find((r) => r.server === 'dyn1'), undefined);
    assert.deepEqual(await tally(f.port, 2, { signal }), { 'HTTP 503': 2 });
    await api.setServer('app', 's1', { weight: 1 }, { signal });
  });

  await t.test('unknown backend or server is a typed refusal carrying haproxy text', async () => {
    await assert.rejects(api.setServer('nope', 's1', { state: 'ready' }, { signal }), (e: unknown) => e instanceof HaproxyRuntimeError && e.code === 'HAPROXY_RUNTIME' && /No such backend/.test(e.answer));
    await assert.rejects(api.setServer('app', 'nope', { weight: 3 }, { signal }), (e: unknown) => e instanceof HaproxyRuntimeError && /No such server/.test(e.answer));
    await assert.rejects(api.setServer('app', 'nope', { port: 8080 }, { signal }), (e: unknown) => e instanceof HaproxyRuntimeError && /No such server/.test(e.answer));
    await assert.rejects(api.showServersState('nope', { signal }), HaproxyRuntimeError);
    await assert.rejects(api.showMap('/no/such.map', { signal }), (e: unknown) => e instanceof HaproxyRuntimeError && /Unknown map/.test(e.answer));
    await assert.rejects(api.delMap(routes, 'absent', { signal }), (e: unknown) => e instanceof HaproxyRuntimeError && /not found/.test(e.answer));
  });

  await t.test('values the CLI would split on are rejected before anything is sent', async () => {
    for (const bad of ['s1 state maint', 's1;disable server app/s1', 'a\nb', '', 'x\\y']) {
      await assert.rejects(api.setServer('app', bad, { state: 'maint' }, { signal }), (e: unknown) => e instanceof OverlayError && e.code === 'HAPROXY_RUNTIME_ARGUMENT');
    }
    await assert.rejects(api.setMap(routes, 'k', 'other; shutdown sessions', { signal }), (e: unknown) => e instanceof OverlayError && e.code === 'HAPROXY_RUNTIME_ARGUMENT');
    await assert.rejects(api.setServer('app', 's1', { addr: 'example.com' }, { signal }), (e: unknown) => e instanceof OverlayError && e.code === 'HAPROXY_RUNTIME_ARGUMENT');
    await assert.rejects(api.setServer('app', 's1', { weight: 257 }, { signal }), (e: unknown) => e instanceof OverlayError && e.code === 'HAPROXY_RUNTIME_ARGUMENT');
    // s1 untouched
    assert.equal((await api.showServersState('app', { signal })).find((r) => r.server === 's1')?.admin, 'ready');
  });

  await t.test('map add, set and del change routing at once', async () => {
    const route = { 'x-route': 'blue' };
    assert.equal((await get(f.port, { signal, headers: route })).body, 'alpha');
    await api.addMap(routes, 'blue', 'other', { signal });
    assert.equal((await get(f.port, { signal, headers: route })).body, 'other');
    await api.setMap(routes, 'blue', 'app', { signal });
    assert.deepEqual(await api.showMap(routes, { signal }), [{ key: 'blue', value: 'app' }]);
    assert.equal((await get(f.port, { signal, headers: route })).body, 'alpha');
    await api.setMap(routes, 'blue', 'other', { signal });
    await api.delMap(routes, 'blue', { signal });
    assert.deepEqual(await api.showMap(routes, { signal }), []);
    assert.equal((await get(f.port, { signal, headers: route })).body, 'alpha');
    await assert.rejects(api.setMap(routes, 'blue', 'other', { signal }), HaproxyRuntimeError);
  });

  await t.test('bulk replace of 10,000 entries in batches under 16 kB, committed atomically', async () => {
    await api.addMap(routes, 'stale', 'other', { signal });
    const entries = Array.from({ length: 10_000 }, (_, i) => ({ key: `host-${i}.example.com`, value: i % 2 === 0 ? 'other' : 'app' }));
    const { batches } = await api.replaceMap(routes, entries, { signal });
    assert.ok(batches > 1, `expected several batches, got ${batches}`);
    const shown = await api.showMap(routes, { signal });
    assert.equal(shown.length, 10_000);
    assert.equal(shown.find((e) => e.key === 'stale'), undefined);
    assert.equal((await get(f.port, { signal, headers: { 'x-route': 'host-9998.example.com' } })).body, 'other');
    assert.equal((await get(f.port, { signal, headers: { 'x-route': 'host-9999.example.com' } })).body, 'alpha');
    assert.equal((await get(f.port, { signal, headers: { 'x-route': 'stale' } })).body, 'alpha');
    // A batch over the CLI buffer is silently dropped by haproxy: detected, not committed.
    await assert.rejects(api.replaceMap(routes, entries, { signal, maxBatchBytes: 64 * 1024 }), (e: unknown) => e instanceof OverlayError && e.code === 'HAPROXY_RUNTIME');
    assert.equal((await api.showMap(routes, { signal })).length, 10_000);
  });
});
