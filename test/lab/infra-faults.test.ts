// Infrastructure faults of the lab on a real kernel (root): each does what it says, clear() undoes
// it. Traffic only between namespaces this test creates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planLab, type LabSpec } from '../../src/lab/plan.js';
import { buildLab, destroyLab, type Lab } from '../../src/lab/topology.js';
import { clearAllInfraFaults, injectInfraFault, killLabProcess } from '../../src/lab/infra-faults.js';
import { readProcessStartTime } from '../../src/lab/netns.js';

const spec: LabSpec = {
  cluster: {
    name: 'fault-test',
    vip: '192.0.2.10',
    vpcCidrs: ['10.0.0.0/16'],
    nodes: [
      { name: 'lb-a', address: '10.0.1.10', zone: 'us-east-1a' },
      { name: 'lb-b', address: '10.0.2.10', zone: 'us-east-1b' },
    ],
    cloud: { region: 'us-east-1' },
  },
  backends: [{ name: 'web', servers: [{ name: 'web-1', address: '10.0.11.10', port: 8080 }] }],
};

/** The name a node's server answers, or null when unreachable (bounded by --max-time). */
async function get(lab: Lab, from: string, address: string): Promise<string | null> {
  const r = await lab.exec(from, ['curl', '-sS', '--connect-timeout', '1', '--max-time', '2', `http://${address}:8080/`], { signal: AbortSignal.timeout(10_000), allowFailure: true });
  return r.code === 0 ? r.stdout.trim() : null;
}

void test('infrastructure faults do what they say and clear() restores', async (t) => {
  const signal = AbortSignal.timeout(120_000);
  const stateDir = await mkdtemp(join(tmpdir(), 'olbt-fault-'));
  const plan = planLab(spec, { azs: 2, prefix: `olbt${process.pid}f` });
  t.after(async () => {
    await destroyLab(join(stateDir, `${plan.prefix}state.json`), { signal: AbortSignal.timeout(30_000) });
    await rm(stateDir, { recursive: true, force: true });
  });
  const lab = await buildLab(plan, { signal, stateDir });
  await lab.startNameServer('lb-a', [{ address: '10.0.1.10', port: 8080, name: 'lb-a' }], { signal });
  await lab.startNameServer('lb-b', [{ address: '10.0.2.10', port: 8080, name: 'lb-b' }], { signal });
  const clientA = 'client-us-east-1a';
  const clientB = 'client-us-east-1b';

  await t.test('node down: its link and default route go; clear restores both', async () => {
    assert.equal(await get(lab, clientA, '10.0.1.10'), 'lb-a');
    const fault = await injectInfraFault(plan, { kind: 'node-down', node: 'lb-a' }, { signal });
    assert.equal(await get(lab, clientA, '10.0.1.10'), null);
    assert.equal((await lab.exec('lb-a', ['ip', 'route', 'show', 'default'], { signal })).stdout.trim(), '');
    await fault.clear({ signal });
    assert.match((await lab.exec('lb-a', ['ip', 'route', 'show', 'default'], { signal })).stdout, /default via 10\.0\.1\.1 dev eth0/);
    assert.equal(await get(lab, clientA, '10.0.1.10'), 'lb-a');
  });

  await t.test('AZ black-hole: nothing reaches or leaves the AZ; other AZs work; clear restores', async () => {
    const fault = await injectInfraFault(plan, { kind: 'az-blackhole', az: 'us-east-1a' }, { signal });
    assert.equal(await get(lab, clientB, '10.0.1.10'), null, 'LB node in the AZ');
    assert.equal(await get(lab, clientB, '10.0.11.10'), null, 'backend in the AZ');
    assert.equal(await get(lab, clientA, '10.0.2.10'), null, 'from the AZ');
    assert.equal(await get(lab, clientB, '10.0.2.10'), 'lb-b', 'outside the AZ');
    await fault.clear({ signal });
    assert.equal(await get(lab, clientB, '10.0.1.10'), 'lb-a');
    assert.equal(await get(lab, clientB, '10.0.11.10'), 'web-1');
  });

  await t.test('partition: LB nodes cannot reach each other, clients still reach both; clear restores', async () => {
    assert.equal(await get(lab, 'lb-a', '10.0.2.10'), 'lb-b');
    const fault = await injectInfraFault(plan, { kind: 'partition' }, { signal });
    assert.equal(await get(lab, 'lb-a', '10.0.2.10'), null);
    assert.equal(await get(lab, 'lb-b', '10.0.1.10'), null);
    for (const client of [clientA, clientB]) {
      assert.equal(await get(lab, client, '10.0.1.10'), 'lb-a');
      assert.equal(await get(lab, client, '10.0.2.10'), 'lb-b');
    }
    assert.equal(await get(lab, 'lb-a', '10.0.11.10'), 'web-1', 'LB nodes still reach backends');
    await fault.clear({ signal });
    assert.equal(await get(lab, 'lb-a', '10.0.2.10'), 'lb-b');
  });

  await t.test('clearAllInfraFaults undoes faults injected by anyone', async () => {
    await injectInfraFault(plan, { kind: 'node-down', node: 'lb-b' }, { signal });
    await injectInfraFault(plan, { kind: 'partition', sides: [['us-east-1a'], ['us-east-1b']] }, { signal });
    assert.equal(await get(lab, clientA, '10.0.2.10'), null);
    await clearAllInfraFaults(plan, { signal });
    assert.equal(await get(lab, clientA, '10.0.2.10'), 'lb-b');
    assert.equal(await get(lab, 'lb-a', '10.0.2.10'), 'lb-b');
  });

  await t.test('killLabProcess kills a recorded process by label, once', async () => {
    const status = await lab.status({ signal });
    const pid = status.processes.find((p) => p.label === 'name-server lb-b')!.pid!;
    assert.equal(await killLabProcess(lab.stateFilePath, { label: 'name-server lb-b' }, { signal }), 'killed');
    assert.equal(await readProcessStartTime(pid, { signal }), null);
    assert.equal(await get(lab, clientA, '10.0.2.10'), null);
    assert.equal(await killLabProcess(lab.stateFilePath, { pid }, { signal }), 'gone');
    await assert.rejects(killLabProcess(lab.stateFilePath, { label: 'haproxy nowhere' }, { signal }), { code: 'LAB_UNKNOWN_NAME' });
  });
});
