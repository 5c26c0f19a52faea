/**
 * A second cloud provider needs a driver in the registry and a name in the model's provider union,
 * nothing else: here a provider that keeps its route tables, heartbeat tags and instances in memory
 * and records every call registers itself, and the product's own parts run over it unchanged: the
 * failover parts factory the agent uses (src/failover/create-failover.ts), the failover controller
 * (a MASTER transition claims every table; a re-check finds a hand-set route and restores it), the
 * heartbeat, and the `ec2-tags` discovery source through the provider's `instances` capability.
 * (The test cannot add a member to the model's union, so its spec names the provider with a cast.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cloudDriver, registerCloudDriver } from '../../src/cloud/registry.js';
import type { CloudDriver } from '../../src/cloud/registry.js';
import type { HeartbeatApi, InstanceDescriber, InstanceIdentity, RouteApi, RouteTableInfo } from '../../src/cloud/types.js';
import { createFailoverParts } from '../../src/failover/create-failover.js';
import { FailoverController } from '../../src/failover/controller.js';
import { createEc2TagsSource } from '../../src/discovery/ec2-tags-source.js';
import type { CloudProvider, Spec } from '../../src/model/spec.js';
import { createLogger } from '../../src/util/log.js';
import { EC2_BUCKETS, TokenBucket } from '../../src/util/token-bucket.js';
import { makeSpec } from '../helpers/model-builders.js';

const VIP = '192.168.100.10';
const OUR_ENI = 'eni-rec-ours';

/** The recording provider: state in memory, every call recorded as `action:argument`. */
function recordingDriver(): { driver: CloudDriver; calls: string[]; tables: Map<string, string | null>; tags: Map<string, string> } {
  const calls: string[] = [];
  const tables = new Map<string, string | null>([['rt-1', null], ['rt-2', 'eni-stranger'], ['rt-3', null]]);
  const tags = new Map<string, string>();
  const info = (id: string): RouteTableInfo => {
    const target = tables.get(id) ?? null;
    return { id, vpcId: 'vpc-rec', main: false, tags: {}, vipRoute: target === null ? null : { networkInterfaceId: target, state: 'active' } };
  };
  const routes: RouteApi = {
    listRouteTables: () => { calls.push('listRouteTables'); return Promise.resolve([...tables.keys()].map(info)); },
    describeRouteTables: (input) => { calls.push(`describeRouteTables:${input.routeTableIds.join(',')}`); return Promise.resolve(input.routeTableIds.filter((t) => tables.has(t)).map(info)); },
    replaceRoute: (input) => { calls.push(`replaceRoute:${input.routeTableId}`); tables.set(input.routeTableId, input.networkInterfaceId); return Promise.resolve(); },
    createRoute: (input) => { calls.push(`createRoute:${input.routeTableId}`); tables.set(input.routeTableId, input.networkInterfaceId); return Promise.resolve(); },
    findNetworkInterfaces: () => { calls.push('findNetworkInterfaces'); return Promise.resolve([]); },
  };
  const heartbeat: HeartbeatApi = {
    tagNetworkInterface: (input) => { calls.push(`tagNetworkInterface:${input.networkInterfaceId}`); tags.set(input.networkInterfaceId, input.value); return Promise.resolve(); },
    networkInterfaceTags: (input) => { calls.push('networkInterfaceTags'); return Promise.resolve(new Map(input.networkInterfaceIds.map((id) => [id, tags.get(id) ?? '']))); },
  };
  const instances: InstanceDescriber = {
    describeInstancesByTags: (t) => {
      calls.push(`describeInstancesByTags:${JSON.stringify(t)}`);
      return Promise.resolve([{ instanceId: 'i-rec-1', privateIp: '10.0.9.1', state: 'running' }, { instanceId: 'i-rec-2', privateIp: '10.0.9.2', state: 'stopped' }]);
    },
  };
  const driver: CloudDriver = {
    open: () => ({
      identity: (nodeAddress) => {
        calls.push(`identity:${nodeAddress}`);
        return Promise.resolve({ instanceId: 'i-rec-ours', region: 'rec-1', availabilityZone: 'rec-1a', networkInterfaceId: OUR_ENI, privateIp: nodeAddress } satisfies InstanceIdentity);
      },
      connect: (identity) => ({ identity, routes, heartbeat, instances, buckets: { mutating: new TokenBucket(EC2_BUCKETS.mutating), describe: new TokenBucket(EC2_BUCKETS.describe) } }),
    }),
  };
  return { driver, calls, tables, tags };
}

async function until(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

void test('registry: a recorded second provider drives failover and ec2-tags discovery with no change outside the registry', async (t) => {
  const rec = recordingDriver();
  const unregister = registerCloudDriver('recording', rec.driver);
  t.after(unregister);
  const base = makeSpec();
  const spec: Spec = { ...base, cluster: { ...base.cluster, vip: VIP, cloud: { ...base.cluster.cloud, provider: 'recording' as CloudProvider, recheckIntervalMs: 50 } } };
  const node = spec.cluster.nodes[0]!;

  // What the agent does: driver from the registry, identity, capabilities, failover parts.
  const stop = new AbortController();
  const session = cloudDriver(spec.cluster.cloud.provider).open({ cloud: spec.cluster.cloud, signal: stop.signal });
  const identity = await session.identity(node.address, { signal: stop.signal });
  const capabilities = session.connect(identity);
  const parts = createFailoverParts({ spec, node, capabilities });
  assert.equal(parts.claimer.mode, 'route');

  const controller = new FailoverController({
    instance: 'VI_rec', claimer: parts.claimer, priority: node.priority, recheckIntervalMs: 50, heartbeat: parts.heartbeat,
    log: createLogger({ write: () => undefined, level: 'error' }),
  });
  const running = controller.run(stop.signal);
  t.after(async () => {
    stop.abort();
    await running;
  });
  controller.onTransition({ name: 'VI_rec', state: 'MASTER' });
  await until('every table points at us', () => [...rec.tables.values()].every((e) => e === OUR_ENI));
  assert.ok(rec.calls.includes(`identity:${node.address}`));
  assert.ok(rec.calls.includes('listRouteTables'), 'the selector `all` lists the tables');
  assert.ok(rec.calls.includes('createRoute:rt-1') && rec.calls.includes('createRoute:rt-3'), 'tables without the route get it created');
  assert.ok(rec.calls.includes('replaceRoute:rt-2'), 'the stranger\'s route is replaced');
  await until('the master heartbeat is written', () => rec.tags.has(OUR_ENI));

  // Drift: a route set by hand is found by the re-check and restored.
  rec.tables.set('rt-3', 'eni-by-hand');
  const before = rec.calls.filter((c) => c === 'replaceRoute:rt-3').length;
  await until('the drifted table is restored', () => rec.tables.get('rt-3') === OUR_ENI);
  assert.equal(rec.calls.filter((c) => c === 'replaceRoute:rt-3').length, before + 1);
  assert.equal(controller.status().resources.length, 3);

  // Discovery: the provider's `instances` capability is the ec2-tags source's describer.
  assert.ok(capabilities.instances);
  const source = createEc2TagsSource({ name: 'apps', tags: { role: 'app' }, port: 8080, describer: capabilities.instances, intervalMs: 60_000 });
  const snap = await new Promise<readonly { address: string; port: number }[]>((resolve, reject) => {
    const ac = new AbortController();
    t.after(() => ac.abort());
    source.run({ signal: ac.signal, onEvent: (e) => { if (e.kind === 'snapshot') resolve(e.snapshot.servers); } }).catch(reject);
  });
  assert.deepEqual(snap.map((s) => `${s.address}:${s.port}`), ['10.0.9.1:8080']);
  assert.ok(rec.calls.includes('describeInstancesByTags:{"role":"app"}'));
});

void test('registry: provider none, and a provider without a driver, are clear errors naming the providers that have one', () => {
  assert.throws(() => cloudDriver('none'), (e: Error) => /provider "none" has no driver; providers with one: aws, lab/.test(e.message));
});
