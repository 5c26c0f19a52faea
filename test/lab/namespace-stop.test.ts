// How the lab stops a terminated instance's processes (and lab down a namespace's): as a machine's
// shutdown, every one, also one started while they were being stopped (a supervisor restarting its
// child on SIGTERM): one left would keep the namespace, its veth and the address alive, and answer
// for the address of the next instance. A real network namespace of this test, root only.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { namespacePids, runCommand, stopNamespaceProcesses } from '../../src/lab/netns.js';
import { needsRoot as skip, processesMentioning } from '../helpers/bare-lab.js';

void test('stopNamespaceProcesses stops every process of the namespace, also those started on SIGTERM', { skip, timeout: 60_000 }, async (t) => {
  const signal = AbortSignal.timeout(50_000);
  const ns = `olbstop${process.pid}`.slice(0, 15);
  const dir = await mkdtemp(join(tmpdir(), 'olb-ns-stop-'));
  await runCommand(['ip', 'netns', 'add', ns], { signal });
  t.after(async () => {
    // Also when an assertion failed: nothing of this test stays.
    await stopNamespaceProcesses(ns, { signal: AbortSignal.timeout(20_000), graceMs: 0 }).catch(() => undefined);
    await runCommand(['ip', 'netns', 'del', ns], { signal: AbortSignal.timeout(10_000), allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  });
  // A "supervisor" that starts another process when it gets SIGTERM, and keeps running.
  const restarted = join(dir, 'restarted');
  const script = `trap "nohup sh -c 'sleep 600; :' ${restarted} >/dev/null 2>&1 &" TERM; while :; do sleep 1; done`;
  await runCommand(['ip', 'netns', 'exec', ns, 'sh', '-c', `nohup sh -c '${script.replaceAll("'", "'\\''")}' ${join(dir, 'supervisor')} >/dev/null 2>&1 &`], { signal });
  for (let i = 0; i < 100 && (await processesMentioning(join(dir, 'supervisor'))).length === 0; i++) await sleep(20);
  assert.equal((await processesMentioning(join(dir, 'supervisor'))).length, 1, 'the supervisor did not start');

  const result = await stopNamespaceProcesses(ns, { signal, graceMs: 1500 });

  assert.deepEqual(result.left, []);
  assert.deepEqual(await namespacePids(ns, { signal }), []);
  assert.deepEqual(await processesMentioning(dir), [], 'a process of the namespace outlived the stop');
  // The supervisor, its sleep, and what its trap started (the shell and its sleep) at least.
  assert.ok(result.stopped >= 3, `stopped ${result.stopped}`);
});
