/**
 * The agent with real haproxy and keepalived, without a cloud (provider none): two nodes in two
 * network namespaces joined by a veth pair.
 *
 * GIVEN lb-a (priority 200) and lb-b (190), advert 100 ms, preempt delay 1 s
 * THEN lb-a is master and serves the VIP;
 * WHEN haproxy dies on lb-a THEN lb-b becomes master, and lb-a's agent restarts haproxy and takes
 *   mastership back after the preempt delay;
 * WHEN lb-a's agent restarts THEN it attaches to the running haproxy and keepalived and reports
 *   MASTER without any transition;
 * WHEN keepalived dies on lb-a THEN lb-b becomes master and the agent restarts keepalived.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSandbox } from '../helpers/netns.js';
import type { Sandbox, SandboxProcess } from '../helpers/netns.js';
import type { AgentStatus } from '../../src/agent-api/contract.js';
import { agentSpecText, agentStatus, killPidFile, spawnAgent, stopNodeSoftware } from '../helpers/agent-sandbox.js';

const WAIT_MS = 20_000;

const SPEC = agentSpecText({
  cluster: 'agt',
  nodes: [{ name: 'lb-a', address: '10.0.1.10', zone: 'az-a' }, { name: 'lb-b', address: '10.0.1.11', zone: 'az-b' }],
  vrrp: 'preemptDelay: 1s',
  appAddress: '10.0.1.200',
});

type Status = AgentStatus;

function status(sb: Sandbox, ns: string): Promise<Status | null> {
  return agentStatus(sb, ns, { maxTimeS: 1 });
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, logs: () => string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n${logs()}`);
    await sleep(100);
  }
}

void test('agent: election, haproxy death, agent restart and keepalived death with real haproxy and keepalived', { timeout: 180_000 }, async (t) => {
  const sb = createSandbox();
  const dir = await mkdtemp(join(tmpdir(), 'olb-agent-'));
  const runDir = { a: join(dir, 'lb-a'), b: join(dir, 'lb-b') };
  const agents: Record<'a' | 'b', SandboxProcess | null> = { a: null, b: null };
  t.after(async () => {
    await sb.cleanup();
    // The agent leaves haproxy and keepalived running by design: stop them by their pid files.
    for (const d of Object.values(runDir)) await stopNodeSoftware(d);
    await sleep(300);
    await rm(dir, { recursive: true, force: true });
  });
  const signal = AbortSignal.timeout(170_000);
  const specFile = join(dir, 'spec.yaml');
  await writeFile(specFile, SPEC);
  const nsA = await sb.addNamespace('a', { signal });
  const nsB = await sb.addNamespace('b', { signal });
  await sb.addVeth({ ns: nsA, ifname: 'eth0', address: '10.0.1.10/24' }, { ns: nsB, ifname: 'eth0', address: '10.0.1.11/24' }, { signal });
  const start = (k: 'a' | 'b'): SandboxProcess => spawnAgent(sb, k === 'a' ? nsA : nsB, { specFile, node: `lb-${k}`, runDir: runDir[k] });
  const logs = (): string => `--- lb-a agent ---\n${agents.a?.output().slice(-3000) ?? ''}\n--- lb-b agent ---\n${agents.b?.output().slice(-3000) ?? ''}`;
  agents.a = start('a');
  agents.b = start('b');

  // THEN lb-a is master (priority 200), lb-b backup, and lb-a serves the VIP's frontend.
  await waitFor('lb-a MASTER and lb-b BACKUP', async () => (await status(sb, nsA))?.vrrp.vrrp === 'MASTER' && (await status(sb, nsB))?.vrrp.vrrp === 'BACKUP', logs);
  const health = await sb.exec(nsA, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:8405/healthz'], { signal });
  assert.equal(health.stdout, '200');

  // WHEN haproxy dies on lb-a THEN lb-b becomes master; lb-a's agent restarts haproxy and, after the preempt delay, wins again.
  const killed = await killPidFile(join(runDir.a, 'haproxy.pid'));
  assert.ok(killed, 'haproxy pid file');
  await waitFor('lb-b MASTER after haproxy died on lb-a', async () => (await status(sb, nsB))?.vrrp.vrrp === 'MASTER', logs);
  const back = await waitFor('lb-a MASTER again with a new haproxy', async () => {
    const s = await status(sb, nsA);
    return s?.vrrp.vrrp === 'MASTER' && s.haproxy.pid !== killed && s.haproxy.healthy ? s : null;
  }, logs);
  assert.notEqual(back.haproxy.pid, killed);

  // WHEN lb-a's agent restarts THEN it attaches to the same haproxy and keepalived and reports MASTER.
  const before = back;
  agents.a.child.kill('SIGTERM');
  const exit = await Promise.race([agents.a.exited, sleep(10_000).then(() => null)]);
  assert.ok(exit, `the agent exits on SIGTERM\n${logs()}`);
  agents.a = start('a');
  const after = await waitFor('lb-a agent back', async () => status(sb, nsA), logs);
  assert.equal(after.vrrp.vrrp, 'MASTER', `${JSON.stringify(after.vrrp)}\n${logs()}`);
  assert.equal(after.haproxy.pid, before.haproxy.pid, 'the same haproxy');
  assert.equal(after.keepalived.pid, before.keepalived.pid, 'the same keepalived');
  assert.match(after.vrrp.transitions.at(-1)?.reason ?? '', /marker address present/);
  assert.equal((await status(sb, nsB))?.vrrp.vrrp, 'BACKUP', 'no failover during the agent restart');

  // WHEN keepalived dies on lb-a THEN lb-b takes over, and the agent restarts keepalived.
  const kpid = await killPidFile(join(runDir.a, 'keepalived.pid'), 'SIGKILL');
  assert.ok(kpid);
  await waitFor('lb-b MASTER after keepalived died on lb-a', async () => (await status(sb, nsB))?.vrrp.vrrp === 'MASTER', logs);
  await waitFor('a new keepalived on lb-a', async () => {
    const s = await status(sb, nsA);
    return s !== null && s.keepalived.pid !== kpid;
  }, logs);
});
