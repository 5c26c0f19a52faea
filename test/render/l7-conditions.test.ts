/**
 * Query-string and cookie conditions in the HAProxy compiler (issue 21): one variable per key,
 * runs of one shape compiled to one map lookup, and `haproxy -c` accepts the result.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Condition, Route } from '../../src/model/spec.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { route, routesSpec } from '../explain/model-builder.js';
import { haproxyCheck } from '../property/checks.js';

function render(routes: readonly Route[]) {
  return renderHaproxy(routesSpec(routes), { node: 'lb-a', specHash: '0'.repeat(64), mapDir: '/run/olb/maps' });
}

void test('10,000 query rules and 10,000 cookie rules of one shape each compile to one map lookup', async (t) => {
  const q = (v: string): Condition => ({ kind: 'query', name: 'tenant', match: { type: 'exact', value: v } });
  const c = (v: string): Condition => ({ kind: 'cookie', name: 'tier', match: { type: 'prefix', value: v } });
  const routes = [
    ...Array.from({ length: 10_000 }, (_, i) => route(`q${i}`, [q(`t${i}`)], `b${i % 4}`)),
    ...Array.from({ length: 10_000 }, (_, i) => route(`c${i}`, [c(`k${i}-`)], `b${i % 4}`)),
  ];
  const out = render(routes);
  const frontend = out.config.slice(out.config.indexOf('frontend web'));
  assert.match(frontend, /^ {2}http-request set-var\(txn\.olb_q1\) url_param\(tenant\)$/m);
  assert.match(frontend, /^ {2}http-request set-var\(txn\.olb_c1\) req\.cook\(tier\)$/m);
  assert.match(frontend, /set-var\(txn\.olb_be\) var\(txn\.olb_q1\),map_str\(\/run\/olb\/maps\/web\.run-1\.map\)/);
  assert.match(frontend, /set-var\(txn\.olb_be\) var\(txn\.olb_c1\),map_beg\(\/run\/olb\/maps\/web\.run-10001\.map\)/);
  // Two lookups, not 20,000 rules.
  assert.equal(frontend.split('\n').filter((l) => l.includes('set-var(txn.olb_be)')).length, 2);
  const maps = new Map(out.maps.map((m) => [m.name, m.content]));
  assert.equal(maps.get('web.run-1.map')?.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length, 10_000);
  assert.equal(maps.get('web.run-10001.map')?.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length, 10_000);
  const dir = await mkdtemp(join(tmpdir(), 'olb-l7-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const small = renderHaproxy(routesSpec(routes.slice(9_990, 10_010)), { node: 'lb-a', specHash: '0'.repeat(64), mapDir: join(dir, 'maps') });
  const verdict = await haproxyCheck({ config: small.config, maps: small.maps, dir, mapDir: join(dir, 'maps'), signal: AbortSignal.timeout(60_000) });
  assert.equal(verdict.ok, true, verdict.output);
});

void test('inline query and cookie conditions read the variables; empty values and present/absent', async (t) => {
  const routes = [
    route('a', [{ kind: 'query', name: 'Q.x~y', match: { type: 'exact', value: '' } }, { kind: 'cookie', name: 'c', match: { type: 'absent' } }], 'b0'),
    route('b', [{ kind: 'query', name: 'Q.x~y', match: { type: 'regex', value: '^a}' } }, { kind: 'cookie', name: 'c', match: { type: 'exact', value: 'a b' } }], 'b1'),
    route('c', [{ kind: 'cookie', name: 'c', match: { type: 'prefix', value: '' } }], 'b2'),
  ];
  const out = render(routes);
  assert.ok(out.config.includes("  http-request set-var(txn.olb_be) str(b0) if !{ var(txn.olb_be) -m found } { var(txn.olb_q1) -m len 0 } !{ var(txn.olb_c1) -m found }"), out.config);
  assert.ok(out.config.includes("  http-request set-var(txn.olb_be) str(b1) if !{ var(txn.olb_be) -m found } { var(txn.olb_q1) -m reg -- '^a}' } { var(txn.olb_c1) -m str -- 'a b' }"), out.config);
  assert.ok(out.config.includes('  http-request set-var(txn.olb_be) str(b2) if !{ var(txn.olb_be) -m found } { var(txn.olb_c1) -m found }'), out.config);
  const dir = await mkdtemp(join(tmpdir(), 'olb-l7-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const checked = renderHaproxy(routesSpec(routes), { node: 'lb-a', specHash: '0'.repeat(64), mapDir: join(dir, 'maps') });
  const verdict = await haproxyCheck({ config: checked.config, maps: checked.maps, dir, mapDir: join(dir, 'maps'), signal: AbortSignal.timeout(60_000) });
  assert.equal(verdict.ok, true, verdict.output);
});

void test('a marked route with a sticky split: the random line runs only when the sticky line did not choose', () => {
  const out = render([
    {
      name: 's',
      conditions: [],
      action: { kind: 'split', sides: [{ backend: 'b0', weight: 50 }, { backend: 'b1', weight: 50 }], sticky: { kind: 'header', name: 'x-user' } },
      requestHeaders: { remove: ['x-a'], set: [], add: [] },
    },
  ]);
  assert.ok(out.config.includes('  http-request set-var(txn.olb_rt) int(1) if !{ var(txn.olb_be) -m found } !{ var(txn.olb_rt) -m found }\n'), out.config);
  assert.ok(out.config.includes('  http-request set-var(txn.olb_be) req.fhdr(x-user,-1),crc32,mod(100),map_int(/run/olb/maps/web.s.split.map) if { var(txn.olb_rt) -m int 1 } !{ var(txn.olb_be) -m found } { req.fhdr(x-user,-1) -m found }\n'), out.config);
  assert.ok(out.config.includes('  http-request set-var(txn.olb_be) rand(100),map_int(/run/olb/maps/web.s.split.map) if { var(txn.olb_rt) -m int 1 } !{ var(txn.olb_be) -m found }\n'), out.config);
});
