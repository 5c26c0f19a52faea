/**
 * The outside battery of issue 15, part "valid specs that do not render": each spec below passed
 * `validate` on main and then failed to render (INTERNAL) or failed `haproxy -c` / keepalived's
 * config test. Each must now render, and the real tools must accept the result. (The findings
 * that are now rejected at validate are in test/speclang/invalid-cases.ts and test/speclang/paths.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Spec } from '../../src/model/spec.js';
import { renderHaproxy, type RenderedHaproxy } from '../../src/render/haproxy.js';
import { renderKeepalived } from '../../src/render/keepalived.js';
import { normalizeAdmin } from '../../src/speclang/normalize.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { ADMIN_DEFAULTS } from '../../src/speclang/semantic.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { haproxyCheck, keepalivedCheck } from '../property/checks.js';

function spec(o: { routes?: string; nodes?: string; frontendsExtra?: string } = {}): string {
  return `cluster:
  name: t
  vip: 192.168.100.10
  nodes:
${o.nodes ?? '    - { name: lb-a, address: 10.0.1.10, zone: az-a }'}
frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
${o.routes ?? '      - { backend: app }'}
${o.frontendsExtra ?? ''}
backends:
  - name: app
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]
  - name: other
    servers: [{ name: s1, address: 10.0.11.12, port: 8080 }]
`;
}

function parse(yaml: string): { spec: Spec; hash: string } {
  const r = parseSpec(yaml, { file: 't.yaml' });
  assert.equal(r.ok, true, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  if (!r.ok) throw new Error('unreachable');
  return { spec: r.spec, hash: r.hash };
}

/** Renders for `node` and asserts `haproxy -c` accepts it; every line has at most 64 words. */
async function renderAndCheck(s: { spec: Spec; hash: string }, dir: string, node = 'lb-a'): Promise<RenderedHaproxy> {
  const mapDir = join(dir, 'maps');
  const out = renderHaproxy(s.spec, { node, specHash: s.hash, mapDir });
  for (const line of out.config.split('\n')) {
    const words = (line.trim().match(/'[^']*'|\S+/g) ?? []).length;
    assert.ok(words <= 64, `${words} words: ${line}`);
  }
  const verdict = await haproxyCheck({ config: out.config, maps: out.maps, dir, mapDir, signal: AbortSignal.timeout(60_000) });
  assert.equal(verdict.ok, true, verdict.output);
  return out;
}

async function tmp(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'olb-battery-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

void test('a route with 8 exact-header conditions renders as named ACLs within 64 words per line', async (t) => {
  const conds = Array.from({ length: 8 }, (_, i) => `{ header: X-Condition-Number-${i}, exact: "value-${i}" }`).join(', ');
  const out = await renderAndCheck(parse(spec({ routes: `      - { when: [${conds}], backend: other }` })), await tmp(t));
  const lines = out.config.split('\n');
  assert.deepEqual(lines.filter((l) => l.startsWith('  acl olb-r1-')).length, 8);
  assert.ok(lines.includes("  acl olb-r1-c1 req.fhdr(x-condition-number-0,-1) -m str -- 'value-0'"), out.config);
  assert.ok(lines.includes('  http-request set-var(txn.olb_be) str(other) if !{ var(txn.olb_be) -m found } olb-r1-c1 olb-r1-c2 olb-r1-c3 olb-r1-c4 olb-r1-c5 olb-r1-c6 olb-r1-c7 olb-r1-c8'), out.config);
});

void test('a source list of 60 CIDRs renders over several acl lines of one name (ORed)', async (t) => {
  const cidrs = Array.from({ length: 60 }, (_, i) => `10.${i}.0.0/16`);
  const out = await renderAndCheck(parse(spec({ routes: `      - { when: [{ source: [${cidrs.join(', ')}] }, { method: GET }], backend: other }` })), await tmp(t));
  const acl = out.config.split('\n').filter((l) => l.startsWith('  acl olb-r1-c1 src -m ip '));
  assert.equal(acl.length, 2);
  assert.deepEqual(acl.flatMap((l) => l.trim().split(' ').slice(5)), cidrs);
});

void test('32 conditions, the most a route takes, render', async (t) => {
  const conds = Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? `{ header: X-${i}, prefix: "p${i}" }` : `{ path: { regex: "^/r${i}" } }`)).join(', ');
  await renderAndCheck(parse(spec({ routes: `      - when: [${conds}]\n        split: [{ backend: app, weight: 50 }, { backend: other, weight: 50 }]\n        sticky: { cookie: session }` })), await tmp(t));
});

void test('values with #, " and \\ merged into a map file are literal keys; a leading # stays an inline ACL', async (t) => {
  const values = ['a#b', 'a"b', 'a\\b', '#lead', '}'];
  const routes = values.map((v, i) => `      - { when: [{ header: X-Key, exact: ${JSON.stringify(v)} }], backend: ${i % 2 === 0 ? 'app' : 'other'} }`).join('\n');
  const out = await renderAndCheck(parse(spec({ routes })), await tmp(t));
  const run1 = out.maps.find((m) => m.name === 'web.run-1.map');
  assert.ok(run1 !== undefined, out.maps.map((m) => m.name).join(', '));
  assert.deepEqual(run1.content.split('\n').slice(1), ['a#b app', 'a"b other', 'a\\b app', '']);
  // '#lead' cannot be a map key (a comment line); '}' alone would still be a map key, but a run
  // of one is inline, where '}' must be a named ACL.
  assert.ok(out.config.includes("{ req.fhdr(x-key,-1) -m str -- '#lead' }"), out.config);
  assert.ok(out.config.includes("  acl olb-r5-c1 req.fhdr(x-key,-1) -m str -- '}'"), out.config);
});

void test('an empty exact, prefix or regex value and a value "}" render, and haproxy -c accepts them', async (t) => {
  const routes = [
    '      - { when: [{ header: X-A, exact: "" }, { method: GET }], backend: other }',
    '      - { when: [{ header: X-B, prefix: "" }, { method: GET }], backend: other }',
    '      - { when: [{ header: X-C, regex: "" }, { method: GET }], backend: other }',
    '      - { when: [{ path: { regex: "" } }, { method: PUT }], backend: other }',
    '      - { when: [{ header: X-D, exact: "}" }, { method: GET }], backend: other }',
    '      - { when: [{ header: X-E, prefix: "}" }], backend: other }',
  ].join('\n');
  const out = await renderAndCheck(parse(spec({ routes })), await tmp(t));
  // HAProxy drops an empty quoted word, which would leave an ACL without a pattern (never true).
  assert.ok(!out.config.includes("''"), out.config);
  assert.ok(out.config.includes('{ req.fhdr(x-a,-1) -m len 0 }'));
  assert.ok(out.config.includes('{ req.fhdr(x-b,-1) -m found }'));
  assert.ok(out.config.includes('{ req.fhdr(x-c,-1) -m found }'));
  assert.ok(out.config.includes('{ path -m found }'));
  assert.ok(out.config.includes("  acl olb-r5-c1 req.fhdr(x-d,-1) -m str -- '}'"));
  assert.ok(out.config.includes("  acl olb-r6-c1 req.fhdr(x-e,-1) -m beg -- '}'"));
});

void test('32 nodes without priorities get distinct priorities in 1..254; every node renders and passes keepalived --config-test', async (t) => {
  const dir = await tmp(t);
  const nodes = Array.from({ length: 32 }, (_, i) => `    - { name: n${i}, address: 10.0.${i}.10, zone: az-${i % 3} }`).join('\n');
  const s = parse(spec({ nodes }));
  const priorities = s.spec.cluster.nodes.map((n) => n.priority);
  assert.equal(new Set(priorities).size, 32);
  assert.ok(priorities.every((p) => p >= 1 && p <= 254), priorities.join(','));
  assert.deepEqual(priorities.slice(0, 3), [200, 194, 188]);
  // 20 nodes keep the documented 200 - 10 x position.
  const twenty = parse(spec({ nodes: nodes.split('\n').slice(0, 20).join('\n') }));
  assert.deepEqual(twenty.spec.cluster.nodes.map((n) => n.priority), Array.from({ length: 20 }, (_, i) => 200 - 10 * i));
  for (const n of [s.spec.cluster.nodes[0], s.spec.cluster.nodes[31]]) {
    if (n === undefined) continue;
    const text = renderKeepalived(s.spec, { node: n.name, specHash: s.hash });
    assert.ok(text.includes(`    priority ${n.priority}\n`));
    const v = await keepalivedCheck({ text, interfaceName: n.interface, dir: join(dir, n.name), signal: AbortSignal.timeout(60_000) });
    assert.equal(v.ok, true, v.output);
    await renderAndCheck(s, join(dir), n.name);
  }
});

void test('the health listener defaults to localhost in the validator, the model, the renderer and the docs', async () => {
  const model = normalizeAdmin(undefined);
  assert.deepEqual([model.health.bind, model.health.port], [...ADMIN_DEFAULTS.health]);
  assert.deepEqual([model.stats.bind, model.stats.port], [...ADMIN_DEFAULTS.stats]);
  assert.deepEqual([model.agent.bind, model.agent.port], [...ADMIN_DEFAULTS.agent]);
  const s = parse(spec());
  const out = renderHaproxy(s.spec, { node: 'lb-a', specHash: s.hash, mapDir: '/var/lib/overlay-lb/maps' });
  assert.match(out.config, /frontend olb-health\n {2}mode http\n {2}bind 127\.0\.0\.1:8405\n/);
  // A frontend on the node's address and port 8405 does not collide with it; one on 127.0.0.1 does.
  assert.equal(parseSpec(spec({ frontendsExtra: '  - { name: n8405, binds: [{ address: node, port: 8405 }], defaultBackend: app }' }), { file: 't.yaml' }).ok, true);
  const clash = parseSpec(spec({ frontendsExtra: '  - { name: l8405, binds: [{ address: 127.0.0.1, port: 8405 }], defaultBackend: app }' }), { file: 't.yaml' });
  assert.equal(clash.ok, false);
  if (!clash.ok) {
    assert.deepEqual(clash.diagnostics.map(formatDiagnostic), [
      't.yaml:1:1: admin.health.port: port 8405 of the health listener (bind localhost) collides with frontends[1].binds[0] (127.0.0.1:8405); choose another port',
    ]);
  }
  const { readFile } = await import('node:fs/promises');
  const docs = await readFile(new URL('../../../docs/spec.md', import.meta.url), 'utf8');
  assert.match(docs, /\| `health: \{bind, port, path\}` \| `localhost`, 8405, `\/healthz` \|/);
});

void test('a single-node cluster renders keepalived.conf without unicast keywords, which keepalived accepts without a warning', async (t) => {
  const dir = await tmp(t);
  const s = parse(spec());
  const text = renderKeepalived(s.spec, { node: 'lb-a', specHash: s.hash });
  assert.ok(!text.includes('unicast'), text);
  const v = await keepalivedCheck({ text, interfaceName: 'eth0', dir, signal: AbortSignal.timeout(60_000) });
  assert.equal(v.ok, true, v.output);
});
