/**
 * The claim algorithm (src/cloud/claim.ts) against the lab's EC2-compatible API, through the
 * AWS SDK driver (src/cloud/aws): no fake of our own code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimRoutes } from '../../src/cloud/claim.js';
import { createEc2Client, Ec2RouteApi } from '../../src/cloud/aws/ec2-routes.js';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import type { ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import type { Ec2Api } from '../../src/lab/ec2/server.js';
import { EC2_BUCKETS, TokenBucket } from '../../src/util/token-bucket.js';

const ADMIN = { accessKeyId: 'AKIALABCLAIMTEST0001', secretAccessKey: 'claim-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };

interface Fixture { ex: ExampleCloud; api: Ec2Api; routes: Ec2RouteApi; lb2Eni: string; tables: string[]; close(): Promise<void> }

async function fixture(): Promise<Fixture> {
  const ex = buildExampleCloud();
  const ac = new AbortController();
  const api = await startEc2Api({ cloud: ex.cloud, host: '127.0.0.1', port: 0, signal: ac.signal, credentials: [ADMIN] });
  const routes = new Ec2RouteApi(createEc2Client({ region: ex.cloud.region, endpoint: api.url, credentials: ADMIN }));
  const lab = Object.values(ex.cloud.view().routeTables).filter((t) => t.vpcId === ex.ids.vpc).map((t) => t.routeTableId).sort();
  return {
    ex, api, routes, tables: lab, lb2Eni: ex.ids.lb2Eni,
    close: async () => { ac.abort(); await api.close(); },
  };
}

const buckets = (): { mutating: TokenBucket; describe: TokenBucket } => ({ mutating: new TokenBucket(EC2_BUCKETS.mutating), describe: new TokenBucket(EC2_BUCKETS.describe) });

function vipTarget(f: Fixture, table: string): string | undefined {
  const t = f.ex.cloud.view().routeTables[table];
  const r = t?.routes.find((x) => x.destinationCidrBlock === f.ex.vip);
  return r && 'networkInterfaceId' in r.target ? r.target.networkInterfaceId : undefined;
}

void test('claim: every owned table ends on our ENI, read back; a second claim finds them ours', async (t) => {
  const f = await fixture();
  t.after(() => f.close());
  const signal = AbortSignal.timeout(30_000);
  const first = await claimRoutes({ api: f.routes, tables: f.tables, destinationCidr: f.ex.vip, networkInterfaceId: f.lb2Eni, buckets: buckets(), signal });
  assert.deepEqual(first.map((o) => o.kind), f.tables.map(() => 'claimed'));
  for (const table of f.tables) assert.equal(vipTarget(f, table), f.lb2Eni);
  const second = await claimRoutes({ api: f.routes, tables: f.tables, destinationCidr: f.ex.vip, networkInterfaceId: f.lb2Eni, buckets: buckets(), signal });
  assert.deepEqual(second.map((o) => o.kind), f.tables.map(() => 'already-ours'));
});

void test('claim: a table without the VIP route gets it created; an unknown table fails with CLOUD_NOT_FOUND and nothing else is touched', async (t) => {
  const f = await fixture();
  t.after(() => f.close());
  const table = f.tables[0]!;
  f.ex.cloud.deleteRoute({ routeTableId: table, destinationCidrBlock: f.ex.vip });
  const otherVpcTable = f.ex.ids.otherRouteTable;
  const before = vipTarget(f, otherVpcTable);
  const out = await claimRoutes({ api: f.routes, tables: [table, 'rtb-0000000000000dead'], destinationCidr: f.ex.vip, networkInterfaceId: f.lb2Eni, buckets: buckets(), signal: AbortSignal.timeout(30_000) });
  assert.equal(out[0]?.kind, 'claimed');
  assert.equal(vipTarget(f, table), f.lb2Eni);
  assert.equal(out[1]?.kind, 'failed');
  assert.equal(out[1]?.kind === 'failed' ? out[1].code : '', 'CLOUD_NOT_FOUND');
  assert.equal(vipTarget(f, otherVpcTable), before, 'a table that was not asked for is untouched');
});

void test('claim: converges through throttling (an empty mutating bucket on the API side) and eventual consistency', async (t) => {
  const f = await fixture();
  t.after(() => f.close());
  // GIVEN the API's mutating bucket is nearly empty and a describe sees writes only after 300 ms
  f.api.faults.setThrottling({ enabled: true, mutating: { capacity: 1, refillPerSecond: 2 } });
  f.api.faults.setConsistencyDelay(300);
  const events: string[] = [];
  // WHEN we claim every table
  const out = await claimRoutes({
    api: f.routes, tables: f.tables, destinationCidr: f.ex.vip, networkInterfaceId: f.lb2Eni, buckets: buckets(), signal: AbortSignal.timeout(60_000),
    onEvent: (e) => { if (e.type === 'api-error') events.push(e.code); },
  });
  // THEN every table is claimed, after throttled calls were retried
  assert.deepEqual(out.map((o) => o.kind), f.tables.map(() => 'claimed'));
  assert.ok(events.includes('CLOUD_THROTTLED'), `expected throttling, saw ${events.join(', ') || 'no error'}`);
  for (const table of f.tables) assert.equal(vipTarget(f, table), f.lb2Eni);
});

void test('claim: an abort (a newer transition) ends every table as aborted', async (t) => {
  const f = await fixture();
  t.after(() => f.close());
  f.api.faults.setLatency('ReplaceRoute', 2000);
  const ac = new AbortController();
  const claim = claimRoutes({ api: f.routes, tables: f.tables, destinationCidr: f.ex.vip, networkInterfaceId: f.lb2Eni, buckets: buckets(), signal: ac.signal });
  setTimeout(() => ac.abort(new Error('transition to BACKUP')), 200);
  const out = await claim;
  assert.deepEqual(out.map((o) => o.kind), f.tables.map(() => 'aborted'));
});

void test('claim: with the VPC given, a table of another VPC is refused as not found and keeps its route', async (t) => {
  const f = await fixture();
  t.after(() => f.close());
  const other = f.ex.ids.otherRouteTable;
  const before = vipTarget(f, other);
  const out = await claimRoutes({ api: f.routes, tables: [f.tables[0]!, other], vpcId: f.ex.ids.vpc, destinationCidr: f.ex.vip, networkInterfaceId: f.lb2Eni, buckets: buckets(), signal: AbortSignal.timeout(30_000) });
  assert.equal(out[0]?.kind, 'claimed');
  assert.deepEqual(out[1]?.kind === 'failed' ? [out[1].code, out[1].reason] : out[1], ['CLOUD_NOT_FOUND', `route table ${other} does not exist in ${f.ex.ids.vpc}; remove it from cloud.routeTables or create it`]);
  assert.equal(vipTarget(f, other), before);
});
