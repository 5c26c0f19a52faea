// The process supervisor shared by haproxy and keepalived, with real child processes: an exit is
// reacted to (onExit first), counted, logged, and a new process started; a start that fails is
// logged and retried. No namespaces: plain `sleep` children of this test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { ProcessSupervisor, exitedByPolling } from '../../src/agent/process-supervisor.js';
import { createLogger } from '../../src/util/log.js';
import { Registry } from '../../src/util/metrics.js';
import { isProcessAlive } from '../../src/util/pid.js';
import { untilAborted } from '../../src/util/abort.js';

interface Child { readonly proc: ChildProcess; readonly pid: number; readonly exited: Promise<void> }

function startChild(): Child {
  const proc = spawn('sleep', ['300'], { stdio: 'ignore' });
  assert.ok(proc.pid !== undefined, 'sleep did not start');
  return { proc, pid: proc.pid, exited: once(proc, 'exit').then(() => undefined) };
}

async function waitUntil(what: string, fn: () => boolean, signal: AbortSignal): Promise<void> {
  while (!fn()) {
    if (signal.aborted) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

void test('an exited process is reacted to, counted, logged and restarted; a failed start is retried', { timeout: 60_000 }, async () => {
  const events: Record<string, unknown>[] = [];
  const log = createLogger({ write: (line) => void events.push(JSON.parse(line) as Record<string, unknown>), level: 'debug' });
  const restarts = new Registry().counter('restarts_total', 'test');
  const children: Child[] = [startChild()];
  const onExitSeen: number[] = [];
  let failNextStart = true;
  const stop = new AbortController();
  const supervisor = new ProcessSupervisor<Child>({
    name: 'sleeper', process: children[0]!, pid: (c) => c.pid, log, restarts,
    exited: async (c, signal) => void (await untilAborted(c.exited, signal)),
    onExit: (c) => void onExitSeen.push(c.pid),
    exitMessage: 'sleeper exited: restarting it',
    start: () => {
      if (failNextStart) {
        failNextStart = false;
        return Promise.reject(new Error('no sleeper today'));
      }
      const c = startChild();
      children.push(c);
      return Promise.resolve(c);
    },
  });
  const running = supervisor.run(stop.signal);
  const deadline = AbortSignal.timeout(30_000);
  try {
    const first = children[0]!;
    first.proc.kill('SIGKILL');
    // The first start fails (logged, retried after the doubled backoff), the second succeeds.
    await waitUntil('a second sleeper', () => children.length === 2 && supervisor.current === children[1], deadline);
    assert.ok(isProcessAlive(children[1]!.pid));
    assert.deepEqual(onExitSeen, [first.pid, first.pid], 'onExit once per exit seen: the failed start leaves the dead process current');
    assert.equal(restarts.get({ process: 'sleeper' }), 2);
    const kinds = events.map((e) => e['event']);
    assert.deepEqual(kinds, ['sleeper-exited', 'sleeper-restart-failed', 'sleeper-exited']);
    assert.equal(events[0]?.['pid'], first.pid);
    assert.equal(events[0]?.['msg'], 'sleeper exited: restarting it');
  } finally {
    stop.abort();
    await running;
    for (const c of children) c.proc.kill('SIGKILL');
  }
});

void test('exitedByPolling resolves once the process is gone, or when the signal aborts', { timeout: 30_000 }, async () => {
  const child = startChild();
  const gone = exitedByPolling(() => isProcessAlive(child.pid), { intervalMs: 20, signal: AbortSignal.timeout(20_000) });
  child.proc.kill('SIGKILL');
  await child.exited;
  await gone;
  assert.equal(isProcessAlive(child.pid), false);
  const stop = new AbortController();
  const waiting = exitedByPolling(() => true, { intervalMs: 20, signal: stop.signal });
  stop.abort();
  await waiting;
});

void test('a stop during the restart backoff starts nothing (the process would outlive the agent)', { timeout: 30_000 }, async () => {
  const log = createLogger({ write: () => undefined, level: 'debug' });
  const restarts = new Registry().counter('restarts_total', 'test');
  const first = startChild();
  let starts = 0;
  let exitSeen: () => void = () => undefined;
  const seen = new Promise<void>((resolve) => {
    exitSeen = resolve;
  });
  const stop = new AbortController();
  const supervisor = new ProcessSupervisor<Child>({
    name: 'sleeper', process: first, pid: (c) => c.pid, log, restarts,
    exited: async (c, signal) => void (await untilAborted(c.exited, signal)),
    onExit: () => exitSeen(),
    exitMessage: 'sleeper exited: restarting it',
    start: () => {
      starts++;
      return Promise.resolve(startChild());
    },
  });
  const running = supervisor.run(stop.signal);
  // The process exits just before the agent's own SIGTERM (a machine shutting down kills both).
  first.proc.kill('SIGKILL');
  await seen;
  stop.abort();
  await running;
  assert.equal(starts, 0, 'a process was started after the stop');
  assert.equal(supervisor.current, first);
});
