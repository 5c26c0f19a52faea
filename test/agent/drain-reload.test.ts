// The agent's one drain-reload routine against a real haproxy (master-worker, loopback only): a
// drain reloads under the apply pipeline's lock, logs `drain` and answers the old workers; a
// reload that fails is an error with the caller's code; a held apply lock makes it wait.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { HaproxyReloads } from '../../src/agent/drain-reload.js';
import { withApplyLock } from '../../src/apply/state-store.js';
import { systemClock } from '../../src/util/clock.js';
import { OverlayError } from '../../src/util/errors.js';
import { createLogger } from '../../src/util/log.js';
import { startNamedBackends } from '../helpers/backends.js';
import { makeFixture, renderTestConfig, startFixtureHaproxy } from '../haproxy/fixture.js';

void test('drain: a reload under the apply lock, logged with the old workers; a failed reload is the caller\'s error code', { timeout: 120_000 }, async (t) => {
  const signal = AbortSignal.timeout(100_000);
  const backends = await startNamedBackends({ names: ['app', 'other'], signal });
  t.after(() => backends.close());
  const f = await makeFixture(t, signal);
  const proc = await startFixtureHaproxy(t, f, renderTestConfig(f, { s1Port: backends.portOf('app'), otherPort: backends.portOf('other') }), signal);
  const events: Record<string, unknown>[] = [];
  const log = createLogger({ write: (line) => void events.push(JSON.parse(line) as Record<string, unknown>), level: 'debug' });
  const reloads = new HaproxyReloads({ dir: f.dir, reloader: proc.master, log });

  const before = (await proc.master.showProc({ signal })).workers.map((w) => w.pid);
  const oldWorkers = await reloads.drain({ code: 'SWITCHOVER_FAILED', why: 'a test', signal });
  assert.deepEqual([...oldWorkers].sort(), [...before].sort());
  assert.deepEqual(events.map((e) => [e['event'], e['oldWorkers'], e['why']]), [['drain', oldWorkers, 'a test']]);
  const after = await proc.master.showProc({ signal });
  assert.ok(after.workers.every((w) => !before.includes(w.pid)), 'a new worker serves after the drain');

  // While the apply pipeline holds its lock, the drain waits for it (two reloads cannot overlap).
  let released = false;
  const order: string[] = [];
  const holder = withApplyLock(f.dir, async () => {
    await systemClock.sleep(1000, signal);
    released = true;
    order.push('lock released');
  }, { signal, clock: systemClock });
  await systemClock.sleep(100, signal);
  await reloads.drain({ code: 'SWITCHOVER_FAILED', signal }).then(() => order.push(`drained (lock released before: ${released})`));
  await holder;
  assert.deepEqual(order, ['lock released', 'drained (lock released before: true)']);

  // A config haproxy refuses: the reload fails, and the error carries the caller's code.
  await writeFile(f.configPath, 'global\n  this-is-no-directive\n');
  await assert.rejects(reloads.drain({ code: 'INTERNAL', signal }), (err: unknown) => err instanceof OverlayError && err.code === 'INTERNAL' && /haproxy reload for the drain failed \(load-failed\)/.test(err.message));
  const r = await reloads.reload(signal);
  assert.equal(r.ok, false);
});
