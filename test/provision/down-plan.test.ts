/**
 * The down engine's rules (src/provision/down-plan.ts), with resources whose state is a plain
 * variable: removal in reverse dependency order, foreign resources left alone (and what depends
 * on one keeps its dependency), a kind without remove() refused before the first write, the
 * read-back, idempotence, and the text of a plan. Against the lab's real IAM and S3:
 * test/provision/down-lab.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ObservedResource, ProvisionResource } from '../../src/cloud/provision-kind.js';
import { applyDown, downCounts, formatDownPlan, planDown } from '../../src/provision/down-plan.js';
import { ManualClock } from '../../src/util/clock.js';
import { OverlayError } from '../../src/util/errors.js';

interface Thing {
  state: ObservedResource;
  /** What remove does to the state (default: absent). */
  onRemove?: () => void;
}

/** A resource over `thing`, recording every call in `calls`; `removable: false` leaves out remove(). */
function resource(label: string, thing: Thing, calls: string[], options: { dependsOn?: string[]; removable?: boolean } = {}): ProvisionResource {
  const r: ProvisionResource = {
    kind: label.split(' ')[0]!, label, dependsOn: options.dependsOn ?? [],
    observe: () => {
      calls.push(`observe ${label}`);
      return Promise.resolve(thing.state);
    },
    create: () => Promise.reject(new Error('down never creates')),
    update: () => Promise.reject(new Error('down never updates')),
  };
  if (options.removable === false) return r;
  return {
    ...r,
    remove: () => {
      calls.push(`remove ${label}`);
      if (thing.onRemove) thing.onRemove();
      else thing.state = { state: 'absent' };
      return Promise.resolve();
    },
  };
}

const owned = (): Thing => ({ state: { state: 'owned', changes: [] } });
const signal = AbortSignal.timeout(10_000);

void test('down plan: owned ones removed in reverse dependency order, absent ones already gone, foreign ones left alone; apply removes and reads back each', async () => {
  const calls: string[] = [];
  const rs = [
    resource('role r', owned(), calls),
    resource('policy p', owned(), calls, { dependsOn: ['role r'] }),
    resource('profile f', { state: { state: 'absent' } }, calls),
    resource('member m', owned(), calls, { dependsOn: ['role r', 'profile f'] }),
    resource('bucket b', owned(), calls),
    resource('object o', owned(), calls, { dependsOn: ['bucket b'] }),
  ];
  const plan = await planDown(rs, [{ kind: 'security-group', label: 'security group', why: 'waits' }], { signal });
  assert.deepEqual(plan.steps.map((s) => [s.label, s.action]), [
    ['object o', 'remove'], ['bucket b', 'remove'], ['member m', 'remove'], ['profile f', 'gone'], ['policy p', 'remove'], ['role r', 'remove'],
  ]);
  assert.deepEqual(formatDownPlan(plan), [
    '  - remove      object o', '  - remove      bucket b', '  - remove      member m', '  . gone        profile f (already gone)', '  - remove      policy p', '  - remove      role r',
    'Not provisioned by this version of up, so not removed by down (remove them as you made them):', '  - security group',
    'Plan: 5 to remove, 1 already gone, 0 left alone.',
  ]);
  calls.length = 0;
  const steps: string[] = [];
  const result = await applyDown(plan, rs, { signal, onStep: (s) => steps.push(s.label) });
  assert.deepEqual(result, { removed: ['object o', 'bucket b', 'member m', 'policy p', 'role r'], leftAlone: [] });
  assert.deepEqual(calls, ['remove object o', 'observe object o', 'remove bucket b', 'observe bucket b', 'remove member m', 'observe member m', 'remove policy p', 'observe policy p', 'remove role r', 'observe role r']);
  assert.deepEqual(steps, ['object o', 'bucket b', 'member m', 'policy p', 'role r']);
  // A second down: everything already gone, no remove call.
  calls.length = 0;
  const again = await planDown(rs, [], { signal });
  assert.deepEqual(downCounts(again), { remove: 0, gone: 6, keep: 0, blocked: 0, unsupported: 0 });
  assert.deepEqual(await applyDown(again, rs, { signal }), { removed: [], leftAlone: [] });
  assert.ok(calls.every((c) => c.startsWith('observe ')), calls.join(', '));
});

void test('down plan: a foreign resource is left alone (not an error), and what it depends on is kept with it; the rest is removed', async () => {
  const calls: string[] = [];
  const rs = [
    resource('role r', { state: { state: 'foreign', reason: 'not made by up: no tag', fix: 'down never deletes it' } }, calls),
    resource('policy p', { state: { state: 'foreign', reason: 'its role is not up\'s', fix: '-' } }, calls, { dependsOn: ['role r'] }),
    resource('bucket b', owned(), calls),
    resource('object o', { state: { state: 'foreign', reason: 'not made by up: unmarked', fix: 'down never deletes it' } }, calls, { dependsOn: ['bucket b'] }),
    resource('object q', owned(), calls, { dependsOn: ['bucket b'] }),
  ];
  const plan = await planDown(rs, [], { signal });
  assert.deepEqual(plan.steps.map((s) => [s.label, s.action, s.reason]), [
    ['object q', 'remove', undefined], ['object o', 'keep', 'not made by up: unmarked'], ['bucket b', 'blocked', 'object o depends on it and is left alone'],
    ['policy p', 'keep', 'its role is not up\'s'], ['role r', 'keep', 'not made by up: no tag'],
  ]);
  assert.equal(formatDownPlan(plan)[1], '  = left alone  object o: not made by up: unmarked. down never deletes it');
  assert.equal(formatDownPlan(plan)[2], '  ! blocked     bucket b: object o depends on it and is left alone');
  assert.equal(formatDownPlan(plan).at(-1), 'Plan: 1 to remove, 0 already gone, 4 left alone.');
  calls.length = 0;
  const result = await applyDown(plan, rs, { signal });
  assert.deepEqual(result.removed, ['object q']);
  assert.deepEqual(result.leftAlone.map((l) => l.label), ['object o', 'bucket b', 'policy p', 'role r']);
  assert.deepEqual(calls, ['remove object q', 'observe object q']);
});

void test('down: a kind without remove() refuses before the first write, naming the kind; absent resources of that kind do not', async () => {
  const calls: string[] = [];
  const rs = [
    resource('role r', owned(), calls),
    resource('instance i', owned(), calls, { dependsOn: ['role r'], removable: false }),
  ];
  const plan = await planDown(rs, [], { signal });
  assert.deepEqual(plan.steps.map((s) => s.action), ['unsupported', 'remove']);
  assert.match(formatDownPlan(plan)[0]!, /^ {2}! unsupported instance i: this version of overlay-lb cannot remove a resource of kind instance; delete it by hand/);
  calls.length = 0;
  await assert.rejects(applyDown(plan, rs, { signal }), (err: OverlayError) => err.code === 'DOWN_UNSUPPORTED' && /^nothing was removed: this version of overlay-lb cannot remove a resource of kind instance \(instance i\)/.test(err.message));
  assert.deepEqual(calls, []);
  const gone = [resource('role r', owned(), calls), resource('instance i', { state: { state: 'absent' } }, calls, { dependsOn: ['role r'], removable: false })];
  assert.deepEqual((await applyDown(await planDown(gone, [], { signal }), gone, { signal })).removed, ['role r']);
});

void test('down: a removal that does not stick (another tool writes it back) is reported after the read-back deadline; a failing removal stops there', async () => {
  const clock = new ManualClock(0);
  const back: Thing = owned();
  back.onRemove = () => undefined; // still owned after remove
  const rs = [resource('object o', back, [])];
  const plan = await planDown(rs, [], { signal });
  const applying = applyDown(plan, rs, { signal, clock });
  // Advance the injected clock past the read-back deadline while the retries sleep.
  const ticking = (async () => {
    for (let i = 0; i < 200 && clock.now() < 70_000; i++) {
      await new Promise((r) => setImmediate(r));
      await clock.advance(1_000);
    }
  })();
  await assert.rejects(applying, (err: OverlayError) => err.code === 'CLOUD_CONFLICT' && /^object o is still there 60 s after down removed it/.test(err.message));
  await ticking;

  const calls: string[] = [];
  const failing: Thing = owned();
  failing.onRemove = () => {
    throw new OverlayError('CLOUD_UNAUTHORIZED', 'may not call s3:DeleteBucket');
  };
  const rs2 = [resource('bucket b', failing, calls), resource('object o', owned(), calls, { dependsOn: ['bucket b'] })];
  await assert.rejects(applyDown(await planDown(rs2, [], { signal }), rs2, { signal }), { code: 'CLOUD_UNAUTHORIZED' });
  // The object was removed before the bucket failed; a rerun finds it gone and retries the bucket.
  assert.deepEqual((await planDown(rs2, [], { signal })).steps.map((s) => s.action), ['gone', 'remove']);
});

void test('down plan: observeRemoval, where a resource has it, is what down reads', async () => {
  const calls: string[] = [];
  const base = resource('object o', { state: { state: 'absent' } }, calls);
  const r: ProvisionResource = { ...base, observeRemoval: () => Promise.resolve({ state: 'owned', changes: [] }) };
  assert.deepEqual((await planDown([r], [], { signal })).steps.map((s) => s.action), ['remove']);
});
