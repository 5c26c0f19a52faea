import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { capLogs } from '../../src/agent/log-cap.js';
import { createLogger } from '../../src/util/log.js';

void test('capLogs truncates a log over its cap, leaves one under it, and the writer goes on appending', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-logcap-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const big = join(dir, 'haproxy.log');
  const small = join(dir, 'keepalived.log');
  await writeFile(big, 'x'.repeat(5000));
  await writeFile(small, 'y'.repeat(100));
  const lines: string[] = [];
  const ac = new AbortController();
  const run = capLogs([big, small], { signal: ac.signal, log: createLogger({ write: (l) => lines.push(l) }), maxBytes: 1000, intervalMs: 20 });
  const deadline = Date.now() + 5000;
  while ((await stat(big)).size !== 0 && Date.now() < deadline) await sleep(10);
  ac.abort();
  await run;
  assert.equal((await stat(big)).size, 0);
  assert.equal((await stat(small)).size, 100);
  await appendFile(big, 'after\n');
  assert.equal((await stat(big)).size, 6);
  assert.match(lines.join(''), /"event":"log-truncated".*"bytes":5000/);
});
