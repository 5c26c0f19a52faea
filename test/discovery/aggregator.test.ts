import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorCore, type FlushResult } from '../../src/discovery/aggregator.js';
import type { DiscoveredServer } from '../../src/discovery/types.js';

const s = (n: number, port = 80): DiscoveredServer => ({ address: `10.0.0.${n}`, port });
const snap = (source: string, servers: readonly DiscoveredServer[], at = 0) => ({ source, servers, at });
const summary = (r: FlushResult): string => {
  switch (r.kind) {
    case 'published':
      return `published g${r.publication.generation} [${r.publication.changed.join(',')}] held=${r.held.map((h) => h.backend).join(',')}`;
    case 'held':
      return `held ${r.held.map((h) => `${h.backend}:${h.removing}/${h.current}`).join(',')}`;
    case 'waiting':
      return `waiting ${r.dueAt}`;
    default:
      return r.kind;
  }
};

void test('debounce: min quiet time, bounded by max wait (table)', () => {
  // Each row: offers at given times (each a different list), then flush times and expected results.
  const rows: { name: string; offers: number[]; flushes: [number, string][] }[] = [
    { name: 'single change publishes after min', offers: [0], flushes: [[99, 'waiting 100'], [100, 'published g1 [web] held=']] },
    { name: 'each change restarts the min window', offers: [0, 80, 160], flushes: [[200, 'waiting 260'], [260, 'published g1 [web] held=']] },
    { name: 'a steady stream is cut by max', offers: [0, 90, 180, 270, 360, 450], flushes: [[499, 'waiting 500'], [500, 'published g1 [web] held=']] },
    { name: 'nothing offered is idle', offers: [], flushes: [[1000, 'idle']] },
  ];
  for (const row of rows) {
    const core = new AggregatorCore({ backends: [{ name: 'web', source: 'src' }], minWaitMs: 100, maxWaitMs: 500 });
    row.offers.forEach((at, i) => core.offer(snap('src', [s(i + 1)], at), at));
    for (const [at, expected] of row.flushes) assert.equal(summary(core.flush(at)), expected, row.name);
  }
});

void test('unchanged snapshots are dropped, in any order, and generations only count real changes', () => {
  const core = new AggregatorCore({ backends: [{ name: 'web', source: 'src' }], minWaitMs: 0, maxWaitMs: 0 });
  assert.equal(core.offer(snap('src', [s(1), s(2)]), 0).kind, 'accepted');
  assert.equal(summary(core.flush(0)), 'published g1 [web] held=');
  assert.equal(core.offer(snap('src', [s(2), s(1)]), 1).kind, 'unchanged');
  assert.equal(summary(core.flush(1)), 'idle');
  // A change and its revert within one window cancel out: no new generation.
  core.offer(snap('src', [s(1), s(2), s(3)]), 2);
  core.offer(snap('src', [s(1), s(2)]), 2);
  assert.equal(summary(core.flush(2)), 'unchanged');
  assert.equal(core.generation, 1);
  assert.equal(core.offer(snap('other', [s(9)]), 3).kind, 'unknown-source');
});

void test('removal guard: holds a change removing more than the share, per backend (table)', () => {
  const rows: { name: string; before: number; after: number[]; share?: number; expected: string }[] = [
    { name: 'remove 2 of 4 (50%) passes', before: 4, after: [1, 2], expected: 'published g2 [web] held=' },
    { name: 'remove 3 of 4 (75%) is held', before: 4, after: [1], expected: 'held web:3/4' },
    { name: 'empty list is held', before: 4, after: [], expected: 'held web:4/4' },
    { name: 'additions never trip it', before: 2, after: [1, 2, 3, 4, 5], expected: 'published g2 [web] held=' },
    { name: 'a share of 1 disables it', before: 4, after: [], share: 1, expected: 'published g2 [web] held=' },
  ];
  for (const row of rows) {
    const core = new AggregatorCore({ backends: [{ name: 'web', source: 'src', ...(row.share === undefined ? {} : { maxRemovalShare: row.share }) }], minWaitMs: 0, maxWaitMs: 0 });
    core.offer(snap('src', Array.from({ length: row.before }, (_, i) => s(i + 1))), 0);
    assert.equal(core.flush(0).kind, 'published', row.name);
    core.offer(snap('src', row.after.map((n) => s(n))), 1);
    assert.equal(summary(core.flush(1)), row.expected, row.name);
  }
});

void test('a held backend keeps its servers, other backends proceed, and approval lets it through', () => {
  const core = new AggregatorCore({ backends: [{ name: 'web', source: 'a' }, { name: 'api', source: 'b' }], minWaitMs: 10, maxWaitMs: 100 });
  core.offer(snap('a', [s(1), s(2), s(3)]), 0);
  core.offer(snap('b', [s(7)]), 0);
  assert.equal(summary(core.flush(10)), 'published g1 [web,api] held=');
  core.offer(snap('a', []), 20);
  core.offer(snap('b', [s(7), s(8)]), 20);
  const r = core.flush(30);
  assert.equal(summary(r), 'published g2 [api] held=web');
  assert.ok(r.kind === 'published');
  assert.equal(r.held[0]?.message, 'backend web: source a would remove 3 of 3 servers at once (100% > 50%); held back, the current servers stay. If the removal is intended, approve it or raise the backend\'s removal limit');
  assert.deepEqual(core.membership().get('web'), [s(1), s(2), s(3)]);
  // The same held snapshot again changes nothing; an approval publishes it after the min wait.
  assert.equal(core.offer(snap('a', []), 40).kind, 'unchanged');
  assert.equal(summary(core.flush(40)), 'idle');
  core.approve('web', 50);
  assert.equal(summary(core.flush(60)), 'published g3 [web] held=');
  assert.deepEqual(core.membership().get('web'), []);
});

void test('two backends on one source get the same servers', () => {
  const core = new AggregatorCore({ backends: [{ name: 'blue', source: 'x' }, { name: 'green', source: 'x' }], minWaitMs: 0 });
  core.offer(snap('x', [s(2), s(1)]), 0);
  const r = core.flush(0);
  assert.ok(r.kind === 'published');
  assert.deepEqual(r.publication.membership.get('blue'), [s(1), s(2)]);
  assert.deepEqual(r.publication.membership.get('green'), [s(1), s(2)]);
});
