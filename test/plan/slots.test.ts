/**
 * Spare slot assignment: deterministic (sorted, independent of snapshot order), stable across
 * snapshots (a server keeps its slot), and the same after a restart from the same inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignSpareSlots, memberKey, nextPowerOfTwo } from '../../src/plan/slots.js';
import { plan } from '../../src/plan/planner.js';
import { baseSpec, edit, slotMap, stateOf, svc } from './fixtures.js';

const base = baseSpec();
/** The base spec with a 1000 ms drain time on every backend. */
const drain1000 = edit(base, (s) => {
  for (const b of s.backends) b.drainMs = 1000;
});
const A = '10.0.0.1:80';
const B = '10.0.0.2:80';
const C = '10.0.0.3:80';
const D = '10.0.0.4:80';
const E = '10.0.0.5:80';

void test('slots: without a previous state servers take slots in (address, port) order, whatever the snapshot order', () => {
  const orders = [[C, A, B], [B, C, A], [A, B, C]];
  const maps = orders.map((o) => slotMap(stateOf(base, svc(...o))));
  for (const m of maps) assert.deepEqual(m, { 'svc/olb-spare-1': `${A} ready`, 'svc/olb-spare-2': `${B} ready`, 'svc/olb-spare-3': `${C} ready` });
});

void test('slots: sorted by address then numeric port (not as strings)', () => {
  assert.deepEqual(slotMap(stateOf(base, svc('10.0.0.1:8080', '10.0.0.1:443'))), { 'svc/olb-spare-1': '10.0.0.1:443 ready', 'svc/olb-spare-2': '10.0.0.1:8080 ready' });
});

void test('slots: stable across snapshots given in different orders; new servers take the lowest free slot', () => {
  // GIVEN a, b, c in slots 1-3
  const s1 = stateOf(base, svc(C, B, A));
  // WHEN a leaves and d arrives (another order): d takes slot 4, not a's slot freed in this same step
  const s2 = stateOf(base, svc(D, C, B), { previous: s1 });
  assert.deepEqual(slotMap(s2), { 'svc/olb-spare-2': `${B} ready`, 'svc/olb-spare-3': `${C} ready`, 'svc/olb-spare-4': `${D} ready` });
  // WHEN e arrives later: it takes slot 1, now the lowest free one
  const s3 = stateOf(base, svc(B, E, D, C), { previous: s2 });
  assert.deepEqual(slotMap(s3), { 'svc/olb-spare-1': `${E} ready`, 'svc/olb-spare-2': `${B} ready`, 'svc/olb-spare-3': `${C} ready`, 'svc/olb-spare-4': `${D} ready` });
  // THEN the same inputs give the same state, node after node
  assert.deepEqual(stateOf(base, svc(E, D, C, B), { previous: s2 }), s3);
  // AND a restart (no previous state) starts again from the sorted order
  assert.deepEqual(slotMap(stateOf(base, svc(B, C, D, E))), { 'svc/olb-spare-1': `${B} ready`, 'svc/olb-spare-2': `${C} ready`, 'svc/olb-spare-3': `${D} ready`, 'svc/olb-spare-4': `${E} ready` });
});

void test('slots: when every slot is taken, a newcomer reuses the slot freed in the same step (one set addr, no reload)', () => {
  const full = stateOf(base, svc(A, B, C, D));
  const next = stateOf(base, svc(B, C, D, E), { previous: full });
  assert.deepEqual(slotMap(next)['svc/olb-spare-1'], `${E} ready`);
  assert.deepEqual(plan(full, next), {
    kind: 'runtime',
    // The old server's open requests are cut before the slot takes the new address.
    ops: [
      { op: 'shutdown-sessions', backend: 'svc', server: 'olb-spare-1' },
      { op: 'set-server-addr', backend: 'svc', server: 'olb-spare-1', address: '10.0.0.5', port: 80 },
    ],
    reasons: [
      { code: 'server-added', subject: 'svc/olb-spare-1', detail: E },
      { code: 'server-removed', subject: 'svc/olb-spare-1', detail: A },
    ],
  });
});

void test('slots: draining servers keep their slot, newcomers go elsewhere, and the deadline is reported', () => {
  const s1 = stateOf(base, svc(A, B));
  const s2 = stateOf(drain1000, svc(B, C), { previous: s1, now: 100 });
  assert.deepEqual(slotMap(s2), { 'svc/olb-spare-1': `${A} drain`, 'svc/olb-spare-2': `${B} ready`, 'svc/olb-spare-3': `${C} ready` });
  assert.equal(s2.nextDeadline, 1100);
  // The deadline is kept, not pushed back, by later computations.
  const s3 = stateOf(drain1000, svc(B, C), { previous: s2, now: 500 });
  assert.equal(s3.nextDeadline, 1100);
  const s4 = stateOf(drain1000, svc(B, C), { previous: s3, now: 1100 });
  assert.deepEqual(slotMap(s4), { 'svc/olb-spare-2': `${B} ready`, 'svc/olb-spare-3': `${C} ready` });
  assert.equal(s4.nextDeadline, undefined);
});

void test('slots: a slot count lowered in the spec re-places servers that sat beyond it', () => {
  const prev = { minSpareSlots: 8, spareSlots: 8, slots: [{ server: 'olb-spare-7', spare: true, address: '10.0.0.1', port: 80, weight: 100, state: 'ready' as const, member: A }] };
  const r = assignSpareSlots({ minSlots: 2, members: [{ address: '10.0.0.1', port: 80 }], previous: prev });
  assert.equal(r.spareSlots, 2);
  assert.deepEqual(r.slots.map((s) => [s.server, s.member ?? null, s.state]), [['olb-spare-1', A, 'ready'], ['olb-spare-2', null, 'maint']]);
});

void test('slots: the count is the next power of two above the spec minimum', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 33, 1000].map(nextPowerOfTwo), [0, 1, 2, 4, 4, 8, 64, 1024]);
  const members = Array.from({ length: 33 }, (_, i) => ({ address: `10.0.1.${i + 1}`, port: 80 }));
  assert.equal(assignSpareSlots({ minSlots: 32, members }).spareSlots, 64);
  assert.equal(assignSpareSlots({ minSlots: 32, members: members.slice(0, 3) }).spareSlots, 32);
});

void test('slots: IPv6 members are keyed like the discovery layer ([addr]:port, lower case)', () => {
  assert.equal(memberKey({ address: 'FD00::1', port: 443 }), '[fd00::1]:443');
  assert.equal(memberKey({ address: '10.0.0.1', port: 80 }), '10.0.0.1:80');
});
