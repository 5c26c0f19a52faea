import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyConfig, haproxyPaths } from '../../src/haproxy/config-writer.js';
import { OverlayError } from '../../src/util/errors.js';
import { startNamedBackends } from '../helpers/backends.js';
import { makeFixture, renderTestConfig, startFixtureHaproxy, get } from './fixture.js';

void test('config writer: check, last known good, atomic install, verified reload', async (t) => {
  const signal = AbortSignal.timeout(180_000);
  const backends = await startNamedBackends({ names: ['alpha', 'beta', 'other'], signal });
  t.after(() => backends.close());
  const f = await makeFixture(t, signal);
  const base = { s1Port: backends.portOf('alpha'), otherPort: backends.portOf('other') };
  const proc = await startFixtureHaproxy(t, f, renderTestConfig(f, base), signal);
  const paths = haproxyPaths(f.dir);
  const routesV1 = 'blue other\n';

  await t.test('a good change reloads exactly once and is live', async () => {
    const before = await proc.master.showProc({ signal });
    const config = renderTestConfig(f, { ...base, s1Port: backends.portOf('beta') });
    const result = await applyConfig({ dir: f.dir, config, maps: [{ name: 'routes.map', content: routesV1 }] }, { signal, reload: proc, reason: 'test: s1 moves to beta' });
    assert.equal(result.changed, true);
    assert.equal(result.reason, 'test: s1 moves to beta');
    assert.match(result.reloadId, /^[0-9a-z]+-[0-9a-f]{8}$/);
    const after = await proc.master.showProc({ signal });
    assert.equal(after.master.reloads, before.master.reloads + 1);
    assert.equal(await readFile(paths.config, 'utf8'), config);
    assert.equal(await readFile(join(paths.mapDir, 'routes.map'), 'utf8'), routesV1);
    assert.equal(await readFile(paths.lkgConfig, 'utf8'), renderTestConfig(f, base));
    assert.equal((await get(f.port, { signal })).body, 'beta');
    assert.equal((await get(f.port, { signal, headers: { 'x-route': 'blue' } })).body, 'other');
    // The same files again: nothing to do, no reload.
    const again = await applyConfig({ dir: f.dir, config, maps: [{ name: 'routes.map', content: routesV1 }] }, { signal, reload: proc, reason: 'test: unchanged' });
    assert.equal(again.changed, false);
    assert.equal((await proc.master.showProc({ signal })).master.reloads, after.master.reloads);
  });

  await t.test('a config rejected by haproxy -c changes nothing', async () => {
    const before = await proc.master.showProc({ signal });
    const cfgBytes = await readFile(paths.config);
    const lkgBytes = await readFile(paths.lkgConfig);
    const bad = `${renderTestConfig(f, base)}backend broken\n  no-such-keyword on\n`;
    await assert.rejects(
      applyConfig({ dir: f.dir, config: bad, maps: [{ name: 'routes.map', content: 'blue app\n' }] }, { signal, reload: proc, reason: 'test: bad keyword' }),
      (e: unknown) => e instanceof OverlayError && e.code === 'HAPROXY_CONFIG_INVALID' && /no-such-keyword/.test(e.message),
    );
    assert.deepEqual(await readFile(paths.config), cfgBytes);
    assert.deepEqual(await readFile(paths.lkgConfig), lkgBytes);
    assert.equal(await readFile(join(paths.mapDir, 'routes.map'), 'utf8'), routesV1);
    const after = await proc.master.showProc({ signal });
    assert.deepEqual(after.workers.map((w) => w.pid), before.workers.map((w) => w.pid));
    assert.equal(after.master.reloads, before.master.reloads);
  });

  await t.test('a config that passes the check but fails at reload restores last known good; old worker serves', async () => {
    // GIVEN a port held open by another process (this test), which haproxy -c does not notice
    const holder = createServer();
    holder.listen({ host: '127.0.0.1', port: 0 });
    await once(holder, 'listening');
    t.after(() => holder.close());
    const taken = (holder.address() as AddressInfo).port;
    const before = await proc.master.showProc({ signal });
    const cfgBytes = await readFile(paths.config);
    // WHEN the new config binds it
    await assert.rejects(
      applyConfig({ dir: f.dir, config: renderTestConfig(f, { ...base, extraBind: taken }), maps: [{ name: 'routes.map', content: 'blue app\n' }, { name: 'extra.map', content: 'a b\n' }] }, { signal, reload: proc, reason: 'test: port taken' }),
      (e: unknown) => e instanceof OverlayError && e.code === 'HAPROXY_RELOAD_FAILED' && /load-failed/.test(e.message),
    );
    // THEN the files are the previous ones, the old worker still serves them
    assert.deepEqual(await readFile(paths.config), cfgBytes);
    assert.equal(await readFile(join(paths.mapDir, 'routes.map'), 'utf8'), routesV1);
    await assert.rejects(readFile(join(paths.mapDir, 'extra.map')));
    const after = await proc.master.showProc({ signal });
    assert.deepEqual(after.workers.map((w) => w.pid), before.workers.map((w) => w.pid));
    assert.equal(after.master.failedReloads, before.master.failedReloads + 1);
    assert.equal((await get(f.port, { signal })).body, 'beta');
    assert.equal((await get(f.port, { signal, headers: { 'x-route': 'blue' } })).body, 'other');
  });

  await t.test('10 seamless reloads under 8 keep-alive clients: 0 failed requests (fails without idle-close-on-response)', async () => {
    // Eight keep-alive connections, each with a short think time so that connections sit idle
    // when the old worker soft-stops (the window in which a plain keep-alive client gets a reset).
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    t.after(() => agent.destroy());
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 50_000 && !stop; i++) {
        try {
          const r = await get(f.port, { signal, agent });
          if (r.status === 200) ok += 1;
          else failures.push(`HTTP ${r.status}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        await sleep(1);
      }
    };
    const client = Promise.all(Array.from({ length: 8 }, loop));
    try {
      for (let i = 0; i < 10; i++) {
        const config = `${renderTestConfig(f, { ...base, s1Port: backends.portOf('beta') })}# generation ${i}\n`;
        const r = await applyConfig({ dir: f.dir, config, maps: [{ name: 'routes.map', content: routesV1 }] }, { signal, reload: proc, reason: `test: generation ${i}` });
        assert.equal(r.changed, true);
      }
    } finally {
      stop = true;
      await client;
    }
    assert.deepEqual(failures, []);
    assert.ok(ok > 0);
  });
});
