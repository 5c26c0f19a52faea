/**
 * The structure diff, as a table: each kind of change to the typed config (src/render/haproxy-config.ts)
 * -> what the masked structure says (nothing: the Runtime API can do it; or the sections and
 * directives that changed: a reload), and the planner's decision with its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHaproxyConfig } from '../../src/render/haproxy.js';
import type { ConfigLine, HaproxyConfig, ServerLine, TypedSection } from '../../src/render/haproxy-config.js';
import { diffSections, hashJson, maskConfig } from '../../src/plan/structure.js';
import { plan } from '../../src/plan/planner.js';
import { desiredState } from '../../src/plan/state.js';
import { baseSpec, edit, MAP_DIR, stateOf, svc } from './fixtures.js';

const base = baseSpec();
const rendered = renderHaproxyConfig(base, { node: 'lb-a', specHash: 'test', mapDir: MAP_DIR });

type Mutable = { sections: (TypedSection & { lines: ConfigLine[] })[]; preamble: string[] };

/** A changed deep copy of the base config. */
function change(f: (c: Mutable) => void): HaproxyConfig {
  const copy = structuredClone(rendered) as unknown as Mutable;
  f(copy);
  return copy as unknown as HaproxyConfig;
}

function section(c: Mutable, kind: string, name?: string): TypedSection & { lines: ConfigLine[] } {
  const s = c.sections.find((x) => x.kind === kind && x.name === name);
  if (s === undefined) throw new Error(`no ${kind} ${name ?? ''}`);
  return s;
}

function server(c: Mutable, backend: string, name: string): ServerLine & Record<string, unknown> {
  const s = section(c, 'backend', backend).lines.find((l) => l.kind === 'server' && l.name === name);
  if (s === undefined) throw new Error(`no server ${backend}/${name}`);
  return s as ServerLine & Record<string, unknown>;
}

function directive(c: Mutable, kind: string, name: string | undefined, prefix: string): { text: string } {
  const d = section(c, kind, name).lines.find((l) => l.kind === 'directive' && l.text.startsWith(prefix));
  if (d === undefined) throw new Error(`no ${prefix} in ${kind} ${name ?? ''}`);
  return d as { text: string };
}

interface Row {
  readonly name: string;
  readonly change: (c: Mutable) => void;
  /** [] = runtime-changeable only (same masked structure, same hash). */
  readonly expected: readonly { section: string; what: string[] }[];
}

const ROWS: readonly Row[] = [
  { name: 'a static server\'s address and port', change: (c) => Object.assign(server(c, 'app', 's1'), { address: '10.9.9.9', port: 9000 }), expected: [] },
  { name: 'a static server\'s weight', change: (c) => Object.assign(server(c, 'app', 's1'), { weight: 7 }), expected: [] },
  { name: 'a spare slot filled (address, port, weight, not disabled)', change: (c) => Object.assign(server(c, 'svc', 'olb-spare-2'), { address: '10.0.0.1', port: 80, weight: 0, disabled: false }), expected: [] },
  { name: 'a comment (the spec hash, a map run\'s entry count)', change: (c) => { c.preamble[1] = 'spec sha256:other'; section(c, 'global').lines.unshift({ kind: 'comment', text: 'x' }); }, expected: [] },
  { name: 'a spare slot less (counted apart: spareSlots)', change: (c) => { const s = section(c, 'backend', 'svc'); s.lines = s.lines.filter((l) => !(l.kind === 'server' && l.name === 'olb-spare-4')); }, expected: [] },
  { name: 'a static server becomes a backup', change: (c) => Object.assign(server(c, 'app', 's1'), { backup: true }), expected: [{ section: 'backend app', what: ['server s1'] }] },
  { name: 'a static server gets a health check', change: (c) => Object.assign(server(c, 'app', 's2'), { check: true }), expected: [{ section: 'backend app', what: ['server s2'] }] },
  { name: 'a static server gets a cookie value', change: (c) => Object.assign(server(c, 'app', 's2'), { cookie: 's2' }), expected: [{ section: 'backend app', what: ['server s2'] }] },
  { name: 'a static server disabled', change: (c) => Object.assign(server(c, 'api', 'a1'), { disabled: true }), expected: [{ section: 'backend api', what: ['server a1'] }] },
  { name: 'a static server added', change: (c) => section(c, 'backend', 'app').lines.push({ ...server(c, 'app', 's2'), name: 's3' }), expected: [{ section: 'backend app', what: ['server s3'] }] },
  { name: 'a directive\'s value', change: (c) => { directive(c, 'backend', 'app', 'timeout server').text = 'timeout server 31s'; }, expected: [{ section: 'backend app', what: ['timeout server'] }] },
  { name: 'a directive added', change: (c) => section(c, 'frontend', 'web').lines.push({ kind: 'directive', text: 'option forwardfor' }), expected: [{ section: 'frontend web', what: ['option forwardfor'] }] },
  { name: 'a routing line', change: (c) => { directive(c, 'frontend', 'web', 'use_backend').text = 'use_backend %[var(txn.olb_be)] if { var(txn.olb_be) -m found } TRUE'; }, expected: [{ section: 'frontend web', what: ['routes'] }] },
  { name: 'two directives swapped', change: (c) => { const s = section(c, 'backend', 'app'); const [a, b] = [s.lines[0], s.lines[1]]; s.lines[0] = b as ConfigLine; s.lines[1] = a as ConfigLine; }, expected: [{ section: 'backend app', what: ['order'] }] },
  { name: 'two sections swapped', change: (c) => { const n = c.sections.length; const [a, b] = [c.sections[n - 2], c.sections[n - 1]]; c.sections[n - 2] = b as never; c.sections[n - 1] = a as never; }, expected: [{ section: 'backend svc', what: ['moved'] }, { section: 'backend green', what: ['moved'] }] },
  { name: 'a section added', change: (c) => c.sections.push({ ...section(c, 'backend', 'api'), name: 'extra' }), expected: [{ section: 'backend extra', what: ['added'] }] },
  { name: 'a section removed', change: (c) => { c.sections = c.sections.filter((s) => !(s.kind === 'backend' && s.name === 'green')); }, expected: [{ section: 'backend green', what: ['removed'] }] },
];

for (const row of ROWS) {
  void test(`structure diff: ${row.name} -> ${row.expected.length === 0 ? 'runtime (same structure)' : 'reload'}`, () => {
    const before = maskConfig(rendered);
    const after = maskConfig(change(row.change));
    assert.deepEqual(diffSections(before, after), row.expected);
    assert.equal(hashJson(before) === hashJson(after), row.expected.length === 0, 'the hash moves exactly when the structure does');
  });
}

/** Planner decisions from spec and membership changes, each with its reason. */
const PLANS: readonly { name: string; before: () => ReturnType<typeof stateOf> | null; after: () => ReturnType<typeof stateOf>; kind: string; reasons: readonly [string, string, string?][] }[] = [
  { name: 'a new spec hash only', before: () => stateOf(base), after: () => desiredState(base, new Map(), { node: 'lb-a', specHash: 'other', mapDir: MAP_DIR }), kind: 'none', reasons: [] },
  { name: 'a static weight', before: () => stateOf(base), after: () => stateOf(edit(base, (s) => (s.backends[1]!.servers[0]!.weight = 50))), kind: 'runtime', reasons: [['weight-changed', 'app/s1', '100 -> 50']] },
  { name: 'a static address', before: () => stateOf(base), after: () => stateOf(edit(base, (s) => (s.backends[1]!.servers[0]!.address = '10.0.11.99'))), kind: 'runtime', reasons: [['server-changed', 'app/s1', '10.0.11.11:8080 -> 10.0.11.99:8080']] },
  { name: 'a discovered server', before: () => stateOf(base), after: () => stateOf(base, svc('10.0.0.1:80')), kind: 'runtime', reasons: [['server-added', 'svc/olb-spare-1', '10.0.0.1:80']] },
  { name: 'a discovered server leaves', before: () => stateOf(base, svc('10.0.0.1:80')), after: () => stateOf(base, svc(), { previous: stateOf(base, svc('10.0.0.1:80')) }), kind: 'runtime', reasons: [['server-removed', 'svc/olb-spare-1', '10.0.0.1:80']] },
  { name: 'a switch flip', before: () => stateOf(base), after: () => stateOf(edit(base, (s) => (s.switches[0]!.active = 'green'))), kind: 'runtime', reasons: [['switch-flipped', 'switch checkout', 'blue -> green']] },
  { name: 'more servers than spare slots', before: () => stateOf(base), after: () => stateOf(base, svc('10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80'), { previous: stateOf(base) }), kind: 'reload', reasons: [['spare-slots-exhausted', 'backend svc', '5 servers for 4 spare slots; rendering 8']] },
  { name: 'the spec\'s spare slot count', before: () => stateOf(base), after: () => stateOf(edit(base, (s) => (s.backends[5]!.spareSlots = 6))), kind: 'reload', reasons: [['spare-slots-changed', 'backend svc', '4 -> 6 spare slots']] },
  { name: 'a backup flag', before: () => stateOf(base), after: () => stateOf(edit(base, (s) => (s.backends[1]!.servers[0]!.backup = true))), kind: 'reload', reasons: [['structure-changed', 'backend app', 'server s1']] },
  { name: 'a timeout', before: () => stateOf(base), after: () => stateOf(edit(base, (s) => (s.backends[1]!.timeouts.serverMs = 31_000))), kind: 'reload', reasons: [['structure-changed', 'backend app', 'timeout server']] },
  { name: 'nothing applied', before: () => null, after: () => stateOf(base), kind: 'reload', reasons: [['initial', 'node lb-a']] },
];

for (const row of PLANS) {
  void test(`structure diff -> plan: ${row.name} -> ${row.kind}`, () => {
    const p = plan(row.before(), row.after());
    assert.equal(p.kind, row.kind);
    const reasons = p.kind === 'none' ? [] : p.reasons.map((r) => (r.detail === undefined ? [r.code, r.subject] : [r.code, r.subject, r.detail]));
    assert.deepEqual(reasons, row.reasons);
  });
}
