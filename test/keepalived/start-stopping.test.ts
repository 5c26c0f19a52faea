// A stopping agent starts no haproxy or keepalived, and one it was starting when the stop came is
// stopped again: a process started then would outlive the agent, unsupervised (as when a machine
// shutting down kills the agent's children a moment before the agent). The
// binaries here are shell scripts that record that they ran, so nothing needs root or a netns.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { startHaproxy } from '../../src/haproxy/process.js';
import { startKeepalived } from '../../src/keepalived/process.js';
import { isProcessAlive } from '../../src/util/pid.js';

/** A script that writes its pid to `marker`, then sleeps (a daemon that never gets ready). */
async function fakeDaemon(dir: string, name: string): Promise<{ readonly binary: string; readonly marker: string }> {
  const marker = join(dir, `${name}.ran`);
  const binary = join(dir, name);
  await writeFile(binary, `#!/bin/sh\necho $$ > '${marker}'\nexec sleep 300\n`);
  await chmod(binary, 0o755);
  return { binary, marker };
}

void test('with its signal aborted, startKeepalived and startHaproxy start nothing', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-start-stopping-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const k = await fakeDaemon(dir, 'keepalived');
  const h = await fakeDaemon(dir, 'haproxy');
  const stopped = AbortSignal.abort(new Error('stopping'));
  await assert.rejects(startKeepalived({ config: join(dir, 'keepalived.conf'), runDir: dir }, { signal: stopped, binary: k.binary }), /stopping/);
  await assert.rejects(startHaproxy({ configPath: join(dir, 'haproxy.cfg'), masterSocket: join(dir, 'master.sock'), pidFile: join(dir, 'haproxy.pid'), binary: h.binary, signal: stopped }), /stopping/);
  await sleep(300);
  await assert.rejects(readFile(k.marker), { code: 'ENOENT' }, 'keepalived was started');
  await assert.rejects(readFile(h.marker), { code: 'ENOENT' }, 'haproxy was started');
});

void test('a keepalived still starting when the stop comes is stopped again', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-start-stopping-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const k = await fakeDaemon(dir, 'keepalived');
  const stop = new AbortController();
  // It never writes keepalived's pid file: startKeepalived waits for it until the stop.
  const starting = startKeepalived({ config: join(dir, 'keepalived.conf'), runDir: dir }, { signal: stop.signal, binary: k.binary });
  let pid = 0;
  for (let i = 0; i < 200 && pid === 0; i++) {
    pid = Number((await readFile(k.marker, 'utf8').catch(() => '0')).trim());
    if (pid === 0) await sleep(20);
  }
  assert.ok(pid > 0, 'the fake keepalived did not run');
  assert.ok(isProcessAlive(pid));
  stop.abort(new Error('stopping'));
  await assert.rejects(starting, /stopping/);
  assert.equal(isProcessAlive(pid), false, 'the keepalived being started outlived the stop');
});
