// The cloud a bare account starts with (pure: the plan seeded into the lab's model, no kernel).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { seedLabCloud } from '../../src/lab/controller.js';
import { LabCloud } from '../../src/lab/ec2/state.js';
import { planFromOptions } from '../../src/lab/lab.js';
import { OverlayError } from '../../src/util/errors.js';

const SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));

void test('a bare account: subnets in three AZs, an internet gateway as every table\'s default route, no LB instance, role, VIP route or Elastic IP', async () => {
  const { plan } = await planFromOptions({ specFile: SPEC, bare: true, signal: AbortSignal.timeout(30_000) });
  assert.equal(plan.azs.length, 3);
  const cloud = new LabCloud({ region: plan.region });
  seedLabCloud(cloud, plan, { failover: 'eip' });
  const world = cloud.view();
  assert.equal(new Set(Object.values(world.subnets).map((s) => s.availabilityZone)).size, 3);
  const gateways = Object.values(world.internetGateways);
  assert.equal(gateways.length, 1);
  assert.equal(gateways[0]?.vpcId, plan.vpc.id);
  for (const table of Object.values(world.routeTables)) {
    assert.deepEqual(table.routes.map((r) => [r.destinationCidrBlock, r.target]), [
      [plan.vpc.cidr, { kind: 'local' }], ['0.0.0.0/0', { kind: 'gateway', gatewayId: gateways[0].internetGatewayId }],
    ]);
  }
  assert.deepEqual(Object.values(world.instances).filter((i) => i.tags['overlay-lb:role'] === 'lb-node'), []);
  assert.deepEqual([world.roles, world.instanceProfiles, world.addresses], [{}, {}, {}]);

  // The full lab seeds what the bare one leaves out.
  const full = new LabCloud({ region: plan.region });
  seedLabCloud(full, (await planFromOptions({ specFile: SPEC, signal: AbortSignal.timeout(30_000) })).plan, { failover: 'eip' });
  assert.deepEqual(Object.keys(full.view().roles), ['overlay-lb-node']);
  assert.deepEqual(Object.keys(full.view().internetGateways), []);
});

void test('a bare account has three AZs: asking for two is refused, naming the fix', async () => {
  await assert.rejects(planFromOptions({ specFile: SPEC, bare: true, azs: 2, signal: AbortSignal.timeout(30_000) }), (error: OverlayError) => {
    assert.equal(error.code, 'LAB_PLAN_INVALID');
    assert.equal(error.message, 'a bare account has subnets in three AZs: drop --azs 2 (or pass --azs 3)');
    return true;
  });
});
