import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthMonitor } from '../../src/agent/health.js';
import { startHaproxy } from '../../src/haproxy/process.js';
import { createLogger } from '../../src/util/log.js';
import { findFreePort } from '../helpers/haproxy-process.js';

// The health monitor keeps one connection to HAProxy's monitor-uri (a new one per probe was the
// idle agent's largest CPU cost). A real HAProxy reload must still reach the monitor: the new
// worker's answer, not the old one's, decides. The health frontend is the one src/render writes
// (monitor-uri, monitor fail on the default backend's servers), with HAProxy's defaults for idle
// connections at a soft stop.

void test('HealthMonitor follows a real HAProxy reload to the new worker over its kept-alive connection', async (t) => {
  const signal = AbortSignal.timeout(120_000);
  const dir = await mkdtemp(join(tmpdir(), 'olb-lean-health-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await findFreePort({ host: '127.0.0.1', signal });
  const configPath = join(dir, 'haproxy.cfg');
  // `disabled`: the backend then has no usable server, and the monitor answers 503.
  const config = (server: 'enabled' | 'disabled'): string => `global
  hard-stop-after 30s
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s
frontend olb-health
  bind 127.0.0.1:${port}
  no log
  monitor-uri /healthz
  monitor fail if { nbsrv(app) lt 1 }
backend app
  server s1 127.0.0.1:1${server === 'disabled' ? ' disabled' : ''}
`;
  await writeFile(configPath, config('enabled'));
  const proc = await startHaproxy({ configPath, masterSocket: join(dir, 'master.sock'), pidFile: join(dir, 'haproxy.pid'), signal });
  t.after(() => proc.stop({ signal: AbortSignal.timeout(20_000), graceMs: 0, termGraceMs: 5000 }));

  const trackFile = join(dir, 'track');
  const changes: { healthy: boolean; reason: string }[] = [];
  const ac = new AbortController();
  t.after(() => ac.abort());
  const monitor = new HealthMonitor({
    url: `http://127.0.0.1:${port}/healthz`, trackFile, intervalMs: 50,
    log: createLogger({ write: () => undefined }),
    onChange: (healthy, reason) => changes.push({ healthy, reason }),
  });
  const running = monitor.run(ac.signal);
  const waitFor = async (healthy: boolean, what: string): Promise<string> => {
    for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
      const last = changes.at(-1);
      if (last?.healthy === healthy) return last.reason;
      await sleep(20);
    }
    assert.fail(`the monitor did not become ${healthy ? 'healthy' : 'unhealthy'} after ${what}; changes: ${JSON.stringify(changes)}`);
  };

  // GIVEN HAProxy's monitor answers 200 THEN the node is healthy.
  assert.match(await waitFor(true, 'the first worker answered 200'), /answers 200/);
  assert.equal(await readFile(trackFile, 'utf8'), '0\n');

  // WHEN a reload brings a worker whose default backend has no server up THEN unhealthy: the
  // probe's connection did not stay with the old worker (which would answer 200 until it ends).
  await writeFile(configPath, config('disabled'));
  const reload = await proc.reload({ signal });
  assert.ok(reload.ok, JSON.stringify(reload));
  assert.match(await waitFor(false, 'the reload to a worker without servers'), /answers 503/);
  assert.equal(await readFile(trackFile, 'utf8'), '1\n');

  // WHEN reloaded back THEN healthy again.
  await writeFile(configPath, config('enabled'));
  assert.ok((await proc.reload({ signal })).ok);
  await waitFor(true, 'the reload back');

  ac.abort();
  await running;
});
