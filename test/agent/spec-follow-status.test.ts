/**
 * When an agent writes its published status (src/agent/spec-follow.ts): the status key lives in
 * a versioned bucket that keeps every write, so an unchanged status is refreshed only every
 * `refreshMs` (stated as `intervalMs`), while a change a reader uses (VRRP state, health,
 * problems, open sessions, the spec version after a pointer) is written at once. Driven with a
 * manual clock and an in-memory bucket port; the S3 side is the lab e2e's (cluster-rollout).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { AgentStatus, Problem, PublishedNodeStatus } from '../../src/agent-api/contract.js';
import { SpecFollower, statusSignature, type DesiredRead, type ReleaseFollowApi } from '../../src/agent/spec-follow.js';
import { ProblemBoard } from '../../src/agent/problems.js';
import type { Spec } from '../../src/model/spec.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import { Counter, Gauge } from '../../src/util/metrics.js';

const SPEC_TEXT = readFileSync(new URL('../../../examples/demo.yaml', import.meta.url), 'utf8');

interface World {
  readonly follower: SpecFollower;
  readonly clock: ManualClock;
  readonly writes: PublishedNodeStatus[];
  readonly state: { vrrp: string; healthy: boolean; problems: Problem[]; current: number; total: number; pointer: DesiredRead };
  readonly specs: Map<string, string>;
}

function world(o: { readonly intervalMs?: number; readonly refreshMs?: number } = {}): World {
  const clock = new ManualClock(1_000_000);
  const writes: PublishedNodeStatus[] = [];
  const specs = new Map<string, string>();
  const parsed = parseSpec(SPEC_TEXT, { file: 'demo.yaml' });
  assert.ok(parsed.ok);
  let current: { spec: Spec; hash: string } = { spec: parsed.spec, hash: 'f'.repeat(64) };
  const state: World['state'] = { vrrp: 'BACKUP', healthy: true, problems: [], current: 0, total: 0, pointer: { kind: 'absent' } };
  const api: ReleaseFollowApi = {
    where: 's3://bucket/',
    readDesired: () => Promise.resolve(state.pointer),
    readSpecVersion: (v) => Promise.resolve(specs.get(v) ?? ''),
    publishStatus: (body) => {
      writes.push(JSON.parse(body) as PublishedNodeStatus);
      return Promise.resolve();
    },
  };
  const follower = new SpecFollower({
    api, node: 'lb-a', clock, log: silentLogger, problems: new ProblemBoard(),
    polls: new Counter('p', 'p'), lastSuccess: new Gauge('g', 'g'), publishes: new Counter('w', 'w'),
    ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }), ...(o.refreshMs === undefined ? {} : { refreshMs: o.refreshMs }),
    rollout: {
      get current() {
        return current;
      },
      offer: (next: { spec: Spec; hash: string }) => {
        current = next;
        return Promise.resolve({ result: 'applied', at: clock.now(), specHash: next.hash });
      },
    } as unknown as ConstructorParameters<typeof SpecFollower>[0]['rollout'],
    status: () => ({
      node: 'lb-a', address: '10.0.0.1', cluster: 'c', specHash: current.hash, configHash: null, specGeneration: 1,
      vrrp: { vrrp: state.vrrp }, haproxy: { pid: 1, alive: true, healthy: state.healthy }, keepalived: { pid: 2, alive: true },
      specRollout: null, problems: state.problems,
    }) as unknown as AgentStatus,
    traffic: () => Promise.resolve({ currentSessions: state.current, totalSessions: state.total }),
  });
  return { follower, clock, writes, state, specs };
}

const signal = new AbortController().signal;

void test('an unchanged status is written once, then refreshed within refreshMs, stating that interval', async () => {
  const w = world({ intervalMs: 10_000, refreshMs: 60_000 });
  assert.equal(await w.follower.publishIfChanged(signal), true);
  assert.equal(w.writes[0]?.intervalMs, 60_000, 'readers derive staleness from the refresh interval');
  // Polls every 10 s: nothing changed (the session total grows, timestamps move): nothing written
  // until one more poll would leave the status older than 60 s.
  for (let t = 10_000; t <= 50_000; t += 10_000) {
    await w.clock.advance(10_000);
    w.state.total += 5;
    assert.equal(await w.follower.publishIfChanged(signal), false, `no write ${t / 1000} s after the last`);
  }
  await w.clock.advance(1);
  assert.equal(await w.follower.publishIfChanged(signal), true, 'refreshed before 60 s passed');
  assert.equal(w.writes.length, 2);
  assert.equal(w.writes[1]?.traffic.totalSessions, 25, 'the refresh carries the grown total');
  assert.ok(w.writes[1].publishedAt - w.writes[0].publishedAt <= 60_000);
});

void test('a change a reader uses is written at the next poll: VRRP, health, problems, sessions opening; not a problem reported again', async () => {
  const w = world();
  await w.follower.publishIfChanged(signal);
  const step = async (name: string, change: () => void, wrote: boolean): Promise<void> => {
    await w.clock.advance(10_000);
    change();
    assert.equal(await w.follower.publishIfChanged(signal), wrote, name);
  };
  await step('VRRP BACKUP -> MASTER', () => { w.state.vrrp = 'MASTER'; }, true);
  await step('haproxy unhealthy', () => { w.state.healthy = false; }, true);
  await step('healthy again', () => { w.state.healthy = true; }, true);
  await step('a problem', () => { w.state.problems = [{ component: 'cloud', code: 'X', message: 'm', at: w.clock.now() }]; }, true);
  await step('the same problem reported again (new time)', () => { w.state.problems = [{ component: 'cloud', code: 'X', message: 'm', at: w.clock.now() }]; }, false);
  await step('the problem gone', () => { w.state.problems = []; }, true);
  await step('sessions open', () => { w.state.current = 2; w.state.total = 2; }, true);
  await step('more sessions open, total grew', () => { w.state.current = 3; w.state.total = 7; }, false);
  await step('sessions closed', () => { w.state.current = 0; }, true);
});

void test('a new version from the pointer is published at once, not at the next refresh', async () => {
  const w = world();
  await w.follower.publishIfChanged(signal);
  const parsed = parseSpec(SPEC_TEXT, { file: 'demo.yaml' });
  assert.ok(parsed.ok);
  w.specs.set('v2', SPEC_TEXT);
  w.state.pointer = { kind: 'found', etag: '"e1"', body: JSON.stringify({ format: 1, specVersion: 'v2', specHash: parsed.hash, writtenAt: 0 }) };
  await w.clock.advance(1_000);
  assert.equal(await w.follower.pollOnce(signal), 'applied');
  assert.equal(w.writes.length, 2);
  assert.equal(w.writes[1]?.specVersion, 'v2');
  assert.equal(w.writes[1]?.publishedAt, w.clock.now());
});

void test('run: an idle agent writes its status about once a minute, not at every 10 s poll', async () => {
  const w = world();
  const ac = new AbortController();
  const running = w.follower.run(ac.signal);
  for (let i = 0; i < 60; i++) await w.clock.advance(10_000); // ten minutes
  ac.abort();
  await running;
  // 61 polls; the first write and then one per 60 s at most.
  assert.ok(w.writes.length >= 10 && w.writes.length <= 11, `${w.writes.length} writes in ten minutes`);
  for (let i = 1; i < w.writes.length; i++) assert.ok(w.writes[i]!.publishedAt - w.writes[i - 1]!.publishedAt <= 60_000);
});

void test('the refresh defaults to six polls, at most 60 s, never less than a poll', async () => {
  for (const [intervalMs, want] of [[10_000, 60_000], [1_000, 6_000], [30_000, 60_000], [90_000, 90_000]] as const) {
    const w = world({ intervalMs });
    await w.follower.publishIfChanged(signal);
    assert.equal(w.writes[0]?.intervalMs, want, `poll every ${intervalMs} ms`);
  }
});

void test('the signature ignores timestamps and the session total', () => {
  const base = { format: 1, publishedAt: 1, intervalMs: 60_000, specVersion: 'v1', status: { specHash: 'h', specGeneration: 1, configHash: null, specRollout: null, vrrp: { vrrp: 'MASTER' }, haproxy: { alive: true, healthy: true }, keepalived: { alive: true }, problems: [] } as unknown as AgentStatus, traffic: { currentSessions: 1, totalSessions: 5 } } as const;
  assert.equal(statusSignature(base), statusSignature({ ...base, publishedAt: 2, traffic: { currentSessions: 4, totalSessions: 9 } }));
  assert.notEqual(statusSignature(base), statusSignature({ ...base, specVersion: 'v2' }));
  assert.notEqual(statusSignature(base), statusSignature({ ...base, traffic: { currentSessions: 0, totalSessions: 5 } }));
});
