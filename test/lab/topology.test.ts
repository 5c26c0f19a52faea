// The lab's plan (pure) and its build/destroy on a real kernel (root). Traffic only between
// namespaces this test creates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planLab, type LabSpec } from '../../src/lab/plan.js';
import { buildLab, destroyLab, openLab } from '../../src/lab/topology.js';
import { runCommand, readProcessStartTime } from '../../src/lab/netns.js';
import { OverlayError } from '../../src/util/errors.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startUnixToTcpRelay } from '../../src/lab/netns-relay.js';
import type { LabState } from '../../src/lab/state-file.js';

const spec: LabSpec = {
  cluster: {
    name: 'topo-test',
    vip: '192.0.2.10',
    vpcCidrs: ['10.0.0.0/16'],
    nodes: [
      { name: 'lb-a', address: '10.0.1.10', zone: 'us-east-1a' },
      { name: 'lb-b', address: '10.0.2.10', zone: 'us-east-1b' },
    ],
    cloud: { region: 'us-east-1' },
  },
  backends: [
    {
      name: 'web',
      servers: [
        { name: 'web-1', address: '10.0.11.10', port: 8080 },
        { name: 'web-2', address: '10.0.12.10', port: 8080 },
        { name: 'outside', address: '172.16.0.5', port: 80 },
      ],
    },
  ],
};

function planError(s: LabSpec, options: Parameters<typeof planLab>[1]): string {
  try {
    planLab(s, options);
  } catch (error) {
    assert.ok(error instanceof OverlayError);
    assert.equal(error.code, 'LAB_PLAN_INVALID');
    return error.message;
  }
  assert.fail('planLab did not throw');
}

void test('planLab lays out subnets per AZ, route tables, ENIs and namespaces', () => {
  const plan = planLab(spec, { azs: 2 });
  assert.equal(plan.prefix, 'olb-');
  assert.deepEqual(plan.azs, ['us-east-1a', 'us-east-1b']);
  assert.deepEqual(
    plan.subnets.map((s) => [s.name, s.role, s.az, s.cidr, s.gateway, s.routerInterface]),
    [
      ['lb-1', 'lb', 'us-east-1a', '10.0.1.0/24', '10.0.1.1', 's0'],
      ['lb-2', 'lb', 'us-east-1b', '10.0.2.0/24', '10.0.2.1', 's1'],
      ['backend-3', 'backend', 'us-east-1a', '10.0.11.0/24', '10.0.11.1', 's2'],
      ['backend-4', 'backend', 'us-east-1b', '10.0.12.0/24', '10.0.12.1', 's3'],
      ['client-us-east-1a', 'client', 'us-east-1a', '10.0.200.0/24', '10.0.200.1', 's4'],
      ['client-us-east-1b', 'client', 'us-east-1b', '10.0.201.0/24', '10.0.201.1', 's5'],
    ],
  );
  assert.deepEqual(plan.routeTables.map((t) => [t.tableNumber, t.main, t.subnetIds.length]), [[100, true, 0], ...[101, 102, 103, 104, 105, 106].map((n) => [n, false, 1])]);
  assert.deepEqual(plan.instances.map((i) => [i.name, i.role, i.namespace, i.eni.privateIp, i.vipOnLoopback]), [
    ['lb-a', 'lb-node', 'olb-lb-a', '10.0.1.10', true],
    ['lb-b', 'lb-node', 'olb-lb-b', '10.0.2.10', true],
    ['be-10-0-11-10', 'backend', 'olb-be-10-0-11-10', '10.0.11.10', false],
    ['be-10-0-12-10', 'backend', 'olb-be-10-0-12-10', '10.0.12.10', false],
    ['client-us-east-1a', 'client', 'olb-client-us-east-1a', '10.0.200.10', false],
    ['client-us-east-1b', 'client', 'olb-client-us-east-1b', '10.0.201.10', false],
  ]);
  for (const i of plan.instances) {
    assert.match(i.instanceId, /^i-[0-9a-f]{17}$/);
    assert.match(i.eni.id, /^eni-[0-9a-f]{17}$/);
    assert.match(i.eni.mac, /^02(:[0-9a-f]{2}){5}$/);
  }
  assert.deepEqual(plan.skippedServers, [{ backend: 'web', server: 'outside', address: '172.16.0.5' }]);
  assert.deepEqual(planLab(spec, { azs: 2 }), plan, 'deterministic');
  assert.notEqual(planLab(spec, { azs: 2, prefix: 'other-' }).instances[0]!.eni.id, plan.instances[0]!.eni.id);
  const three = planLab(spec, { azs: 3, routeTables: 'main' });
  assert.deepEqual(three.azs, ['us-east-1a', 'us-east-1b', 'us-east-1c']);
  assert.ok(three.subnets.every((s) => s.routeTableId === three.routeTables[0]!.id));
  assert.equal(three.routeTables.length, 1);
});

void test('planLab with bare: the same subnets, route tables and ids, no LB node instance', () => {
  const full = planLab(spec, { azs: 3 });
  const bare = planLab(spec, { azs: 3, bare: true });
  assert.equal(bare.bare, true);
  assert.equal(full.bare, undefined);
  assert.deepEqual(bare.subnets, full.subnets);
  assert.deepEqual(bare.routeTables, full.routeTables);
  assert.deepEqual(bare.instances.map((i) => i.name), full.instances.filter((i) => i.role !== 'lb-node').map((i) => i.name));
  assert.deepEqual(bare.instances.find((i) => i.role === 'client')?.eni.id, full.instances.find((i) => i.role === 'client')?.eni.id);
});

void test('planLab rejects specs it cannot lay out, naming the value and the fix', () => {
  const withNode = (address: string, zone = 'us-east-1a'): LabSpec => ({
    ...spec,
    cluster: { ...spec.cluster, nodes: [...spec.cluster.nodes, { name: 'lb-c', address, zone }] },
  });
  assert.equal(
    planError(withNode('10.0.3.1'), { azs: 2 }),
    'node lb-c address 10.0.3.1 is the network, gateway (.1) or broadcast address of its lab subnet 10.0.3.0/24: use a host address from .2 to .254',
  );
  assert.equal(
    planError(withNode('10.0.2.20'), { azs: 2 }),
    'nodes in zones us-east-1b and us-east-1a share the subnet 10.0.2.0/24: a subnet lies in one AZ; give each zone its own /24',
  );
  assert.equal(
    planError(withNode('10.0.3.10', 'us-east-1c'), { azs: 2 }),
    "the spec's nodes are in 3 zones (us-east-1a, us-east-1b, us-east-1c) but the lab was asked for 2: use --azs 3 or move nodes into fewer zones",
  );
  assert.equal(
    planError({ ...spec, cluster: { ...spec.cluster, vpcCidrs: ['10.0.0.0/25'] } }, { azs: 2 }),
    'VPC CIDR 10.0.0.0/25 is smaller than a /24: the lab lays out /24 subnets; use a /16 to /22 VPC',
  );
  assert.equal(
    planError(spec, { azs: 2, prefix: 'Bad_Prefix' }),
    'lab prefix "Bad_Prefix" is invalid: allowed is a lower-case letter followed by up to 11 of a-z, 0-9, \'-\' (for example "olb-")',
  );
});

async function hostNetwork(): Promise<{ netns: string[]; links: string[] }> {
  const signal = AbortSignal.timeout(10_000);
  const netns = (await runCommand(['ip', 'netns', 'list'], { signal })).stdout.split('\n').filter((l) => l.startsWith(`olbt${process.pid}`));
  const links = (await runCommand(['ip', '-o', 'link', 'show'], { signal })).stdout.split('\n').map((l) => l.split(':')[1]?.trim() ?? '').sort();
  return { netns: netns.sort(), links };
}

void test('build: clients in every subnet reach backends; destroy leaves nothing behind', async (t) => {
  const signal = AbortSignal.timeout(120_000);
  const stateDir = await mkdtemp(join(tmpdir(), 'olbt-topo-'));
  const plan = planLab(spec, { azs: 2, prefix: `olbt${process.pid}t` });
  const statePath = join(stateDir, `${plan.prefix}state.json`);
  t.after(async () => {
    await destroyLab(statePath, { signal: AbortSignal.timeout(30_000) });
    await rm(stateDir, { recursive: true, force: true });
  });
  const before = await hostNetwork();
  const lab = await buildLab(plan, { signal, stateDir });

  // GIVEN the lab is up, WHEN each client GETs each backend, THEN the backend answers its name.
  for (const client of ['client-us-east-1a', 'client-us-east-1b', 'lb-a', 'lb-b']) {
    for (const [address, name] of [['10.0.11.10', 'web-1'], ['10.0.12.10', 'web-2']]) {
      const r = await lab.exec(client, ['curl', '-sS', '--connect-timeout', '1', '--max-time', '2', `http://${address}:8080/`], { signal, allowFailure: true });
      assert.equal(r.stdout.trim(), name, `${client} -> ${address}: ${r.stderr}`);
    }
  }
  // The ENI's MAC is on eth0, the VIP on the LB nodes' lo, a default route via the gateway.
  const link = await lab.exec('lb-a', ['ip', '-j', 'addr', 'show'], { signal });
  const ifaces = JSON.parse(link.stdout) as { ifname: string; address: string; addr_info: { local: string }[] }[];
  assert.equal(ifaces.find((i) => i.ifname === 'eth0')?.address, plan.instances[0]!.eni.mac);
  assert.ok(ifaces.find((i) => i.ifname === 'lo')?.addr_info.some((a) => a.local === plan.vip));
  assert.match((await lab.exec('lb-a', ['ip', 'route', 'show', 'default'], { signal })).stdout, /default via 10\.0\.1\.1 dev eth0/);

  // The router sends no ICMP redirects (a VPC router never does): with them, a client in a
  // master's subnet cached "VIP via the master" for 300 s and lost the VIP after a failover.
  for (const iface of ['all', 'default', ...plan.subnets.map((s) => s.routerInterface)]) {
    const r = await runCommand(['ip', 'netns', 'exec', plan.router.namespace, 'sysctl', '-n', `net.ipv4.conf.${iface}.send_redirects`], { signal });
    assert.equal(r.stdout.trim(), '0', `router ${iface} send_redirects`);
  }

  // A server in the host (127.0.0.1) is reachable from an instance through the service relay.
  const hostServer = createServer((_req, res) => res.end('host-api\n'));
  await new Promise<void>((resolve) => hostServer.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const relayAbort = new AbortController();
  t.after(() => {
    relayAbort.abort();
    hostServer.close();
  });
  const socketPath = join(stateDir, 'api.sock');
  await startUnixToTcpRelay({ path: socketPath, target: { host: '127.0.0.1', port: (hostServer.address() as AddressInfo).port }, signal: relayAbort.signal });
  await lab.startServiceRelay({ address: plan.router.serviceAddresses.api, port: 80 }, socketPath, { signal });
  const viaRelay = await lab.exec('client-us-east-1b', ['curl', '-sS', '--max-time', '2', `http://${plan.router.serviceAddresses.api}/`], { signal, allowFailure: true });
  assert.equal(viaRelay.stdout, 'host-api\n', viaRelay.stderr);
  relayAbort.abort();

  const reopened = await openLab({ signal, stateFile: statePath });
  const status = await reopened.status({ signal });
  assert.ok(status.namespaces.every((n) => n.exists));
  assert.ok(status.routeTables.every((r) => r.vipRoute === null));
  assert.deepEqual(status.processes.map((p) => [p.label, p.alive]), [['name-server be-10-0-11-10', true], ['name-server be-10-0-12-10', true], ['relay 169.254.169.250:80', true]]);
  const pids = status.processes.map((p) => p.pid!);

  const report = await destroyLab(statePath, { signal });
  assert.deepEqual(report, { processesStopped: 3, namespacesRemoved: plan.instances.length + 2, filesRemoved: 1 });
  await assert.rejects(stat(socketPath), { code: 'ENOENT' });
  assert.deepEqual(await hostNetwork(), before);
  for (const pid of pids) assert.equal(await readProcessStartTime(pid, { signal }), null, `process ${pid} still runs`);
  await assert.rejects(stat(statePath), { code: 'ENOENT' });
  // Idempotent.
  assert.deepEqual(await destroyLab(statePath, { signal }), { processesStopped: 0, namespacesRemoved: 0, filesRemoved: 0 });
});

void test('destroy after a crash: state file present, half the resources already gone', async (t) => {
  const signal = AbortSignal.timeout(120_000);
  const stateDir = await mkdtemp(join(tmpdir(), 'olbt-crash-'));
  const plan = planLab(spec, { azs: 2, prefix: `olbt${process.pid}c` });
  const statePath = join(stateDir, `${plan.prefix}state.json`);
  t.after(async () => {
    await destroyLab(statePath, { signal: AbortSignal.timeout(30_000) });
    await rm(stateDir, { recursive: true, force: true });
  });
  const before = await hostNetwork();
  await buildLab(plan, { signal, stateDir });
  // GIVEN a crash that left the state file while half the namespaces and one process are gone,
  const state = JSON.parse(await readFile(statePath, 'utf8')) as LabState;
  const namespaces = state.resources.flatMap((r) => (r.kind === 'netns' ? [r.name] : []));
  for (const name of namespaces.filter((_, i) => i % 2 === 1)) await runCommand(['ip', 'netns', 'del', name], { signal });
  const firstProcess = state.resources.find((r) => r.kind === 'process');
  assert.ok(firstProcess?.kind === 'process' && firstProcess.pid !== null);
  process.kill(firstProcess.pid, 'SIGKILL');
  // WHEN the lab is destroyed, THEN it succeeds and nothing is left.
  await destroyLab(statePath, { signal });
  assert.deepEqual(await hostNetwork(), before);
  await assert.rejects(stat(statePath), { code: 'ENOENT' });
});

void test('buildLab refuses a second lab with the same prefix', async (t) => {
  const signal = AbortSignal.timeout(60_000);
  const stateDir = await mkdtemp(join(tmpdir(), 'olbt-twice-'));
  const plan = planLab({ ...spec, backends: [] }, { azs: 2, prefix: `olbt${process.pid}w` });
  const statePath = join(stateDir, `${plan.prefix}state.json`);
  t.after(async () => {
    await destroyLab(statePath, { signal: AbortSignal.timeout(30_000) });
    await rm(stateDir, { recursive: true, force: true });
  });
  await buildLab(plan, { signal, stateDir });
  await assert.rejects(buildLab(plan, { signal, stateDir }), { code: 'LAB_EXISTS' });
  // The refused build did not disturb the running lab.
  assert.ok((await (await openLab({ signal, stateFile: statePath })).status({ signal })).namespaces.every((n) => n.exists));
});
