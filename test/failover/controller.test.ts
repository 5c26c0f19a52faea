/**
 * The failover controller's decisions (src/failover/controller.ts) with the real RouteClaimer
 * against the lab's EC2-compatible API through the AWS SDK driver. "We" are lb2 of the example
 * cloud; lb1 is the one peer. What a peer says over the handoff link is the test's to choose
 * (`peerState`): it stands for another node's agent, not for our own code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEc2Client, Ec2RouteApi } from '../../src/cloud/aws/ec2-routes.js';
import { FailoverController } from '../../src/failover/controller.js';
import type { PeerAnswer } from '../../src/failover/controller.js';
import { RouteClaimer } from '../../src/failover/route-claimer.js';
import { EniHeartbeat, HEARTBEAT_TAG } from '../../src/failover/heartbeat.js';
import { Ec2HeartbeatApi } from '../../src/cloud/aws/ec2-heartbeat.js';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import type { ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY } from '../../src/lab/ec2/policy.js';
import type { LabCredential, PolicyDocument } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import type { Ec2Api } from '../../src/lab/ec2/server.js';
import { createFailoverMetrics } from '../../src/failover/metrics.js';
import type { FailoverMetrics } from '../../src/failover/metrics.js';
import { Registry } from '../../src/util/metrics.js';
import { createLogger } from '../../src/util/log.js';
import { ManualClock } from '../../src/util/clock.js';
import type { Clock } from '../../src/util/clock.js';
import { EC2_BUCKETS, TokenBucket } from '../../src/util/token-bucket.js';

const RECHECK_MS = 100;

/** What the test changes while the controller runs. */
interface Knobs {
  /** What lb1 answers from now on (null: no answer). */
  answer: PeerAnswer | null;
  /** The policy of our credential from now on (read on every request). */
  policy: PolicyDocument;
}

interface Fixture {
  readonly ex: ExampleCloud;
  readonly api: Ec2Api;
  readonly controller: FailoverController;
  readonly metrics: FailoverMetrics;
  readonly tables: readonly string[];
  readonly knobs: Knobs;
  target(table: string): string | undefined;
  pointAt(table: string, eni: string): void;
  /** Log lines with this `event`, so far. */
  named(name: string): Record<string, unknown>[];
}

async function fixture(t: test.TestContext, options: { ourPriority: number; peerPriority: number; retakeDelayMs?: number; recheckIntervalMs?: number; describeDeadlineMs?: number; clock?: Clock; heartbeatStaleMs?: number }): Promise<Fixture> {
  const ex = buildExampleCloud();
  const stop = new AbortController();
  const knobs: Knobs = { answer: null, policy: ALLOW_ALL_POLICY };
  const events: Record<string, unknown>[] = [];
  const credential: LabCredential = { accessKeyId: 'AKIALABCONTROLLER001', secretAccessKey: 'controller-secret', principal: 'lb2', get policy() { return knobs.policy; } };
  const api = await startEc2Api({ cloud: ex.cloud, host: '127.0.0.1', port: 0, signal: stop.signal, credentials: [credential] });
  const metrics = createFailoverMetrics(new Registry());
  const claimer = new RouteClaimer({
    api: new Ec2RouteApi(createEc2Client({ region: ex.cloud.region, endpoint: api.url, credentials: credential })),
    vpcId: ex.ids.vpc,
    vip: ex.vip.replace(/\/32$/, ''),
    networkInterfaceId: ex.ids.lb2Eni,
    selector: { kind: 'all', exclude: [] },
    peers: [{ node: 'lb1', address: '10.0.1.10', priority: options.peerPriority }],
    buckets: { mutating: new TokenBucket(EC2_BUCKETS.mutating), describe: new TokenBucket(EC2_BUCKETS.describe) },
    metrics,
    ...(options.describeDeadlineMs !== undefined ? { describeDeadlineMs: options.describeDeadlineMs } : {}),
  });
  const client = createEc2Client({ region: ex.cloud.region, endpoint: api.url, credentials: credential });
  const heartbeat = options.heartbeatStaleMs === undefined ? undefined : new EniHeartbeat({
    api: new Ec2HeartbeatApi(client), networkInterfaceId: ex.ids.lb2Eni, staleAfterMs: options.heartbeatStaleMs,
    buckets: { mutating: new TokenBucket(EC2_BUCKETS.mutating), describe: new TokenBucket(EC2_BUCKETS.describe) }, metrics,
  });
  const controller = new FailoverController({
    instance: 'VI_test',
    claimer,
    priority: options.ourPriority,
    recheckIntervalMs: options.recheckIntervalMs ?? RECHECK_MS,
    retryFailedMs: 50,
    retakeDelayMs: options.retakeDelayMs ?? 0,
    peerState: (node) => Promise.resolve(node === 'lb1' ? knobs.answer : null),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(heartbeat ? { heartbeat } : {}),
    log: createLogger({ write: (line) => void events.push(JSON.parse(line) as Record<string, unknown>), level: 'debug' }),
    metrics,
  });
  const running = controller.run(stop.signal);
  t.after(async () => {
    stop.abort();
    await running;
    await api.close();
  });
  const tables = await claimer.list(AbortSignal.timeout(10_000));
  assert.ok(tables.length >= 3, `the example VPC has ${tables.length} route tables`);
  return {
    ex, api, controller, metrics, tables, knobs,
    target: (table) => {
      const r = ex.cloud.view().routeTables[table]?.routes.find((x) => x.destinationCidrBlock === ex.vip);
      return r && 'networkInterfaceId' in r.target ? r.target.networkInterfaceId : undefined;
    },
    pointAt: (table, eni) => ex.cloud.replaceRoute({ routeTableId: table, destinationCidrBlock: ex.vip, target: { networkInterfaceId: eni } }),
    named: (name) => events.filter((e) => e['event'] === name),
  };
}

async function until(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

/** `promise`, or a failure naming `what` when it has not settled within `ms` (a liveness bound). */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([promise, sleep(ms, undefined, { signal: timer.signal }).then(() => { throw new Error(`timed out waiting for: ${what}`); })]);
  } finally {
    timer.abort();
  }
}

async function masterHoldingAll(f: Fixture): Promise<void> {
  f.controller.onTransition({ name: 'VI_test', state: 'MASTER' });
  await until('every table on lb2', () => f.tables.every((t) => f.target(t) === f.ex.ids.lb2Eni) && f.controller.status().phase === 'holding');
}

/** Waits long enough for `passes` more re-checks to run (for "nothing changed" checks). */
async function rechecks(f: Fixture, passes: number): Promise<void> {
  await sleep(passes * (RECHECK_MS + 50));
}

void test('controller: MASTER claims every owned table; BACKUP, FAULT and STOP delete nothing and take nothing back', async (t) => {
  const f = await fixture(t, { ourPriority: 100, peerPriority: 150 });
  await masterHoldingAll(f);
  assert.notEqual(f.controller.status().lastDetectToClaimedMs, null);
  assert.equal(f.named('claimed').length, 1);
  for (const state of ['BACKUP', 'FAULT', 'STOP'] as const) {
    f.controller.onTransition({ name: 'VI_test', state });
    await rechecks(f, 3);
    assert.deepEqual(f.tables.map((x) => f.target(x)), f.tables.map(() => f.ex.ids.lb2Eni), `routes changed on ${state}`);
  }
  // A table pointed elsewhere while not master stays so.
  f.pointAt(f.tables[0]!, f.ex.ids.multiEni0);
  await rechecks(f, 3);
  assert.equal(f.target(f.tables[0]!), f.ex.ids.multiEni0);
  assert.equal(f.named('drift').length, 0);
});

void test('controller: a higher-priority holder that says it is master is yielded to; once it says BACKUP it loses the route at once', async (t) => {
  const f = await fixture(t, { ourPriority: 100, peerPriority: 150 });
  await masterHoldingAll(f);
  const table = f.tables[1]!;
  // GIVEN lb1 (priority 150) holds one table and says it is master (a partition: two masters)
  f.knobs.answer = { vrrp: 'MASTER', healthy: true };
  f.pointAt(table, f.ex.ids.lb1Eni);
  // THEN we yield: counted as a contest, the route stays on lb1
  await until('a yield', () => f.named('contest').some((e) => e['action'] === 'yield' && e['resource'] === table));
  await rechecks(f, 3);
  assert.equal(f.target(table), f.ex.ids.lb1Eni);
  assert.equal(f.controller.status().resources.find((r) => r.id === table)?.contested, true);
  // WHEN lb1 says it is BACKUP (it lost mastership after a claim EC2 had accepted)
  f.knobs.answer = { vrrp: 'BACKUP', healthy: true };
  // THEN the route comes back to us, and the log says why
  await until('table back on lb2', () => f.target(table) === f.ex.ids.lb2Eni);
  assert.deepEqual(f.named('holder-not-master').map((e) => [e['resource'], e['holder'], e['holderVrrp']]).at(-1), [table, 'lb1', 'BACKUP']);
});

void test('controller: a higher-priority holder that does not answer is yielded to, unless our own claim of that table failed', async (t) => {
  const f = await fixture(t, { ourPriority: 100, peerPriority: 150 });
  await masterHoldingAll(f);
  const [yielded, failedOurs] = [f.tables[0]!, f.tables[1]!];
  // GIVEN lb1 does not answer and holds a table: yielded to (a partition, or gone: it may be master)
  f.knobs.answer = null;
  f.pointAt(yielded, f.ex.ids.lb1Eni);
  await until('a yield', () => f.named('contest').some((e) => e['action'] === 'yield' && e['resource'] === yielded));
  // WHEN our claim of another table fails (no permission to write it) while lb1 takes it
  const denyArn = `arn:aws:ec2:*:*:route-table/${failedOurs}`;
  f.knobs.policy = { Statement: [...ALLOW_ALL_POLICY.Statement, { Effect: 'Deny', Action: ['ec2:ReplaceRoute', 'ec2:CreateRoute'], Resource: denyArn }] };
  f.pointAt(failedOurs, f.ex.ids.multiEni0);
  await until('our claim failed', () => f.named('claim-failed').some((e) => e['resource'] === failedOurs));
  f.pointAt(failedOurs, f.ex.ids.lb1Eni);
  // THEN that table is retaken from the silent higher-priority holder (once writing is allowed
  // again); the yielded one stays put
  await until('the retake decided', () => f.named('holder-not-master').some((e) => e['resource'] === failedOurs && e['holderVrrp'] === null));
  f.knobs.policy = ALLOW_ALL_POLICY;
  await until('failed table back on lb2', () => f.target(failedOurs) === f.ex.ids.lb2Eni);
  await rechecks(f, 3);
  assert.equal(f.target(yielded), f.ex.ids.lb1Eni);
  assert.ok(!f.named('holder-not-master').some((e) => e['resource'] === yielded));
});

void test('controller: a lower-priority holder that serves keeps the route for the retake delay; one that does not answer loses it at once', async (t) => {
  const RETAKE_MS = 600;
  const f = await fixture(t, { ourPriority: 150, peerPriority: 100, retakeDelayMs: RETAKE_MS });
  await masterHoldingAll(f);
  const table = f.tables[0]!;
  // GIVEN lb1 (priority 100) holds a table and says it serves (a healed partition: a failback)
  f.knobs.answer = { vrrp: 'BACKUP', healthy: true };
  f.pointAt(table, f.ex.ids.lb1Eni);
  // THEN the retake is deferred first, and happens no earlier than the retake delay after that
  await until('deferred', () => f.named('retake-deferred').length > 0);
  const deferredAt = Date.parse(String(f.named('retake-deferred')[0]!['time']));
  const recheckClaim = (): Record<string, unknown> | undefined => f.named('claim').find((e) => e['resource'] === table && e['why'] === 'recheck');
  await until('the retake claimed', () => recheckClaim() !== undefined);
  const retaken = recheckClaim()!;
  assert.equal(f.target(table), f.ex.ids.lb2Eni);
  assert.ok(Date.parse(String(retaken['time'])) - deferredAt >= RETAKE_MS, `retaken ${Date.parse(String(retaken['time'])) - deferredAt} ms after the deferral`);
  // WHEN lb1 takes another table but does not answer (down, or cut off), or answers INIT (its
  // agent is starting: no answer yet)
  for (const answer of [null, { vrrp: 'INIT', healthy: true }] as const) {
    f.knobs.answer = answer;
    const before = f.named('retake-deferred').length;
    f.pointAt(f.tables[1]!, f.ex.ids.lb1Eni);
    // THEN it is retaken without a deferral
    await until('second table back on lb2', () => f.target(f.tables[1]!) === f.ex.ids.lb2Eni);
    assert.equal(f.named('retake-deferred').length, before, `deferred for answer ${JSON.stringify(answer)}`);
  }
  const before = f.named('retake-deferred').length;
  // AND an unhealthy one that answers is no reason to wait either
  f.knobs.answer = { vrrp: 'BACKUP', healthy: false };
  f.pointAt(f.tables[2]!, f.ex.ids.lb1Eni);
  await until('third table back on lb2', () => f.target(f.tables[2]!) === f.ex.ids.lb2Eni);
  assert.equal(f.named('retake-deferred').length, before);
});

void test('controller: a deferred retake happens at once when the holder stops answering', async (t) => {
  const f = await fixture(t, { ourPriority: 150, peerPriority: 100, retakeDelayMs: 600_000 });
  await masterHoldingAll(f);
  // GIVEN a retake deferred for ten minutes: lb1 holds a table and serves
  f.knobs.answer = { vrrp: 'MASTER', healthy: true };
  f.pointAt(f.tables[0]!, f.ex.ids.lb1Eni);
  await until('deferred', () => f.named('retake-deferred').length > 0);
  await rechecks(f, 3);
  assert.equal(f.target(f.tables[0]!), f.ex.ids.lb1Eni);
  // WHEN lb1 goes silent
  f.knobs.answer = null;
  // THEN the table comes back without waiting out the delay
  await until('table back on lb2', () => f.target(f.tables[0]!) === f.ex.ids.lb2Eni);
});

void test('controller: after a re-check fails (API errors), the master resumes re-checking by the contest rules, without claiming everything again', async (t) => {
  const f = await fixture(t, { ourPriority: 100, peerPriority: 150, describeDeadlineMs: 300 });
  await masterHoldingAll(f);
  // GIVEN the API answers every call with a server error, so the re-check fails
  f.api.faults.setErrorRate({ rate: 1 });
  await until('a failed re-check', () => f.named('failover-error').length > 0);
  // WHEN meanwhile lb1 (priority 150), a master that answers, took a table, and the API recovers
  f.knobs.answer = { vrrp: 'MASTER', healthy: true };
  f.pointAt(f.tables[0]!, f.ex.ids.lb1Eni);
  f.api.faults.setErrorRate({ rate: 0 });
  // THEN we yield by the contest rules (a fresh claim of everything would take it from lb1)
  await until('a yield', () => f.named('contest').some((e) => e['action'] === 'yield'));
  await rechecks(f, 3);
  assert.equal(f.target(f.tables[0]!), f.ex.ids.lb1Eni);
  assert.equal(f.named('claim').filter((e) => e['why'] === 'transition to MASTER').length, f.tables.length);
});

void test('controller: MASTER_RX_LOWER_PRI re-checks at once instead of waiting for the re-check period', async (t) => {
  const f = await fixture(t, { ourPriority: 150, peerPriority: 100, recheckIntervalMs: 600_000 });
  await masterHoldingAll(f);
  // GIVEN the next re-check is ten minutes away and lb1 took a table
  f.pointAt(f.tables[0]!, f.ex.ids.lb1Eni);
  await rechecks(f, 2);
  assert.equal(f.target(f.tables[0]!), f.ex.ids.lb1Eni);
  // WHEN keepalived reports a lower-priority advert
  f.controller.onTransition({ name: 'VI_test', state: 'MASTER_RX_LOWER_PRI' });
  // THEN the table is retaken now, and we are still MASTER (not a transition)
  await until('table back on lb2', () => f.target(f.tables[0]!) === f.ex.ids.lb2Eni);
  assert.equal(f.controller.status().vrrp, 'MASTER');
  assert.equal(f.named('vrrp-transition').length, 1);
});

void test('controller: a VRRP transition aborts a switchover claim (claimNow) in flight', async (t) => {
  const f = await fixture(t, { ourPriority: 100, peerPriority: 150 });
  // GIVEN a BACKUP node asked to claim for a switchover while the API is slow to write
  f.controller.onTransition({ name: 'VI_test', state: 'BACKUP' });
  for (const x of f.tables) f.pointAt(x, f.ex.ids.lb1Eni);
  f.api.faults.setLatency('ReplaceRoute', 5000);
  const claim = f.controller.claimNow('switchover', AbortSignal.timeout(120_000));
  await until('a ReplaceRoute in flight', () => f.metrics.apiCalls.get({ action: 'ReplaceRoute' }) > 0);
  // WHEN keepalived reports FAULT
  f.controller.onTransition({ name: 'VI_test', state: 'FAULT' });
  // THEN the claim ends (long before its own 60 s deadline) with every table aborted, recorded as such
  const outcomes = await within(10_000, claim, 'the claim to end after FAULT');
  assert.deepEqual(outcomes.map((o) => o.kind), f.tables.map(() => 'aborted'));
  assert.deepEqual(f.controller.status().resources.map((r) => r.lastClaim?.kind), f.tables.map(() => 'aborted'));
});

void test('controller: MASTER_RX_LOWER_PRI re-checks back off while they find nothing to fix, and come at once again after a transition', async (t) => {
  // The controller's own time is a manual clock (the claimer's API calls run in real time).
  const clock = new ManualClock(1_000_000);
  const f = await fixture(t, { ourPriority: 150, peerPriority: 100, recheckIntervalMs: 16_000, clock });
  await masterHoldingAll(f);
  const passes = (): number => f.named('reclaim').length;
  /** One lower-priority advert at the current time; resolves when its re-check (if any) is done. */
  const advert = async (): Promise<void> => {
    const describes = f.metrics.apiCalls.get({ action: 'DescribeRouteTables' });
    const before = passes();
    f.controller.onTransition({ name: 'VI_test', state: 'MASTER_RX_LOWER_PRI' });
    if (passes() > before) await until('the re-check ran', () => f.metrics.apiCalls.get({ action: 'DescribeRouteTables' }) >= describes + 2 && clock.pending > 0);
  };
  // GIVEN a one-way partition: lower-priority adverts every 100 ms, nothing to fix
  // WHEN 20 s of them arrive
  const at: number[] = [];
  for (let ms = 0; ms <= 20_000; ms += 100) {
    const before = passes();
    await advert();
    if (passes() > before) at.push(ms);
    await clock.advance(100);
  }
  // THEN re-checks come 2, 4 and 8 s apart (then 16 s, the re-check period), not every second
  assert.deepEqual(at, [0, 2000, 6000, 14_000]);
  // AND after a transition the next one comes at once again
  f.controller.onTransition({ name: 'VI_test', state: 'BACKUP' });
  f.controller.onTransition({ name: 'VI_test', state: 'MASTER' });
  await until('claimed again', () => f.named('claimed').length === 2);
  const before = passes();
  await advert();
  assert.equal(passes(), before + 1);
});

void test('controller: a master beats on its ENI; a silent higher-priority holder is yielded to while its heartbeat moves, and retaken once it stops', async (t) => {
  const STALE_MS = 800;
  const f = await fixture(t, { ourPriority: 100, peerPriority: 150, heartbeatStaleMs: STALE_MS });
  await masterHoldingAll(f);
  // Our own heartbeat: written at once, then once per re-check period
  const ours = (): string | undefined => f.ex.cloud.view().networkInterfaces[f.ex.ids.lb2Eni]?.tags[HEARTBEAT_TAG];
  await until('our heartbeat', () => ours() !== undefined);
  const first = ours();
  await until('our heartbeat moved', () => ours() !== first);
  // GIVEN lb1 (priority 150) holds a table, does not answer (a partition), and beats
  const table = f.tables[0]!;
  f.pointAt(table, f.ex.ids.lb1Eni);
  let beats = 0;
  let lastBeatAt = 0;
  const beat = (): void => {
    f.ex.cloud.createTags({ resourceIds: [f.ex.ids.lb1Eni], tags: { [HEARTBEAT_TAG]: String(++beats) } });
    lastBeatAt = Date.now();
  };
  const beating = setInterval(beat, 100);
  t.after(() => clearInterval(beating));
  // THEN we yield for longer than the stale period
  await until('a yield', () => f.named('contest').some((e) => e['action'] === 'yield'));
  await sleep(2 * STALE_MS);
  assert.equal(f.target(table), f.ex.ids.lb1Eni);
  assert.equal(f.named('holder-stale').length, 0);
  // WHEN lb1 stops beating (it died while cut off)
  clearInterval(beating);
  // THEN the table comes back to us, no earlier than the stale period after the last beat
  await until('table back on lb2', () => f.target(table) === f.ex.ids.lb2Eni);
  assert.ok(Date.now() - lastBeatAt >= STALE_MS, `retaken ${Date.now() - lastBeatAt} ms after the last beat`);
  assert.deepEqual(f.named('holder-stale').map((e) => [e['resource'], e['holder'], e['eni']]), [[table, 'lb1', f.ex.ids.lb1Eni]]);
});

