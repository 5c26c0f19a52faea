// The VIP route resources of `overlay-lb up` (vip-route-resources.ts) against the lab's EC2 API on
// loopback, through the real AWS SDK: a blackhole VIP route whose gone target was one of the
// cluster's nodes (its interface recorded on the terminated instance, ENI_TAG) is the cluster's and
// re-pointed at a live node; one left by a foreign instance is a conflict naming the table, the
// target and the fix, and neither up's update nor down's remove touches it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENI_TAG, NODE_TAG } from '../../src/cloud/aws/provision/instance-launch.js';
import { OWNER_TAG } from '../../src/cloud/aws/provision/names.js';
import { ProvisionSession } from '../../src/cloud/aws/provision/session.js';
import { vipRouteResources } from '../../src/cloud/aws/provision/vip-route-resources.js';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import { routeState } from '../../src/lab/ec2/state.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { LAB_ADMIN } from '../helpers/cli-lab-api.js';

const REGION = 'eu-west-1';
const VIP = '192.168.100.77';

void test('up\'s VIP route: a blackhole left by a cluster node is re-pointed, one left by a foreign instance is a conflict left untouched', async (t) => {
  const ex = buildExampleCloud({ region: REGION });
  const { cloud, ids } = ex;
  const controller = new AbortController();
  const api = await startEc2Api({ cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [LAB_ADMIN] });
  const session = new ProvisionSession({ region: REGION, endpoint: api.url, credentials: LAB_ADMIN });
  t.after(async () => {
    session.destroy();
    controller.abort();
    await api.close();
  });
  const parsed = parseSpec(`cluster:
  name: shop
  vip: ${VIP}
  vpcCidrs: [10.0.0.0/16]
  nodes:
    - { name: lb-a, address: 10.0.1.50, zone: ${REGION}a }
    - { name: lb-b, address: 10.0.2.50, zone: ${REGION}b }
  cloud: { provider: lab, region: ${REGION}, vpcId: ${ids.vpc} }
frontends:
  - { name: web, binds: [{ address: vip, port: 80 }], defaultBackend: app }
backends:
  - { name: app, servers: [{ name: s1, address: 10.0.11.11, port: 8080 }] }
`, { file: 's.yaml' });
  assert.ok(parsed.ok);
  const cidr = `${VIP}/32`;
  // GIVEN lb-a's first instance (up's tags, its interface recorded) and a foreign instance, each the
  // target of the VIP route in one table, both terminated (EC2 deletes their primary interfaces).
  const owned = (node: string, ip: string, subnetId: string): { instanceId: string; networkInterfaceId: string } => {
    const i = cloud.createInstance({ subnetId, privateIp: ip, tags: { [OWNER_TAG]: 'shop', [NODE_TAG]: node } });
    cloud.createTags({ resourceIds: [i.instanceId], tags: { [ENI_TAG]: i.networkInterfaceId } });
    return i;
  };
  const oldA = owned('lb-a', '10.0.1.50', ids.subnetA);
  const foreign = cloud.createInstance({ subnetId: ids.subnetB, privateIp: '10.0.2.99', tags: { Name: 'someone-else' } });
  cloud.createRoute({ routeTableId: ids.routeTableA, destinationCidrBlock: cidr, target: { networkInterfaceId: oldA.networkInterfaceId } });
  cloud.createRoute({ routeTableId: ids.routeTableB, destinationCidrBlock: cidr, target: { networkInterfaceId: foreign.networkInterfaceId } });
  cloud.changeInstanceStates({ instanceIds: [oldA.instanceId, foreign.instanceId], action: 'terminate' });
  await new Promise((resolve) => setImmediate(resolve)); // the lab ends a transition without an instance host on the next turn
  assert.deepEqual([oldA, foreign].map((i) => [cloud.view().instances[i.instanceId]?.state, cloud.view().networkInterfaces[i.networkInterfaceId]]), [['terminated', undefined], ['terminated', undefined]]);
  const route = (table: string): { target: unknown; state: string } | undefined => {
    const world = cloud.view();
    const t = world.routeTables[table];
    const r = t?.routes.find((x) => x.destinationCidrBlock === cidr);
    return r === undefined || t === undefined ? undefined : { target: r.target, state: routeState(world, r, t) };
  };
  assert.deepEqual([route(ids.routeTableA)?.state, route(ids.routeTableB)?.state], ['blackhole', 'blackhole']);
  // ... and lb-a's replacement running.
  const newA = owned('lb-a', '10.0.1.50', ids.subnetA);

  const scope = { session, account: cloud.accountId, vpcId: ids.vpc, cluster: 'shop' };
  const [a, b] = vipRouteResources({ scope, spec: parsed.spec, tableIds: [ids.routeTableA, ids.routeTableB], dependsOn: [] });
  assert.ok(a !== undefined && b !== undefined);
  const signal = AbortSignal.timeout(30_000);
  const observedA = await a.observe({ signal });
  assert.deepEqual(observedA, { state: 'owned', changes: [`blackhole: its target ${oldA.networkInterfaceId} is gone; point it at a node`] });
  const observedB = await b.observe({ signal });
  assert.equal(observedB.state, 'foreign');
  assert.ok(observedB.state === 'foreign');
  assert.equal(observedB.reason, `route table ${ids.routeTableB} already routes ${cidr} to ${foreign.networkInterfaceId}, a blackhole (its target is gone) that was none of this cluster's nodes`);
  assert.match(observedB.fix, new RegExp(`aws ec2 delete-route --route-table-id ${ids.routeTableB} --destination-cidr-block 192\\.168\\.100\\.77/32`));

  // The cluster's is re-pointed at the live node; the foreign one is left as it is, also by remove().
  const before = route(ids.routeTableB);
  await a.update?.(observedA.state === 'owned' ? observedA.changes : [], { signal });
  assert.deepEqual(route(ids.routeTableA), { target: { kind: 'eni', networkInterfaceId: newA.networkInterfaceId }, state: 'active' });
  await b.remove?.({ signal });
  assert.deepEqual(route(ids.routeTableB), before);
  // remove() deletes the cluster's.
  await a.remove?.({ signal });
  assert.equal(route(ids.routeTableA), undefined);
});
