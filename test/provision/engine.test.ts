/**
 * The plan/apply engine's rules (src/provision/engine.ts), with resources whose state is a plain
 * variable: the order check, conflicts blocking their dependents, refusal before any write,
 * adoption of what an interrupted run made, the read-back, the text of a plan. The engine against
 * real IAM and S3 APIs: test/provision/up-lab.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ObservedResource, ProvisionResource } from '../../src/cloud/provision-kind.js';
import { applyProvision, formatPlan, planCounts, planNotes, planProvision } from '../../src/provision/engine.js';
import { OverlayError } from '../../src/util/errors.js';

interface Thing {
  state: ObservedResource;
  /** What create does to the state (default: owned, no changes). */
  onCreate?: () => void;
}

/** A resource over `thing`, recording every call in `calls`. */
function resource(label: string, thing: Thing, calls: string[], dependsOn: string[] = []): ProvisionResource {
  return {
    kind: label.split(' ')[0]!, label, dependsOn,
    observe: () => {
      calls.push(`observe ${label}`);
      return Promise.resolve(thing.state);
    },
    create: () => {
      calls.push(`create ${label}`);
      if (thing.onCreate) thing.onCreate();
      else thing.state = { state: 'owned', changes: [] };
      return Promise.resolve();
    },
    update: (changes) => {
      calls.push(`update ${label} ${changes.join(',')}`);
      thing.state = { state: 'owned', changes: [] };
      return Promise.resolve();
    },
  };
}

const signal = AbortSignal.timeout(10_000);

void test('plan: create, change, leave; a conflict blocks what depends on it, directly or not, and nothing else', async () => {
  const calls: string[] = [];
  const rs = [
    resource('role r', { state: { state: 'foreign', reason: 'untagged', fix: 'rename it' } }, calls),
    resource('policy p', { state: { state: 'absent' } }, calls, ['role r']),
    resource('member m', { state: { state: 'absent' } }, calls, ['policy p']),
    resource('bucket b', { state: { state: 'owned', changes: ['versioning'] } }, calls),
    resource('object o', { state: { state: 'owned', changes: [] } }, calls, ['bucket b']),
    resource('object n', { state: { state: 'absent' } }, calls, ['bucket b']),
  ];
  const plan = await planProvision(rs, [{ kind: 'security-group', label: 'security group', why: 'waits for the lab' }], { signal });
  assert.deepEqual(plan.steps.map((s) => [s.label, s.action, s.changes]), [
    ['role r', 'conflict', []], ['policy p', 'blocked', []], ['member m', 'blocked', []],
    ['bucket b', 'change', ['versioning']], ['object o', 'leave', []], ['object n', 'create', []],
  ]);
  assert.equal(plan.steps[2]?.reason, 'it depends on policy p, which up may not use');
  // Blocked resources are not even read.
  assert.deepEqual(calls, ['observe role r', 'observe bucket b', 'observe object o', 'observe object n']);
  assert.deepEqual(planCounts(plan), { create: 1, change: 1, leave: 1, conflict: 1, blocked: 2 });
  assert.deepEqual(formatPlan(plan), [
    '  ! conflict role r: untagged. Fix: rename it',
    '  ! blocked  policy p: it depends on role r, which up may not use',
    '  ! blocked  member m: it depends on policy p, which up may not use',
    '  ~ change   bucket b (versioning)',
    '  = leave    object o',
    '  + create   object n',
    'Not provisioned yet by this version of up (create them as docs/install.md describes):',
    '  - security group: waits for the lab',
    'Plan: 1 to create, 1 to change, 1 left alone, 1 conflict, 2 blocked.',
  ]);
  // Apply refuses before its first write.
  calls.length = 0;
  await assert.rejects(applyProvision(plan, rs, { signal }), (err: OverlayError) => err.code === 'PROVISION_CONFLICT' && /^nothing was changed: role r: untagged; fix: rename it$/.test(err.message));
  assert.deepEqual(calls, []);
});

void test('apply: creates and changes in order, each read back; a plan with nothing to do calls nothing', async () => {
  const calls: string[] = [];
  const rs = [
    resource('role r', { state: { state: 'absent' } }, calls),
    resource('policy p', { state: { state: 'owned', changes: ['policy document'] } }, calls, ['role r']),
    resource('bucket b', { state: { state: 'owned', changes: [] } }, calls),
  ];
  const plan = await planProvision(rs, [], { signal });
  calls.length = 0;
  const steps: string[] = [];
  const result = await applyProvision(plan, rs, { signal, onStep: (s) => steps.push(`${s.action} ${s.label}`) });
  assert.deepEqual(result, { created: ['role r'], changed: ['policy p'], adopted: [] });
  assert.deepEqual(calls, ['create role r', 'observe role r', 'update policy p policy document', 'observe policy p']);
  assert.deepEqual(steps, ['create role r', 'change policy p']);
  const again = await planProvision(rs, [], { signal });
  calls.length = 0;
  assert.deepEqual(await applyProvision(again, rs, { signal }), { created: [], changed: [], adopted: [] });
  assert.deepEqual(calls, []);
  assert.deepEqual(formatPlan(again).at(-1), 'Plan: 0 to create, 0 to change, 3 left alone.');
});

void test('notes: what differs but up leaves as it is is shown under its step and never acted on; a change beside it is made', async () => {
  const calls: string[] = [];
  const note = 'i-1 runs with instance type t3.small, the spec says t3.medium. up does not replace a running node: ...';
  const rs = [
    resource('instance a', { state: { state: 'owned', changes: [], notes: [note] } }, calls),
    resource('instance b', { state: { state: 'owned', changes: ['source/dest check on'], notes: [note] } }, calls),
    resource('bucket c', { state: { state: 'owned', changes: [], notes: [] } }, calls),
  ];
  const plan = await planProvision(rs, [], { signal });
  assert.deepEqual(plan.steps.map((s) => [s.action, s.notes]), [['leave', [note]], ['change', [note]], ['leave', undefined]]);
  assert.deepEqual(formatPlan(plan), [
    '  = leave    instance a', `      left as it is: ${note}`,
    '  ~ change   instance b (source/dest check on)', `      left as it is: ${note}`,
    '  = leave    bucket c',
    'Plan: 0 to create, 1 to change, 2 left alone.',
  ]);
  assert.deepEqual(planNotes(plan), [`instance a: ${note}`, `instance b: ${note}`]);
  calls.length = 0;
  assert.deepEqual(await applyProvision(plan, rs, { signal }), { created: [], changed: ['instance b'], adopted: [] });
  assert.deepEqual(calls, ['update instance b source/dest check on', 'observe instance b']);
});

void test('apply: a create that fails but finds the resource made (an earlier run\'s call landed) adopts it; otherwise the error stands', async () => {
  const calls: string[] = [];
  const landed: Thing = { state: { state: 'absent' } };
  landed.onCreate = () => {
    landed.state = { state: 'owned', changes: ['versioning'] };
    throw new OverlayError('CLOUD_CONFLICT', 'BucketAlreadyOwnedByYou');
  };
  const rs = [resource('bucket b', landed, calls)];
  const result = await applyProvision(await planProvision(rs, [], { signal }), rs, { signal });
  assert.deepEqual(result, { created: [], changed: [], adopted: ['bucket b'] });
  assert.deepEqual(calls.slice(1), ['create bucket b', 'observe bucket b', 'update bucket b versioning', 'observe bucket b']);

  const failing: Thing = { state: { state: 'absent' } };
  failing.onCreate = () => {
    throw new OverlayError('CLOUD_UNAUTHORIZED', 'may not call s3:CreateBucket');
  };
  const rs2 = [resource('bucket c', failing, [])];
  await assert.rejects(applyProvision(await planProvision(rs2, [], { signal }), rs2, { signal }), { code: 'CLOUD_UNAUTHORIZED' });
});

void test('apply: a resource not as up left it after its write is reported (another tool changes it meanwhile)', async () => {
  const racing: Thing = { state: { state: 'absent' } };
  racing.onCreate = () => {
    racing.state = { state: 'foreign', reason: 'someone else', fix: '-' };
  };
  const rs = [resource('object o', racing, [])];
  await assert.rejects(applyProvision(await planProvision(rs, [], { signal }), rs, { signal }), (err: OverlayError) => err.code === 'CLOUD_CONFLICT' && /^object o is not as up left it \(foreign\)/.test(err.message));
});

void test('resources out of dependency order or with one label twice are a bug, found before any call', async () => {
  const calls: string[] = [];
  await assert.rejects(planProvision([resource('policy p', { state: { state: 'absent' } }, calls, ['role r']), resource('role r', { state: { state: 'absent' } }, calls)], [], { signal }), /policy p depends on role r, which does not come before it/);
  await assert.rejects(planProvision([resource('role r', { state: { state: 'absent' } }, calls), resource('role r', { state: { state: 'absent' } }, calls)], [], { signal }), /two resources are labelled "role r"/);
  assert.deepEqual(calls, []);
});
