// Scenario 11 (issue 4): a new subnet with its own route table appears in the VPC after the
// cluster started. The master re-discovers the owned tables on every recheck and gives the new
// table the VIP route (CreateRoute: it has none), without touching any other table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentStatus, isRoot, recordRouteChanges, startE2eLab, waitFor } from './fixture.js';

const RECHECK_MS = 2000;

void test('a new route table appears: it gets the VIP route to the master', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  const e2e = await startE2eLab(t, { recheckInterval: `${RECHECK_MS / 1000}s` });
  const { lab } = e2e;
  const cloud = lab.controller.cloud;
  const { changes } = recordRouteChanges(t, lab);
  const lbA = lab.plan.instances.find((i) => i.name === 'lb-a');
  assert.ok(lbA);

  // WHEN someone adds a subnet with its own route table (as the console or Terraform would)
  const vpcId = lab.plan.vpc.id;
  // (The API takes region-style zone names; the lab maps the spec's zones onto them.)
  const { subnetId } = cloud.createSubnet({ vpcId, cidr: '10.0.99.0/24', availabilityZone: `${cloud.region}a` });
  const { routeTableId } = cloud.createRouteTable({ vpcId, tags: { Name: 'added-later' } });
  cloud.associateRouteTable({ routeTableId, subnetId });
  const createdAt = Date.now();

  // THEN the new table gets the VIP route to lb-a's ENI
  await waitFor(e2e, `the VIP route in the new table ${routeTableId}`, () => {
    const route = cloud.view().routeTables[routeTableId]?.routes.find((r) => r.destinationCidrBlock === `${lab.plan.vip}/32`);
    return Promise.resolve(route?.target.kind === 'eni' && route.target.networkInterfaceId === lbA.eni.id);
  }, { intervalMs: 50 });
  t.diagnostic(`new table -> VIP route: ${Date.now() - createdAt} ms (recheck interval ${RECHECK_MS} ms)`);
  // AND the master owns it now, and no other table was written
  const status = await waitFor(e2e, 'lb-a lists the new table', async () => {
    const s = await agentStatus(lab, 'lb-a');
    return s?.vrrp.resources.some((r) => r.id === routeTableId && r.holder?.kind === 'us') ? s : null;
  });
  assert.equal(status.vrrp.resources.length, lab.plan.routeTables.length + 1);
  assert.deepEqual(changes.map((c) => [c.table, c.node]), [[routeTableId, 'lb-a']]);
});
