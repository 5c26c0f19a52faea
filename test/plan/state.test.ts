/**
 * desiredState on the example spec: exactly the runtime-changeable parts are masked out of the
 * structural hash; the state is plain JSON (persistable) and deep-frozen; a config rendered for a
 * grown slot count passes the real `haproxy -c` and has every slot the plan names; and the planner
 * stays linear on 10,000 map entries and 1,000 servers.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Spec } from '../../src/model/spec.js';
import { plan } from '../../src/plan/planner.js';
import { desiredState, specForState, type HaproxyState } from '../../src/plan/state.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { checkHaproxyConfig } from '../helpers/haproxy-check.js';
import { headerExact, makeBackend, makeFrontend, makeSpec, route, to } from '../helpers/model-builders.js';
import { edit, MAP_DIR, type DeepMutable } from './fixtures.js';

const DEMO = new URL('../../../examples/demo.yaml', import.meta.url);

async function demo(): Promise<{ spec: Spec; hash: string }> {
  const r = parseSpec(await readFile(DEMO, 'utf8'), { file: 'examples/demo.yaml' });
  if (!r.ok) throw new Error(`examples/demo.yaml does not parse: ${JSON.stringify(r.diagnostics)}`);
  return { spec: r.spec, hash: r.hash };
}

function stateFor(spec: Spec, specHash = 'h', membership: ReadonlyMap<string, readonly { address: string; port: number; weight?: number }[]> = new Map()): HaproxyState {
  return desiredState(spec, membership, { node: 'lb-a', specHash, mapDir: MAP_DIR });
}

const backend = (s: DeepMutable<Spec>, name: string): DeepMutable<Spec>['backends'][number] => s.backends.find((b) => b.name === name)!;
const web = (s: DeepMutable<Spec>): DeepMutable<Spec>['frontends'][number] => s.frontends.find((f) => f.name === 'web')!;

const SAME_HASH: readonly (readonly [string, (s: DeepMutable<Spec>) => void])[] = [
  ['a static server weight', (s) => (backend(s, 'app-stable').servers[0]!.weight = 10)],
  ['a static server address and port', (s) => Object.assign(backend(s, 'app-stable').servers[1]!, { address: '10.0.12.99', port: 9000 })],
  ["the switch's active side", (s) => (s.switches[0]!.active = 'green')],
  ['the canary split weights', (s) => (web(s).routes[4]!.action = { kind: 'split', sides: [{ backend: 'app-stable', weight: 50 }, { backend: 'app-canary', weight: 50 }], sticky: { kind: 'cookie', name: 'session' } })],
];

const OTHER_HASH: readonly (readonly [string, (s: DeepMutable<Spec>) => void])[] = [
  ['a backend timeout', (s) => (backend(s, 'app-stable').timeouts.serverMs = 31000)],
  ['a frontend timeout', (s) => (web(s).timeouts.clientMs = 31000)],
  ['a bind port', (s) => (web(s).binds[0]!.port = 81)],
  ['the spare slot count', (s) => (backend(s, 'app-stable').spareSlots = 5)],
  ['a static server becoming a backup', (s) => (backend(s, 'app-stable').servers[0]!.backup = true)],
  ['a static server name', (s) => (backend(s, 'app-stable').servers[0]!.name = 's9')],
  ['a route condition', (s) => (web(s).routes[0]!.conditions = [{ kind: 'header', name: 'x-canary', match: { type: 'exact', value: '2' } }])],
  ['the balance algorithm', (s) => (backend(s, 'app-stable').balance = { kind: 'leastconn' })],
];

void test('desiredState(demo): runtime-changeable edits keep the structural hash', async () => {
  const { spec, hash } = await demo();
  const before = stateFor(spec, hash);
  for (const [what, change] of SAME_HASH) {
    const after = stateFor(edit(spec, change), 'another-spec-hash');
    assert.equal(after.structuralHash, before.structuralHash, what);
    assert.equal(plan(before, after).kind, 'runtime', what);
  }
});

void test('desiredState(demo): structural edits change the structural hash and plan a reload', async () => {
  const { spec, hash } = await demo();
  const before = stateFor(spec, hash);
  for (const [what, change] of OTHER_HASH) {
    const after = stateFor(edit(spec, change), hash);
    assert.notEqual(after.structuralHash, before.structuralHash, what);
    const p = plan(before, after);
    assert.equal(p.kind, 'reload', what);
    assert.ok(p.kind === 'reload' && p.reasons.length > 0, what);
  }
});

void test('desiredState(demo): masks server addresses and weights, drops comments and spare lines, keeps everything else', async () => {
  const { spec, hash } = await demo();
  const s = stateFor(spec, hash);
  const appStable = s.sections.find((x) => x.header === 'backend app-stable');
  assert.deepEqual(appStable?.lines, [
    'mode http',
    'balance roundrobin',
    'timeout connect 5s',
    'timeout server 30s',
    'timeout queue 10s',
    'retries 3',
    'option redispatch',
    'option httpchk',
    'http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost',
    'http-check expect status 200-399',
    'default-server inter 2s rise 2 fall 3',
    'server s1 <runtime> weight <runtime> check',
    'server s2 <runtime> weight <runtime> check',
  ]);
  assert.ok(s.sections.every((x) => x.lines.every((l) => !l.startsWith('#') && !l.includes('olb-spare-'))));
  assert.deepEqual(
    s.backends.map((b) => [b.name, b.spareSlots, b.slots.length]),
    [['api-v2', 0, 2], ['app-canary', 0, 1], ['app-stable', 4, 6], ['checkout-blue', 0, 1], ['checkout-green', 0, 1]],
  );
  assert.deepEqual(s.maps.map((m) => [m.name, m.path, m.role, m.match, m.subject, m.entries]), [
    ['switches.map', `${MAP_DIR}/switches.map`, 'switches', 'exact', 'switches', [{ key: 'checkout', value: 'checkout-blue' }]],
    ['web.gradual-rollout.split.map', `${MAP_DIR}/web.gradual-rollout.split.map`, 'split', 'range', 'web/gradual-rollout', [{ key: '0:94', value: 'app-stable' }, { key: '95:99', value: 'app-canary' }]],
  ]);
});

void test('desiredState(demo): deep-frozen, plain JSON (persistable), and planning against its own copy gives none', async () => {
  const { spec, hash } = await demo();
  const s = stateFor(spec, hash);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.backends[0]!.slots[0]) && Object.isFrozen(s.maps[0]!.entries));
  const copy = JSON.parse(JSON.stringify(s)) as HaproxyState;
  assert.deepEqual(copy, s);
  assert.deepEqual(plan(copy, s), { kind: 'none' });
  // The same inputs give the same bytes.
  assert.equal(JSON.stringify(stateFor(spec, hash)), JSON.stringify(s));
});

void test('specForState: a grown slot count renders a config haproxy -c accepts, with every slot the plan names', async (t) => {
  const spec = makeSpec({
    frontends: [makeFrontend('web', { defaultBackend: 'svc' })],
    backends: [makeBackend('svc', { discovery: { source: 'src' }, spareSlots: 2, healthCheck: { type: 'tcp', intervalMs: 1000, rise: 1, fall: 1 } })],
    discovery: [{ name: 'src', type: 'file', path: '/x.json' }],
  });
  const dir = await mkdtemp(join(tmpdir(), 'olb-plan-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const mapDir = join(dir, 'maps');
  const membership = new Map([['svc', [1, 2, 3].map((n) => ({ address: `127.0.0.${n}`, port: 8000 + n }))]]);
  const desired = desiredState(spec, membership, { node: 'lb-a', specHash: 'h', mapDir });
  const p = plan(desiredState(spec, new Map(), { node: 'lb-a', specHash: 'h', mapDir }), desired);
  assert.equal(p.kind, 'reload');
  assert.deepEqual(p.kind === 'reload' ? p.spareSlots : [], [{ backend: 'svc', slots: 4 }]);
  const rendered = renderHaproxy(specForState(spec, desired), { node: 'lb-a', specHash: 'h', mapDir });
  for (const op of p.kind === 'reload' ? p.after : []) {
    if ('server' in op) assert.match(rendered.config, new RegExp(`\\n  server ${op.server} `), `${op.backend}/${op.server} exists`);
  }
  assert.doesNotMatch(rendered.config, /olb-spare-5 /);
  const check = await checkHaproxyConfig({ config: rendered.config, maps: rendered.maps, dir, mapDir, signal: AbortSignal.timeout(30_000) });
  assert.ok(check.ok, check.output);
});

void test('plan: 10,000 map entries and 1,000 servers: a full map change is one map-replace, and every server change is one op', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `tenant-${i}`);
  const build = (target: string, weight: number): HaproxyState => {
    const spec = makeSpec({
      frontends: [makeFrontend('web', { defaultBackend: 'svc', routes: keys.map((k, i) => route(`r${i}`, [headerExact('x-tenant', k)], to(target))) })],
      backends: [makeBackend('a'), makeBackend('b'), makeBackend('svc', { discovery: { source: 'src' }, spareSlots: 1024 })],
      discovery: [{ name: 'src', type: 'file', path: '/x.json' }],
    });
    const members = Array.from({ length: 1000 }, (_, i) => ({ address: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 80, weight }));
    return desiredState(spec, new Map([['svc', members]]), { node: 'lb-a', specHash: 'h', mapDir: MAP_DIR });
  };
  const before = build('a', 100);
  const after = build('b', 50);
  assert.equal(before.structuralHash, after.structuralHash);
  const p = plan(before, after);
  assert.equal(p.kind, 'runtime');
  const ops = p.kind === 'runtime' ? p.ops : [];
  assert.equal(ops.length, 1001);
  assert.equal(ops.filter((o) => o.op === 'set-server-weight').length, 1000);
  const replace = ops.filter((o) => o.op === 'map-replace');
  assert.equal(replace.length, 1);
  assert.equal(replace[0]?.op === 'map-replace' ? replace[0].entries.length : 0, 10_000);
  assert.equal(ops.at(-1)?.op, 'map-replace', 'servers first (weights go up before maps), maps after');
});
