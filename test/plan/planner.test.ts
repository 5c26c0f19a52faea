/**
 * Table tests of the planner: each case builds the applied state and the desired one from the
 * fixture spec and asserts the exact plan (operations in order, reasons, slot counts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Spec } from '../../src/model/spec.js';
import { plan, REASON_CODES, type Plan, type RuntimeOp } from '../../src/plan/planner.js';
import type { HaproxyState } from '../../src/plan/state.js';
import { baseSpec, edit, MAP_DIR, svc, stateOf } from './fixtures.js';
import { headerExact, makeBackend, method, route, to } from '../helpers/model-builders.js';

const base = baseSpec();
/** The base spec with a 5000 ms drain time on every backend. */
const drain5000 = edit(base, (s) => {
  for (const b of s.backends) b.drainMs = 5000;
});
const ready = (server: string, address: string, port: number): RuntimeOp[] => [
  { op: 'set-server-addr', backend: 'svc', server, address, port },
  { op: 'set-server-state', backend: 'svc', server, state: 'ready' },
];
const state = (server: string, s: 'ready' | 'drain' | 'maint'): RuntimeOp => ({ op: 'set-server-state', backend: 'svc', server, state: s });
/** A discovered server leaving its slot: maintenance, then what still runs on it is cut. */
const gone = (server: string): RuntimeOp[] => [state(server, 'maint'), { op: 'shutdown-sessions', backend: 'svc', server }];

function structural(change: (s: Parameters<Parameters<typeof edit>[1]>[0]) => void): { before: HaproxyState; after: HaproxyState } {
  return { before: stateOf(base), after: stateOf(edit(base, change)) };
}

interface Case {
  readonly name: string;
  readonly states: () => { readonly before: HaproxyState | null; readonly after: HaproxyState };
  readonly expected: Plan;
}

const CASES: readonly Case[] = [
  {
    name: 'no change -> none',
    states: () => ({ before: stateOf(base, svc('10.0.0.1:80')), after: stateOf(base, svc('10.0.0.1:80')) }),
    expected: { kind: 'none' },
  },
  {
    name: 'same membership in another order -> none',
    states: () => {
      const before = stateOf(base, svc('10.0.0.2:80', '10.0.0.1:80'));
      return { before, after: stateOf(base, svc('10.0.0.1:80', '10.0.0.2:80'), { previous: before }) };
    },
    expected: { kind: 'none' },
  },
  {
    name: 'static weight change -> one set-server-weight',
    states: () => structural((s) => (s.backends[1]!.servers[0]!.weight = 50)),
    expected: {
      kind: 'runtime',
      ops: [{ op: 'set-server-weight', backend: 'app', server: 's1', weight: 50 }],
      reasons: [{ code: 'weight-changed', subject: 'app/s1', detail: '100 -> 50' }],
    },
  },
  {
    name: 'static address and port change -> one set-server-addr',
    states: () => structural((s) => Object.assign(s.backends[1]!.servers[1]!, { address: '10.0.13.11', port: 9090 })),
    expected: {
      kind: 'runtime',
      ops: [{ op: 'set-server-addr', backend: 'app', server: 's2', address: '10.0.13.11', port: 9090 }],
      reasons: [{ code: 'server-changed', subject: 'app/s2', detail: '10.0.12.11:8080 -> 10.0.13.11:9090' }],
    },
  },
  {
    name: 'a discovered server appears -> addr + ready on the lowest free spare',
    states: () => {
      const before = stateOf(base, svc('10.0.0.1:80'));
      return { before, after: stateOf(base, svc('10.0.0.1:80', '10.0.0.9:81'), { previous: before }) };
    },
    expected: {
      kind: 'runtime',
      ops: ready('olb-spare-2', '10.0.0.9', 81),
      reasons: [{ code: 'server-added', subject: 'svc/olb-spare-2', detail: '10.0.0.9:81' }],
    },
  },
  {
    name: 'a discovered server with a weight appears -> addr, weight, ready',
    states: () => {
      const before = stateOf(base, svc());
      return { before, after: stateOf(base, svc('10.0.0.5:80@25'), { previous: before }) };
    },
    expected: {
      kind: 'runtime',
      ops: [
        { op: 'set-server-addr', backend: 'svc', server: 'olb-spare-1', address: '10.0.0.5', port: 80 },
        { op: 'set-server-weight', backend: 'svc', server: 'olb-spare-1', weight: 25 },
        state('olb-spare-1', 'ready'),
      ],
      reasons: [{ code: 'server-added', subject: 'svc/olb-spare-1', detail: '10.0.0.5:80' }],
    },
  },
  {
    name: 'a discovered server appears in a health-checked backend -> it starts DOWN until its check passes',
    states: () => {
      const checked = edit(base, (s) => (s.backends[5]!.healthCheck = { type: 'tcp', intervalMs: 1000, rise: 2, fall: 3 }));
      const before = stateOf(checked, svc());
      return { before, after: stateOf(checked, svc('10.0.0.5:80'), { previous: before }) };
    },
    expected: {
      kind: 'runtime',
      ops: [...ready('olb-spare-1', '10.0.0.5', 80), { op: 'set-server-health', backend: 'svc', server: 'olb-spare-1', health: 'down' }],
      reasons: [{ code: 'server-added', subject: 'svc/olb-spare-1', detail: '10.0.0.5:80' }],
    },
  },
  {
    name: 'a discovered server changes weight -> one set-server-weight',
    states: () => {
      const before = stateOf(base, svc('10.0.0.5:80'));
      return { before, after: stateOf(base, svc('10.0.0.5:80@7'), { previous: before }) };
    },
    expected: {
      kind: 'runtime',
      ops: [{ op: 'set-server-weight', backend: 'svc', server: 'olb-spare-1', weight: 7 }],
      reasons: [{ code: 'weight-changed', subject: 'svc/olb-spare-1', detail: '100 -> 7' }],
    },
  },
  {
    name: 'a discovered server disappears -> state maint',
    states: () => {
      const before = stateOf(base, svc('10.0.0.1:80', '10.0.0.2:80'));
      return { before, after: stateOf(base, svc('10.0.0.2:80'), { previous: before }) };
    },
    expected: { kind: 'runtime', ops: gone('olb-spare-1'), reasons: [{ code: 'server-removed', subject: 'svc/olb-spare-1', detail: '10.0.0.1:80' }] },
  },
  {
    name: 'with a drain period a removed server drains first',
    states: () => {
      const before = stateOf(base, svc('10.0.0.1:80', '10.0.0.2:80'));
      return { before, after: stateOf(drain5000, svc('10.0.0.2:80'), { previous: before, now: 1000 }) };
    },
    expected: { kind: 'runtime', ops: [state('olb-spare-1', 'drain')], reasons: [{ code: 'server-removed', subject: 'svc/olb-spare-1', detail: '10.0.0.1:80 (draining)' }] },
  },
  {
    name: 'a draining server goes to maint at its deadline',
    states: () => {
      const first = stateOf(base, svc('10.0.0.1:80'));
      const draining = stateOf(drain5000, svc(), { previous: first, now: 1000 });
      return { before: draining, after: stateOf(drain5000, svc(), { previous: draining, now: 6000 }) };
    },
    expected: { kind: 'runtime', ops: gone('olb-spare-1'), reasons: [{ code: 'server-removed', subject: 'svc/olb-spare-1', detail: '10.0.0.1:80' }] },
  },
  {
    name: 'a draining server that comes back is ready again in its slot',
    states: () => {
      const first = stateOf(base, svc('10.0.0.1:80'));
      const draining = stateOf(drain5000, svc(), { previous: first, now: 1000 });
      return { before: draining, after: stateOf(drain5000, svc('10.0.0.1:80'), { previous: draining, now: 2000 }) };
    },
    expected: { kind: 'runtime', ops: [state('olb-spare-1', 'ready')], reasons: [{ code: 'server-added', subject: 'svc/olb-spare-1', detail: '10.0.0.1:80' }] },
  },
  {
    name: 'one server replaces another: the new one is ready before the old one leaves, in another slot',
    states: () => {
      const before = stateOf(base, svc('10.0.0.1:80'));
      return { before, after: stateOf(base, svc('10.0.0.7:80'), { previous: before }) };
    },
    expected: {
      kind: 'runtime',
      ops: [...ready('olb-spare-2', '10.0.0.7', 80), ...gone('olb-spare-1')],
      reasons: [
        { code: 'server-added', subject: 'svc/olb-spare-2', detail: '10.0.0.7:80' },
        { code: 'server-removed', subject: 'svc/olb-spare-1', detail: '10.0.0.1:80' },
      ],
    },
  },
  {
    name: 'spare slots exhausted -> reload with the new slot count and the fills to run after it',
    states: () => {
      const before = stateOf(base, svc('10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80'));
      return { before, after: stateOf(base, svc('10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80'), { previous: before }) };
    },
    expected: {
      kind: 'reload',
      reasons: [{ code: 'spare-slots-exhausted', subject: 'backend svc', detail: '5 servers for 4 spare slots; rendering 8' }],
      spareSlots: [{ backend: 'svc', slots: 8 }],
      after: [1, 2, 3, 4, 5].flatMap((n) => ready(`olb-spare-${n}`, `10.0.0.${n}`, 80)),
    },
  },
  {
    name: 'a grown slot count is kept when servers go away again (no reload flapping)',
    states: () => {
      const grown = stateOf(base, svc('10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80'));
      return { before: grown, after: stateOf(base, svc('10.0.0.1:80'), { previous: grown }) };
    },
    expected: {
      kind: 'runtime',
      ops: [2, 3, 4, 5].flatMap((n) => gone(`olb-spare-${n}`)),
      reasons: [2, 3, 4, 5].map((n) => ({ code: 'server-removed', subject: `svc/olb-spare-${n}`, detail: `10.0.0.${n}:80` })),
    },
  },
  {
    name: 'switch flip -> one map-set on switches.map',
    states: () => structural((s) => (s.switches[0]!.active = 'green')),
    expected: {
      kind: 'runtime',
      ops: [{ op: 'map-set', map: 'switches.map', path: `${MAP_DIR}/switches.map`, key: 'checkout', value: 'green' }],
      reasons: [{ code: 'switch-flipped', subject: 'switch checkout', detail: 'blue -> green' }],
    },
  },
  {
    name: 'canary 95/5 -> 90/10 -> one map-replace of the split map',
    states: () => structural((s) => (s.frontends[0]!.routes[5]!.action = { kind: 'split', sides: [{ backend: 'app', weight: 90 }, { backend: 'canary', weight: 10 }] })),
    expected: {
      kind: 'runtime',
      ops: [{ op: 'map-replace', map: 'web.rollout.split.map', path: `${MAP_DIR}/web.rollout.split.map`, entries: [{ key: '0:89', value: 'app' }, { key: '90:99', value: 'canary' }] }],
      reasons: [{ code: 'split-weights-changed', subject: 'web/rollout', detail: '0:94 app, 95:99 canary -> 0:89 app, 90:99 canary' }],
    },
  },
  {
    name: 'canary to 100/0 -> the weight-0 side loses its line',
    states: () => structural((s) => (s.frontends[0]!.routes[5]!.action = { kind: 'split', sides: [{ backend: 'app', weight: 100 }, { backend: 'canary', weight: 0 }] })),
    expected: {
      kind: 'runtime',
      ops: [{ op: 'map-replace', map: 'web.rollout.split.map', path: `${MAP_DIR}/web.rollout.split.map`, entries: [{ key: '0:99', value: 'app' }] }],
      reasons: [{ code: 'split-weights-changed', subject: 'web/rollout', detail: '0:94 app, 95:99 canary -> 0:99 app' }],
    },
  },
  {
    name: 'a header rule appended to its run -> one map-add',
    states: () => structural((s) => s.frontends[0]!.routes.splice(4, 0, route('t3', [headerExact('x-tenant', 't3')], to('canary')) as never)),
    expected: {
      kind: 'runtime',
      ops: [{ op: 'map-add', map: 'web.run-3.map', path: `${MAP_DIR}/web.run-3.map`, key: 't3', value: 'canary' }],
      reasons: [{ code: 'map-entries-changed', subject: 'web.run-3.map', detail: '+1 ~0 -0' }],
    },
  },
  {
    name: 'a header rule changed and one removed in a run -> add before set before del',
    states: () =>
      structural((s) => {
        s.frontends[0]!.routes.splice(2, 2, route('t2', [headerExact('x-tenant', 't2')], to('app')) as never, route('t9', [headerExact('x-tenant', 't9')], to('api')) as never);
      }),
    expected: {
      kind: 'runtime',
      ops: [
        { op: 'map-add', map: 'web.run-3.map', path: `${MAP_DIR}/web.run-3.map`, key: 't9', value: 'api' },
        { op: 'map-set', map: 'web.run-3.map', path: `${MAP_DIR}/web.run-3.map`, key: 't2', value: 'app' },
        { op: 'map-del', map: 'web.run-3.map', path: `${MAP_DIR}/web.run-3.map`, key: 't1' },
      ],
      reasons: [{ code: 'map-entries-changed', subject: 'web.run-3.map', detail: '+1 ~1 -1' }],
    },
  },
  {
    name: 'a prefix rule changed in a longest-match run -> one atomic map-replace',
    states: () => structural((s) => (s.frontends[0]!.routes[1]!.action = { kind: 'backend', backend: 'canary' })),
    expected: {
      kind: 'runtime',
      ops: [
        {
          op: 'map-replace',
          map: 'web.run-1.map',
          path: `${MAP_DIR}/web.run-1.map`,
          entries: [
            { key: '/a/', value: 'app' },
            { key: '/b/', value: 'canary' },
          ],
        },
      ],
      reasons: [{ code: 'map-entries-changed', subject: 'web.run-1.map', detail: '+0 ~1 -0' }],
    },
  },
  {
    // Run maps are named by the position of their first route (src/render/maps.ts), so growing
    // an earlier run renames every later run: that is a new config line, hence a reload.
    name: 'a rule added to an earlier run renames the later runs -> reload',
    states: () => structural((s) => s.frontends[0]!.routes.splice(2, 0, route('p3', [{ kind: 'path', match: { type: 'prefix', value: '/c/' } }], to('api')) as never)),
    expected: {
      kind: 'reload',
      reasons: [
        { code: 'structure-changed', subject: 'frontend web', detail: 'routes' },
        { code: 'structure-changed', subject: 'map web.run-3.map', detail: 'removed' },
        { code: 'structure-changed', subject: 'map web.run-4.map', detail: 'added' },
      ],
      spareSlots: [],
      after: [],
    },
  },
  {
    name: 'a rule that turns a run into an inline route changes the run structure -> reload',
    states: () => structural((s) => s.frontends[0]!.routes.splice(3, 1)),
    expected: {
      kind: 'reload',
      reasons: [
        { code: 'structure-changed', subject: 'frontend web', detail: 'routes' },
        { code: 'structure-changed', subject: 'map web.run-3.map', detail: 'removed' },
      ],
      spareSlots: [],
      after: [],
    },
  },
  {
    name: 'a new route shape -> reload naming the frontend',
    states: () => structural((s) => s.frontends[0]!.routes.unshift(route('gets', [method('GET')], to('api')) as never)),
    expected: {
      kind: 'reload',
      reasons: [
        { code: 'structure-changed', subject: 'frontend web', detail: 'routes' },
        { code: 'structure-changed', subject: 'map web.run-1.map', detail: 'removed' },
        { code: 'structure-changed', subject: 'map web.run-2.map', detail: 'added' },
        { code: 'structure-changed', subject: 'map web.run-3.map', detail: 'removed' },
        { code: 'structure-changed', subject: 'map web.run-4.map', detail: 'added' },
      ],
      spareSlots: [],
      after: [],
    },
  },
  {
    name: 'a new backend -> reload',
    states: () => structural((s) => s.backends.push(makeBackend('extra') as never)),
    expected: { kind: 'reload', reasons: [{ code: 'structure-changed', subject: 'backend extra', detail: 'added' }], spareSlots: [], after: [] },
  },
  {
    name: 'a changed timeout -> reload naming backend and directive',
    states: () => structural((s) => (s.backends[1]!.timeouts.serverMs = 60000)),
    expected: { kind: 'reload', reasons: [{ code: 'structure-changed', subject: 'backend app', detail: 'timeout server' }], spareSlots: [], after: [] },
  },
  {
    name: 'a changed bind -> reload naming frontend and directive',
    states: () => structural((s) => (s.frontends[0]!.binds[0]!.port = 8080)),
    expected: { kind: 'reload', reasons: [{ code: 'structure-changed', subject: 'frontend web', detail: 'bind' }], spareSlots: [], after: [] },
  },
  {
    name: 'a static server added -> reload naming the server',
    states: () => structural((s) => s.backends[0]!.servers.push({ name: 'a2', address: '10.0.12.31', port: 8080, weight: 100, backup: false })),
    expected: { kind: 'reload', reasons: [{ code: 'structure-changed', subject: 'backend api', detail: 'server a2' }], spareSlots: [], after: [] },
  },
  {
    name: 'structural and runtime changes together -> one reload with all structural reasons; discovered servers refilled after it',
    states: () => {
      const before = stateOf(base, svc('10.0.0.1:80@30'));
      const spec: Spec = edit(base, (s) => {
        s.backends[1]!.timeouts.connectMs = 1000;
        s.backends[0]!.retries = 5;
        s.switches[0]!.active = 'green';
      });
      return { before, after: stateOf(spec, svc('10.0.0.1:80@30'), { previous: before }) };
    },
    expected: {
      kind: 'reload',
      reasons: [
        { code: 'structure-changed', subject: 'backend api', detail: 'retries' },
        { code: 'structure-changed', subject: 'backend app', detail: 'timeout connect' },
      ],
      spareSlots: [],
      after: [
        { op: 'set-server-addr', backend: 'svc', server: 'olb-spare-1', address: '10.0.0.1', port: 80 },
        { op: 'set-server-weight', backend: 'svc', server: 'olb-spare-1', weight: 30 },
        state('olb-spare-1', 'ready'),
      ],
    },
  },
  {
    name: 'nothing applied yet -> reload initial',
    states: () => ({ before: null, after: stateOf(base, svc('10.0.0.2:80', '10.0.0.1:80')) }),
    expected: { kind: 'reload', reasons: [{ code: 'initial', subject: 'node lb-a' }], spareSlots: [], after: [...ready('olb-spare-1', '10.0.0.1', 80), ...ready('olb-spare-2', '10.0.0.2', 80)] },
  },
];

for (const c of CASES) {
  void test(`plan: ${c.name}`, () => {
    const { before, after } = c.states();
    const result = plan(before, after);
    assert.deepEqual(result, c.expected);
    assert.ok(Object.isFrozen(result), 'the plan is deep-frozen');
    if (result.kind !== 'none') for (const r of result.reasons) assert.ok((REASON_CODES as readonly string[]).includes(r.code));
  });
}

void test('plan: a switch flip is runtime: structuralHash does not move', () => {
  const before = stateOf(base);
  const after = stateOf(edit(base, (s) => (s.switches[0]!.active = 'green')));
  assert.equal(before.structuralHash, after.structuralHash);
});

void test('plan: more exact-map changes than maxIncrementalMapOps -> one map-replace', () => {
  const before = stateOf(base);
  const after = stateOf(edit(base, (s) => s.frontends[0]!.routes.splice(4, 0, route('t3', [headerExact('x-tenant', 't3')], to('canary')) as never, route('t4', [headerExact('x-tenant', 't4')], to('canary')) as never)));
  const p = plan(before, after, { maxIncrementalMapOps: 1 });
  assert.equal(p.kind, 'runtime');
  assert.deepEqual(
    p.kind === 'runtime' ? p.ops.map((o) => o.op) : [],
    ['map-replace'],
  );
});
