/**
 * Draining, per backend (issue 15 item 5): each discovery backend drains removed servers for its
 * own `drainMs`, a draining slot is never given to a newcomer, the drain ends with maintenance
 * and a session shutdown, and a reload keeps a draining server draining (the file renders it with
 * weight 0; `afterReload` sets `state drain` and its weight back).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan } from '../../src/plan/planner.js';
import { afterReload, renderForState } from '../../src/apply/executor.js';
import { configForState, desiredConfig } from '../../src/plan/state.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { serializeHaproxyConfig } from '../../src/render/haproxy-config.js';
import { makeBackend } from '../helpers/model-builders.js';
import { baseSpec, edit, MAP_DIR, slotMap, stateOf } from './fixtures.js';

const A = '10.0.0.1:80';
const B = '10.0.0.2:80';
const C = '10.0.0.3:80';
const D = '10.0.0.4:80';
const E = '10.0.0.5:80';

/** The base spec plus a second discovery backend `jobs`; `svc` drains 10 s, `jobs` 60 s. */
const spec = edit(baseSpec(), (s) => {
  const svc = s.backends.find((b) => b.name === 'svc');
  if (svc === undefined) throw new Error('fixture has no svc backend');
  svc.drainMs = 10_000;
  s.backends.push(makeBackend('jobs', { discovery: { source: 'svc-src' }, spareSlots: 2, drainMs: 60_000 }) as never);
});

function members(entries: Record<string, readonly string[]>): Map<string, { address: string; port: number }[]> {
  return new Map(Object.entries(entries).map(([b, list]) => [b, list.map((m) => ({ address: m.split(':')[0] ?? '', port: Number(m.split(':')[1]) }))]));
}

void test('drain: each backend drains for its own drain time, and the next deadline is the earliest', () => {
  const s1 = stateOf(spec, members({ svc: [A, B], jobs: [C, D] }), { now: 0 });
  const s2 = stateOf(spec, members({ svc: [B], jobs: [D] }), { previous: s1, now: 1000 });
  assert.deepEqual(slotMap(s2), { 'jobs/olb-spare-1': `${C} drain`, 'jobs/olb-spare-2': `${D} ready`, 'svc/olb-spare-1': `${A} drain`, 'svc/olb-spare-2': `${B} ready` });
  const until = Object.fromEntries(s2.backends.flatMap((b) => b.slots.filter((x) => x.state === 'drain').map((x) => [b.name, x.drainUntil])));
  assert.deepEqual(until, { svc: 11_000, jobs: 61_000 });
  assert.equal(s2.nextDeadline, 11_000);
  // Removal is a runtime plan: `state drain`, no reload.
  const p = plan(s1, s2);
  assert.equal(p.kind, 'runtime');
  assert.deepEqual(p.kind === 'runtime' ? p.ops.map((o) => `${o.op} ${'backend' in o ? o.backend : ''}/${'server' in o ? o.server : ''}${'state' in o ? ` ${o.state}` : ''}`) : [], [
    'set-server-state jobs/olb-spare-1 drain',
    'set-server-state svc/olb-spare-1 drain',
  ]);

  // At svc's deadline only svc's server goes: maintenance, then its open sessions are cut.
  const s3 = stateOf(spec, members({ svc: [B], jobs: [D] }), { previous: s2, now: 11_000 });
  assert.deepEqual(slotMap(s3), { 'jobs/olb-spare-1': `${C} drain`, 'jobs/olb-spare-2': `${D} ready`, 'svc/olb-spare-2': `${B} ready` });
  assert.equal(s3.nextDeadline, 61_000);
  assert.deepEqual(plan(s2, s3), {
    kind: 'runtime',
    ops: [
      { op: 'set-server-state', backend: 'svc', server: 'olb-spare-1', state: 'maint' },
      { op: 'shutdown-sessions', backend: 'svc', server: 'olb-spare-1' },
    ],
    reasons: [{ code: 'server-removed', subject: 'svc/olb-spare-1', detail: A }],
  });
});

void test('drain: a draining slot is not reused while it drains; the backend grows instead', () => {
  const full = stateOf(spec, members({ svc: [A, B, C, D] }), { now: 0 });
  // A leaves and E arrives in one step: A keeps slot 1 (draining), E cannot take it.
  const next = stateOf(spec, members({ svc: [B, C, D, E] }), { previous: full, now: 1 });
  assert.equal(slotMap(next)['svc/olb-spare-1'], `${A} drain`);
  assert.equal(Object.entries(slotMap(next)).find(([, v]) => v === `${E} ready`)?.[0], 'svc/olb-spare-5');
  const p = plan(full, next);
  assert.equal(p.kind, 'reload');
  assert.ok(p.kind === 'reload' && p.reasons.some((r) => r.code === 'spare-slots-exhausted'), JSON.stringify(p));
});

void test('drain: drainTime 0 frees the slot at once and cuts what still runs on it', () => {
  const zero = edit(spec, (s) => {
    for (const b of s.backends) b.drainMs = 0;
  });
  const s1 = stateOf(zero, members({ svc: [A, B] }), { now: 0 });
  const s2 = stateOf(zero, members({ svc: [B] }), { previous: s1, now: 5 });
  assert.deepEqual(slotMap(s2), { 'svc/olb-spare-2': `${B} ready` });
  assert.equal(s2.nextDeadline, undefined);
  const p = plan(s1, s2);
  assert.deepEqual(p.kind === 'runtime' ? p.ops.map((o) => o.op) : p, ['set-server-state', 'shutdown-sessions']);
});

void test('drain: a reload keeps a draining server draining (weight 0 in the file, then state drain and its weight)', () => {
  const s1 = stateOf(spec, members({ svc: [A, B] }), { now: 0 });
  const draining = stateOf(spec, members({ svc: [B] }), { previous: s1, now: 1 });
  // Any structural change during the drain reloads.
  const changed = edit(spec, (s) => {
    const svc = s.backends.find((b) => b.name === 'svc');
    if (svc !== undefined) svc.retries = 5;
  });
  const reloaded = stateOf(changed, members({ svc: [B] }), { previous: draining, now: 2 });
  assert.equal(plan(draining, reloaded).kind, 'reload');
  assert.equal(slotMap(reloaded)['svc/olb-spare-1'], `${A} drain`);

  const config = renderForState(changed, reloaded, '/run/olb').config;
  const svcSection = config.slice(config.indexOf('backend svc'));
  assert.match(svcSection, /\n {2}server olb-spare-1 10\.0\.0\.1:80 weight 0\n/);
  assert.match(svcSection, /\n {2}server olb-spare-2 10\.0\.0\.2:80 weight 100\n/);
  assert.deepEqual(afterReload(reloaded), [
    { op: 'set-server-state', backend: 'svc', server: 'olb-spare-1', state: 'drain' },
    { op: 'set-server-weight', backend: 'svc', server: 'olb-spare-1', weight: 100 },
  ]);
  // Without draining slots a reload needs no operations after it (everything is in the file).
  assert.deepEqual(afterReload(s1), []);
  // Free slots stay as rendered: the filled config of an empty membership is the renderer's text.
  const empty = desiredConfig(spec, new Map(), { node: 'lb-a', specHash: 'test', mapDir: MAP_DIR });
  assert.equal(serializeHaproxyConfig(configForState(empty.config, empty.state)), renderHaproxy(spec, { node: 'lb-a', specHash: 'test', mapDir: MAP_DIR }).config);
});
