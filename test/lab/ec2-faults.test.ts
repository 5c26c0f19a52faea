// Faults of the lab's EC2 API, observed through the real AWS SDK, with an injected clock.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { DescribeRouteTablesCommand, DescribeVpcsCommand, EC2Client, ReplaceRouteCommand } from '@aws-sdk/client-ec2';
import { createEc2Client, Ec2RouteApi } from '../../src/cloud/aws/ec2-routes.js';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import type { ApiFaults } from '../../src/lab/ec2/faults.js';
import { ALLOW_ALL_POLICY } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { timeoutSignal } from '../../src/util/abort.js';
import { OverlayError } from '../../src/util/errors.js';
import { AwsDoctorCollector } from '../../src/cloud/aws/provision/doctor-collect.js';

const REGION = 'eu-west-1';

interface Fixture {
  readonly lab: ExampleCloud;
  readonly ec2: EC2Client;
  readonly faults: ApiFaults;
  readonly slept: number[];
  readonly url: string;
  advance: (ms: number) => void;
}

async function start(t: TestContext): Promise<Fixture> {
  let now = Date.UTC(2026, 0, 1);
  const lab = buildExampleCloud({ region: REGION, clock: () => now });
  const slept: number[] = [];
  const controller = new AbortController();
  const api = await startEc2Api({
    cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal,
    credentials: [{ accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY }],
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
  });
  const ec2 = new EC2Client({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials: { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret' } });
  t.after(async () => {
    ec2.destroy();
    controller.abort();
    await api.close();
  });
  return { lab, ec2, faults: api.faults, slept, url: api.url, advance: (ms) => { now += ms; } };
}

/** The EC2 error code of a failed call, or 'ok'. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    const e = error as Error & { $metadata?: { httpStatusCode?: number } };
    return `${e.name}/${e.$metadata?.httpStatusCode ?? 'none'}`;
  }
}

function replace(f: Fixture, eni: string): ReplaceRouteCommand {
  return new ReplaceRouteCommand({ RouteTableId: f.lab.ids.routeTableA, DestinationCidrBlock: f.lab.vip, NetworkInterfaceId: eni });
}

void test('throttling: 50 mutating calls, then RequestLimitExceeded (503), refilled at 5/s of injected time', async (t) => {
  const f = await start(t);
  f.faults.setThrottling({ enabled: true });
  for (let i = 0; i < 50; i += 1) assert.equal(await outcome(f.ec2.send(replace(f, i % 2 === 0 ? f.lab.ids.lb2Eni : f.lab.ids.lb1Eni))), 'ok', `call ${i + 1}`);
  assert.equal(await outcome(f.ec2.send(replace(f, f.lab.ids.lb2Eni))), 'RequestLimitExceeded/503');
  // Describe calls have their own bucket.
  assert.equal(await outcome(f.ec2.send(new DescribeVpcsCommand({}))), 'ok');
  f.advance(1000);
  for (let i = 0; i < 5; i += 1) assert.equal(await outcome(f.ec2.send(replace(f, f.lab.ids.lb2Eni))), 'ok', `refilled call ${i + 1}`);
  assert.equal(await outcome(f.ec2.send(replace(f, f.lab.ids.lb2Eni))), 'RequestLimitExceeded/503');
  f.faults.setThrottling({ enabled: false });
  assert.equal(await outcome(f.ec2.send(replace(f, f.lab.ids.lb2Eni))), 'ok');
});

void test('throttling: 100 describe calls, then RequestLimitExceeded, refilled at 20/s', async (t) => {
  const f = await start(t);
  f.faults.setThrottling({ enabled: true });
  for (let i = 0; i < 99; i += 1) assert.equal(await outcome(f.ec2.send(new DescribeVpcsCommand({}))), 'ok', `call ${i + 1}`);
  assert.equal(await outcome(f.ec2.send(new DescribeRouteTablesCommand({}))), 'ok');
  assert.equal(await outcome(f.ec2.send(new DescribeVpcsCommand({}))), 'RequestLimitExceeded/503');
  assert.equal(await outcome(f.ec2.send(replace(f, f.lab.ids.lb2Eni))), 'ok');
  f.advance(100);
  assert.equal(await outcome(f.ec2.send(new DescribeVpcsCommand({}))), 'ok');
  assert.equal(await outcome(f.ec2.send(new DescribeVpcsCommand({}))), 'ok');
  assert.equal(await outcome(f.ec2.send(new DescribeVpcsCommand({}))), 'RequestLimitExceeded/503');
  f.faults.clear();
  assert.equal(await outcome(f.ec2.send(new DescribeVpcsCommand({}))), 'ok');
});

void test('a seeded 5xx rate answers InternalError (500) and Unavailable (503), the same sequence for the same seed', async (t) => {
  const f = await start(t);
  const run = async (): Promise<string[]> => {
    const results: string[] = [];
    for (let i = 0; i < 40; i += 1) results.push(await outcome(f.ec2.send(new DescribeVpcsCommand({}))));
    return results;
  };
  f.faults.setErrorRate({ rate: 0.5, seed: 7 });
  const first = await run();
  assert.ok(first.includes('ok'));
  assert.ok(first.includes('InternalError/500'));
  assert.ok(first.includes('Unavailable/503'));
  assert.deepEqual(new Set(first), new Set(['ok', 'InternalError/500', 'Unavailable/503']));
  f.faults.setErrorRate({ rate: 0.5, seed: 7 });
  assert.deepEqual(await run(), first);
  f.faults.setErrorRate({ rate: 0 });
  assert.deepEqual(new Set(await run()), new Set(['ok']));
});

void test('eventual consistency: a describe sees a route change only after the delay', async (t) => {
  const f = await start(t);
  const target = async (): Promise<string | undefined> =>
    (await f.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [f.lab.ids.routeTableA] }))).RouteTables?.[0]?.Routes?.[1]?.NetworkInterfaceId;
  f.faults.setConsistencyDelay(2000);
  f.advance(10);
  await f.ec2.send(replace(f, f.lab.ids.lb2Eni));
  assert.equal(await target(), f.lab.ids.lb1Eni);
  f.advance(1999);
  assert.equal(await target(), f.lab.ids.lb1Eni);
  f.advance(1);
  assert.equal(await target(), f.lab.ids.lb2Eni);
  // Mutations act on the current state at once (a second replace does not fail on a stale view).
  await f.ec2.send(replace(f, f.lab.ids.lb1Eni));
  assert.equal(await target(), f.lab.ids.lb2Eni);
  f.faults.setConsistencyDelay(0);
  assert.equal(await target(), f.lab.ids.lb1Eni);
});

void test('latency is applied per action through the injected sleep', async (t) => {
  const f = await start(t);
  f.faults.setLatency('ReplaceRoute', 250);
  await f.ec2.send(replace(f, f.lab.ids.lb2Eni));
  await f.ec2.send(new DescribeVpcsCommand({}));
  assert.deepEqual(f.slept, [250]);
  f.faults.setLatency('*', 40);
  await f.ec2.send(new DescribeVpcsCommand({}));
  assert.deepEqual(f.slept, [250, 40]);
  f.faults.clear();
  await f.ec2.send(new DescribeVpcsCommand({}));
  assert.deepEqual(f.slept, [250, 40]);
  assert.deepEqual(f.faults.status(), { latencyMs: {}, throttling: false, errorRate: 0, consistencyDelayMs: 0, unreachable: null, s3LatencyMs: 0, s3Unreachable: null, clockSkewMs: 0 });
});

void test('the API is unreachable for callers the predicate selects: dropped or hung, then cleared', async (t) => {
  const f = await start(t);
  f.faults.setUnreachable((address) => address.startsWith('10.0.2.'), 'drop');
  assert.equal(await outcome(f.ec2.send(new DescribeVpcsCommand({}))), 'ok'); // 127.0.0.1 is not in that AZ
  f.faults.setUnreachable((address) => address === '127.0.0.1', 'drop');
  const dropped = await outcome(f.ec2.send(new DescribeVpcsCommand({})));
  assert.match(dropped, /\/none$/); // a connection error, not an HTTP answer
  f.faults.setUnreachable((address) => address === '127.0.0.1', 'hang');
  const hung = await outcome(f.ec2.send(new DescribeVpcsCommand({}), { abortSignal: AbortSignal.timeout(300) }));
  assert.match(hung, /^(AbortError|TimeoutError)\/none$/);
  // The agent's client says why a call was aborted: its timeout, i.e. no answer from the API.
  const client = createEc2Client({ region: REGION, endpoint: f.url, credentials: { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret' } });
  t.after(() => client.destroy());
  const routes = new Ec2RouteApi(client);
  await assert.rejects(routes.listRouteTables({ vpcId: f.lab.ids.vpc, destinationCidr: '192.168.100.10/32' }, { signal: timeoutSignal(300) }),
    (err: unknown) => err instanceof OverlayError && err.code === 'CLOUD_UNAVAILABLE' && err.message === 'DescribeRouteTables: no answer from the EC2 API (timed out after 300 ms)');
  f.faults.setUnreachable(null);
  assert.equal(await outcome(f.ec2.send(new DescribeVpcsCommand({}))), 'ok');
});

void test('a clock skew shows in every answer\'s Date header, as doctor reads it (the API ahead: the caller behind); cleared by clear()', async (t) => {
  const f = await start(t);
  const collector = new AwsDoctorCollector({ region: REGION, endpoint: f.url, credentials: { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret' } });
  t.after(() => collector.destroy());
  const skew = async (): Promise<number> => {
    const r = await collector.probeApi(f.lab.ids.vpc, { signal: AbortSignal.timeout(60_000), timeoutMs: 30_000 });
    assert.ok(r.ok && r.clockSkewMs !== null, JSON.stringify(r));
    return r.clockSkewMs;
  };
  // In sync (doctor's tolerance): the header has whole seconds, doctor takes the middle of that second.
  assert.ok(Math.abs(await skew()) <= 5_000);
  f.faults.setClockSkew(270_000);
  assert.equal(f.faults.status().clockSkewMs, 270_000);
  const ahead = await skew();
  assert.ok(ahead >= 265_000 && ahead <= 270_500, String(ahead));
  assert.throws(() => f.faults.setClockSkew(-1), RangeError);
  f.faults.clear();
  assert.ok(Math.abs(await skew()) <= 5_000);
});
