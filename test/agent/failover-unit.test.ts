/**
 * The agent's failover unit (src/agent/failover-unit.ts) with real parts: the lab's IMDSv2 and
 * EC2-compatible API over HTTP on loopback (the unit's own driver, the AWS SDK, the instance
 * role's credentials from IMDS, the nodes' least-privilege policy), a real haproxy for the drain
 * reload, the agent's own task supervisor and problem board. "We" are lb2 of the example cloud
 * (priority 100); lb1 (priority 200) is the peer, whose moves the test makes in the lab's cloud
 * directly. The connection handoff manager is the real one without its link (not started: no
 * namespace), so no peer answers, as on a node whose link is down.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeferredClaimer, DeferredInstances } from '../../src/agent/deferred-cloud.js';
import { HaproxyReloads } from '../../src/agent/drain-reload.js';
import { FailoverUnit } from '../../src/agent/failover-unit.js';
import { ProblemBoard } from '../../src/agent/problems.js';
import { AgentTasks } from '../../src/agent/tasks.js';
import type { PipelineStatus } from '../../src/apply/pipeline.js';
import { lbNodePolicy } from '../../src/cloud/aws/iam-policy.js';
import { HEARTBEAT_TAG } from '../../src/cloud/types.js';
import { createFailoverMetrics } from '../../src/failover/metrics.js';
import type { Reloader } from '../../src/haproxy/master-cli.js';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { startImds } from '../../src/lab/imds/server.js';
import type { ClusterNode, Spec } from '../../src/model/spec.js';
import { HandoffManager } from '../../src/handoff/handoff-manager.js';
import { OverlayError } from '../../src/util/errors.js';
import { createLogger } from '../../src/util/log.js';
import { Registry } from '../../src/util/metrics.js';
import { startNamedBackends } from '../helpers/backends.js';
import { makeSpec } from '../helpers/model-builders.js';
import { makeFixture, renderTestConfig, startFixtureHaproxy } from '../haproxy/fixture.js';

const REGION = 'eu-west-1';
/** The unit polls every 2 s after losing mastership: three polls, for "nothing happened" checks. */
const QUIET_MS = 6500;

/** What the test switches while the unit runs. */
interface Knobs {
  /** IMDS knows this node (false: it answers 404 to everything, as before the instance is known). */
  imdsUp: boolean;
}

interface Fixture {
  readonly ex: ExampleCloud;
  readonly unit: FailoverUnit;
  readonly knobs: Knobs;
  readonly problems: ProblemBoard;
  readonly instances: DeferredInstances;
  readonly tables: readonly string[];
  /** The unit's lifetime (the agent's signal). */
  readonly stop: AbortController;
  /** The agent's fatal abort: a supervised task that failed. */
  readonly fatal: AbortController;
  /** Resolves when the unit's controller and every task it started have ended. */
  stopped(): Promise<void>;
  /** EC2 API requests answered, and IMDS requests seen, so far. */
  calls(): { ec2: number; imds: number };
  /** haproxy's current worker pids. */
  workers(): Promise<number[]>;
  target(table: string): string | undefined;
  pointAllAt(eni: string): void;
  /** Log lines with this `event`, so far. */
  named(name: string): Record<string, unknown>[];
}

/** A pipeline with nothing to report: the board's own problems only. */
const NO_PIPELINE: PipelineStatus = { node: 'lb2', specHash: '', publishedGeneration: 0, appliedGeneration: 0, applying: false, pending: false, sources: [], held: [],
  counts: { applies: 0, reloads: 0, runtime: 0, fallbacks: 0, failures: 0, discoveryRestarts: 0 },
};

/** Where no drain is expected: a reload fails the drain, which the test sees as `drain-failed`. */
const NO_RELOAD: Reloader = { reload: () => Promise.reject(new Error('no drain expected in this test')) };

async function fixture(t: TestContext, options: { imdsUp: boolean; haproxy: boolean }): Promise<Fixture> {
  const ex = buildExampleCloud({ region: REGION });
  ex.cloud.putRolePolicy('lb-node', lbNodePolicy({ arn: (type, id) => ex.cloud.arn(type, id), vpcId: ex.ids.vpc, eipAllocationId: null }));
  const knobs: Knobs = { imdsUp: options.imdsUp };
  const counts = { ec2: 0, imds: 0 };
  const servers = new AbortController();
  const api = await startEc2Api({ cloud: ex.cloud, host: '127.0.0.1', port: 0, signal: servers.signal, credentials: [], onRequest: () => void counts.ec2++ });
  const imds = await startImds({
    host: '127.0.0.1', port: 0, signal: servers.signal, requireV2: true,
    // 127.0.0.1 stands for lb2 (the lab maps a caller's private address to its instance).
    resolveInstance: (address) => {
      counts.imds++;
      return address === '127.0.0.1' && knobs.imdsUp ? ex.cloud.instanceIdentity(ex.ids.lb2) : undefined;
    },
  });
  t.after(async () => {
    servers.abort();
    await api.close();
    await imds.close();
  });

  const limit = AbortSignal.timeout(100_000);
  let reloads: HaproxyReloads | null = null;
  let workers = (): Promise<number[]> => Promise.resolve([]);
  const events: Record<string, unknown>[] = [];
  const log = createLogger({ write: (line) => void events.push(JSON.parse(line) as Record<string, unknown>), level: 'debug' });
  if (options.haproxy) {
    const backends = await startNamedBackends({ names: ['app', 'other'], signal: limit });
    t.after(() => backends.close());
    const f = await makeFixture(t, limit);
    const proc = await startFixtureHaproxy(t, f, renderTestConfig(f, { s1Port: backends.portOf('app'), otherPort: backends.portOf('other') }), limit);
    reloads = new HaproxyReloads({ dir: f.dir, reloader: proc.master, log });
    workers = async () => (await proc.master.showProc({ signal: limit })).workers.map((w) => w.pid).sort();
  }

  const base = makeSpec();
  const nodes: ClusterNode[] = [
    { name: 'lb1', address: '10.0.1.10', zone: `${REGION}a`, priority: 200, interface: 'eth0' },
    { name: 'lb2', address: '10.0.2.10', zone: `${REGION}b`, priority: 100, interface: 'eth0' },
  ];
  const spec: Spec = {
    ...base,
    cluster: {
      ...base.cluster, vip: ex.vip.replace(/\/32$/, ''), nodes,
      vrrp: { ...base.cluster.vrrp, preemptDelayMs: 1000 },
      cloud: { provider: 'lab', region: REGION, vpcId: ex.ids.vpc, routeTables: { kind: 'all', exclude: [] }, failover: 'route', recheckIntervalMs: 500 },
    },
  };
  const self = nodes[1]!;
  const stop = new AbortController();
  const fatal = new AbortController();
  const problems = new ProblemBoard();
  const registry = new Registry();
  const tasks = new AgentTasks({ signal: stop.signal, fatal, log, problems, restarts: registry.counter('test_task_restarts_total', 'restarts') });
  const instances = new DeferredInstances();
  let unit: FailoverUnit | null = null;
  const handoff = new HandoffManager({
    runDir: '/nonexistent-olb-failover-unit-test', vip: spec.cluster.vip, self, nodes, log, advertIntervalMs: 100, peerPort: 8406,
    view: () => unit?.peerView() ?? { node: self.name, vrrp: 'INIT', healthy: false },
  });
  unit = new FailoverUnit({
    spec, node: self, instance: 'VI_test', handoff, health: { healthy: true }, instances,
    // Without haproxy, a drain would be a test failure: a reloader that refuses says so.
    reloads: reloads ?? new HaproxyReloads({ dir: '/nonexistent-olb-failover-unit-test', reloader: NO_RELOAD, log }),
    tasks, problems, metrics: createFailoverMetrics(registry), log, signal: stop.signal,
    ec2Endpoint: api.url, imdsEndpoint: imds.url,
  });
  const running = unit.run(stop.signal);
  let ended: Promise<void> | null = null;
  const stopped = (): Promise<void> => (ended ??= (async () => {
    stop.abort();
    await running;
    await tasks.settled();
  })());
  t.after(() => stopped());
  const tables = [ex.ids.mainRouteTable, ex.ids.routeTableA, ex.ids.routeTableB];
  const target = (table: string): string | undefined => {
    const r = ex.cloud.view().routeTables[table]?.routes.find((x) => x.destinationCidrBlock === ex.vip);
    return r && 'networkInterfaceId' in r.target ? r.target.networkInterfaceId : undefined;
  };
  return {
    ex, unit, knobs, problems, instances, tables, stop, fatal, stopped, workers, target,
    calls: () => ({ ...counts }),
    pointAllAt: (eni) => { for (const table of tables) ex.cloud.replaceRoute({ routeTableId: table, destinationCidrBlock: ex.vip, target: { networkInterfaceId: eni } }); },
    named: (name) => events.filter((e) => e['event'] === name),
  };
}

async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

function problemComponents(f: Fixture): string[] {
  return f.problems.list(NO_PIPELINE).map((p) => p.component);
}

void test('failover unit: the identity is looked up in the background; a MASTER transition waits for it, then claims every owned table with the real claimer', { timeout: 120_000 }, async (t) => {
  const f = await fixture(t, { imdsUp: false, haproxy: false });
  // GIVEN IMDS does not know this node yet: the unit exists at once, with stand-ins
  assert.equal(f.unit.identity, null);
  assert.ok(f.unit.claimer instanceof DeferredClaimer);
  assert.equal(f.unit.claimer.real, null);
  assert.equal(f.unit.claimer.mode, 'route');
  await until('the failed lookup reported as a problem', () => problemComponents(f).includes('cloud') && f.named('identity-failed').length > 0);
  await assert.rejects(f.instances.describeInstancesByTags({ role: 'app' }, { signal: AbortSignal.timeout(5000) }), (err: unknown) => err instanceof OverlayError && err.code === 'CLOUD_UNAVAILABLE');
  assert.equal(f.fatal.signal.aborted, false, 'a failing IMDS never stops the agent');
  // WHEN keepalived says MASTER before the identity is known: the claim waits, nothing moves
  f.unit.onTransition('MASTER', 'test');
  assert.equal(f.unit.peerView().vrrp, 'MASTER');
  await sleep(1500);
  assert.deepEqual(f.tables.map((x) => f.target(x)), f.tables.map(() => f.ex.ids.lb1Eni));
  // WHEN IMDS answers THEN the identity is lb2's, the real claimer and heartbeat replace the
  // stand-ins, the problem clears, and the waiting claim moves every owned table to lb2
  f.knobs.imdsUp = true;
  await until('every table on lb2', () => f.tables.every((x) => f.target(x) === f.ex.ids.lb2Eni) && f.unit.controller.status().phase === 'holding');
  assert.deepEqual(f.unit.identity, { instanceId: f.ex.ids.lb2, region: REGION, availabilityZone: `${REGION}b`, networkInterfaceId: f.ex.ids.lb2Eni, privateIp: '10.0.2.10' });
  assert.notEqual(f.unit.claimer.real, null);
  assert.ok(!problemComponents(f).includes('cloud'));
  assert.deepEqual(f.named('identity').map((e) => e['instanceId']), [f.ex.ids.lb2]);
  // The heartbeat is the real one: the master's tag appears on its ENI.
  await until('the heartbeat tag on lb2\'s ENI', () => Object.keys(f.ex.cloud.view().networkInterfaces[f.ex.ids.lb2Eni]?.tags ?? {}).includes(HEARTBEAT_TAG));
  // ec2-tags discovery gets the same client: the lookup answers now
  const found = await f.instances.describeInstancesByTags({ Name: 'lb1' }, { signal: AbortSignal.timeout(10_000) });
  assert.ok(JSON.stringify(found).includes('10.0.1.10'), `lb1 found by its tag: ${JSON.stringify(found)}`);
  assert.equal(f.fatal.signal.aborted, false);
});

void test('failover unit: after losing mastership it drains once every route has left, not before; another transition ends a waiting drain', { timeout: 180_000 }, async (t) => {
  const f = await fixture(t, { imdsUp: true, haproxy: true });
  f.unit.onTransition('MASTER', 'test');
  await until('every table on lb2', () => f.tables.every((x) => f.target(x) === f.ex.ids.lb2Eni) && f.unit.controller.status().phase === 'holding');
  const before = await f.workers();
  // WHEN mastership is lost while the routes still point here THEN no drain (they have not left)
  f.unit.onTransition('BACKUP', 'test');
  await sleep(QUIET_MS);
  assert.equal(f.named('drain').length, 0);
  assert.deepEqual(await f.workers(), before);
  assert.deepEqual(f.tables.map((x) => f.target(x)), f.tables.map(() => f.ex.ids.lb2Eni), 'BACKUP deletes nothing and moves nothing');
  // WHEN lb1 takes every route (a failback) THEN haproxy is reloaded to drain, once
  f.pointAllAt(f.ex.ids.lb1Eni);
  await until('the drain', () => f.named('drain').length === 1);
  assert.equal(f.named('drain')[0]?.['why'], 'lost mastership and every route moved away');
  await until('new haproxy workers', async () => (await f.workers()).every((pid) => !before.includes(pid)));
  await sleep(QUIET_MS);
  assert.equal(f.named('drain').length, 1, 'one drain per loss');

  // GIVEN master again, then BACKUP with the routes still here (a drain waiting)
  f.unit.onTransition('MASTER', 'test');
  await until('every table back on lb2', () => f.tables.every((x) => f.target(x) === f.ex.ids.lb2Eni) && f.unit.controller.status().phase === 'holding');
  f.unit.onTransition('BACKUP', 'test');
  await sleep(2500);
  // WHEN another transition comes before the routes leave (FAULT) THEN that drain ends: the routes
  // leaving later reload nothing
  f.unit.onTransition('FAULT', 'test');
  f.pointAllAt(f.ex.ids.lb1Eni);
  await sleep(QUIET_MS);
  assert.equal(f.named('drain').length, 1);
  assert.equal(f.named('drain-failed').length, 0);
  assert.equal(f.fatal.signal.aborted, false);
});

void test('failover unit: stopping leaves nothing running (identity lookup, controller, a waiting drain), and no task failure is reported', { timeout: 120_000 }, async (t) => {
  // An identity lookup that never succeeds: stopping ends its retries.
  const lost = await fixture(t, { imdsUp: false, haproxy: false });
  await until('the lookup retried', () => lost.named('identity-failed').length >= 2);
  await lost.stopped();
  const afterLost = lost.calls();
  // A master with a drain waiting after losing mastership: stopping ends the re-checks and the drain.
  const busy = await fixture(t, { imdsUp: true, haproxy: false });
  busy.unit.onTransition('MASTER', 'test');
  await until('every table on lb2', () => busy.tables.every((x) => busy.target(x) === busy.ex.ids.lb2Eni) && busy.unit.controller.status().phase === 'holding');
  busy.unit.onTransition('BACKUP', 'test');
  await sleep(2500);
  await busy.stopped();
  const afterBusy = busy.calls();
  // THEN no more calls go out: not to IMDS, not to the EC2 API (the unit re-checks every 0.5 s,
  // the drain polls every 2 s, the lookup retries every 1 s and more)
  await sleep(QUIET_MS);
  assert.deepEqual(lost.calls(), afterLost);
  assert.deepEqual(busy.calls(), afterBusy);
  for (const f of [lost, busy]) {
    assert.equal(f.fatal.signal.aborted, false, 'a stop is not a task failure');
    assert.equal(f.named('agent-task-failed').length, 0);
    assert.equal(f.named('drain').length + f.named('drain-failed').length, 0);
  }
});
