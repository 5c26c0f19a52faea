import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { attachHaproxy, startHaproxy } from '../../src/haproxy/process.js';
import { OverlayError } from '../../src/util/errors.js';
import { startNamedBackends } from '../helpers/backends.js';
import { makeFixture, renderTestConfig, startFixtureHaproxy, get } from './fixture.js';
import { writeFile } from 'node:fs/promises';

void test('master CLI: show proc, worker commands, verified reload, old workers finish in-flight requests', async (t) => {
  const signal = AbortSignal.timeout(120_000);
  const backends = await startNamedBackends({ names: ['other'], signal });
  t.after(() => backends.close());
  // A backend that holds each request until the test releases it.
  const held: ServerResponse[] = [];
  const slow = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    held.push(res);
  });
  slow.listen({ host: '127.0.0.1', port: 0, signal });
  await once(slow, 'listening');
  t.after(() => {
    slow.closeAllConnections();
    slow.close();
  });
  const f = await makeFixture(t, signal);
  const proc = await startFixtureHaproxy(t, f, renderTestConfig(f, { s1Port: (slow.address() as AddressInfo).port, otherPort: backends.portOf('other') }), signal);

  const before = await proc.master.showProc({ signal });
  assert.equal(before.master.pid, proc.masterPid);
  assert.equal(before.workers.length, 1);
  const firstWorker = before.workers[0]?.pid ?? 0;
  assert.match(await proc.master.workerCommand('show info', { signal }), new RegExp(`^Pid: ${firstWorker}$`, 'm'));

  // GIVEN a request in flight on the first worker
  const inFlight = get(f.port, { signal });
  for (let i = 0; i < 400 && held.length === 0; i++) await sleep(10);
  assert.equal(held.length, 1, 'the slow backend never received the request');

  // WHEN haproxy reloads
  const result = await proc.reload({ signal });
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.masterReloads, before.master.reloads + 1);
  assert.equal(result.newWorkerPids.length, 1);
  assert.notEqual(result.newWorkerPids[0], firstWorker);
  const after = await proc.master.showProc({ signal });
  assert.equal(after.master.pid, proc.masterPid, 'the master re-executes in place');
  assert.deepEqual(after.oldWorkers.map((w) => w.pid), [firstWorker]);
  assert.equal(proc.state.state, 'running');

  // THEN the old worker still completes the request it holds
  held[0]?.end('slow-done');
  const reply = await inFlight;
  assert.deepEqual(reply, { status: 200, body: 'slow-done' });
  // and new requests are served by the new worker
  const next = get(f.port, { signal });
  for (let i = 0; i < 400 && held.length < 2; i++) await sleep(10);
  held[1]?.end('after-reload');
  assert.deepEqual(await next, { status: 200, body: 'after-reload' });

  await t.test('attach by pid file + master socket, and refuse a stale pid file', async () => {
    const attached = await attachHaproxy({ pidFile: f.pidFile, masterSocket: f.masterSocket, signal });
    assert.equal(attached.masterPid, proc.masterPid);
    assert.equal(attached.state.state, 'running');
    await writeFile(`${f.pidFile}.stale`, '1234567\n');
    await assert.rejects(attachHaproxy({ pidFile: `${f.pidFile}.stale`, masterSocket: f.masterSocket, signal }), (e: unknown) => e instanceof OverlayError && e.code === 'HAPROXY_START_FAILED');
  });

  await t.test('soft stop ends master and workers', async () => {
    await proc.stop({ signal, graceMs: 10_000 });
    assert.equal(proc.isAlive(), false);
    assert.equal(proc.state.state, 'stopped');
    await assert.rejects(get(f.port, { signal }));
  });
});

void test('start reports haproxy output when the config does not load', async (t) => {
  const signal = AbortSignal.timeout(60_000);
  const f = await makeFixture(t, signal);
  await writeFile(f.configPath, 'global\n  no-such-keyword 1\n');
  await assert.rejects(
    startHaproxy({ configPath: f.configPath, masterSocket: f.masterSocket, pidFile: f.pidFile, signal }),
    (e: unknown) => e instanceof OverlayError && e.code === 'HAPROXY_START_FAILED' && /no-such-keyword/.test(e.message),
  );
});
