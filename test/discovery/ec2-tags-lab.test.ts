/**
 * A spec with an `ec2-tags` discovery source runs in the lab: the agents describe the lab's
 * instances through the real SDK, with the LB node role's credentials from the lab's IMDS, against
 * the lab's EC2 API, and HAProxy routes to what they found.
 *
 * GIVEN the demo spec plus a backend `pool` whose servers come from an `ec2-tags` source selecting
 *   the lab's backend instances (`overlay-lb:role: backend`, port 8080), and a route /pool -> pool
 * WHEN the lab and its agents are up
 * THEN lb-a's agent reports the source ok with every backend instance, no problem, and a request
 *   through the VIP to /pool is answered by one of those instances.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDocument } from 'yaml';
import { agentAvailable, nodeRunDir, startLab, stopLab } from '../../src/lab/lab.js';
import { labFiles } from '../../src/lab/controller.js';
import type { AgentStatus } from '../../src/agent-api/contract.js';

const DEMO_SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
const isRoot = process.getuid?.() === 0;
const WAIT_MS = 60_000;

type Status = AgentStatus;

void test('an ec2-tags source runs in the lab: lab backends discovered through the SDK, served through the VIP', { skip: !isRoot && 'needs root (network namespaces)', timeout: 240_000 }, async (t) => {
  assert.ok(agentAvailable(), 'the agent is not built (dist/src/cli/commands/agent.js)');
  const dir = await mkdtemp(join(tmpdir(), 'olbt-ec2tags-'));
  const prefix = `olbq${process.pid}`.slice(0, 12);
  const stateDir = join(dir, 'state');
  const specFile = join(dir, 'spec.yaml');
  const doc = parseDocument(await readFile(DEMO_SPEC, 'utf8'));
  doc.setIn(['discovery'], doc.createNode([{ name: 'lab-backends', type: 'ec2-tags', tags: { 'overlay-lb:role': 'backend' }, port: 8080 }]));
  doc.addIn(['backends'], doc.createNode({ name: 'pool', healthCheck: { type: 'none' }, discovery: { source: 'lab-backends' } }));
  const routes = doc.getIn(['frontends', 0, 'routes']) as { items: unknown[] };
  routes.items.unshift(doc.createNode({ name: 'to-pool', when: [{ path: { prefix: '/pool' } }], backend: 'pool' }));
  await writeFile(specFile, doc.toString());
  t.after(async () => {
    await stopLab(join(stateDir, `${prefix}state.json`), { signal: AbortSignal.timeout(60_000) }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const lab = await startLab({ specFile, prefix, stateDir, signal: AbortSignal.timeout(120_000) });
  t.after(() => lab.close());
  const backendIps = lab.plan.instances.filter((i) => i.role === 'backend').map((i) => i.eni.privateIp).sort();
  assert.ok(backendIps.length > 0);

  const status = async (): Promise<Status | null> => {
    const r = await lab.exec('lb-a', ['curl', '-fsS', '--max-time', '2', 'http://127.0.0.1:8406/status'], { signal: AbortSignal.timeout(10_000), allowFailure: true, timeoutMs: 5000 }).catch(() => null);
    return r === null || r.code !== 0 ? null : (JSON.parse(r.stdout) as Status);
  };
  const deadline = Date.now() + WAIT_MS;
  let last: Status | null = null;
  let answer: { status: number; servedBy: string | undefined } | null = null;
  for (;;) {
    last = await status();
    const src = last?.apply.sources.find((s) => s.name === 'lab-backends');
    if (last?.vrrp.vrrp === 'MASTER' && src?.state === 'ok') {
      const r = await lab.request('az-a', { path: '/pool/x', signal: AbortSignal.timeout(10_000), timeoutMs: 2000 }).catch(() => null);
      if (r?.status === 200) {
        answer = { status: r.status, servedBy: r.headers['x-served-by'] };
        break;
      }
    }
    if (Date.now() > deadline) assert.fail(`timed out: lb-a status ${JSON.stringify(last)}`);
    await sleep(500);
  }
  assert.equal(answer.status, 200);
  assert.ok(answer.servedBy !== undefined && answer.servedBy !== '', 'answered by a lab backend (x-served-by)');
  assert.deepEqual(last.problems, []);
  // The applied membership of `pool` is every lab backend instance, on port 8080.
  const runDir = nodeRunDir(labFiles(lab.stateFile, lab.plan.prefix).dir, 'lb-a');
  const state = JSON.parse(await readFile(join(runDir, 'haproxy', 'applied-state.json'), 'utf8')) as { membership?: [string, { address: string; port: number }[]][] };
  const pool = state.membership?.find(([b]) => b === 'pool')?.[1] ?? [];
  assert.deepEqual(pool.map((s) => `${s.address}:${s.port}`).sort(), backendIps.map((ip) => `${ip}:8080`).sort());
});
