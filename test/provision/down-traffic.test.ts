/**
 * down's traffic decision (src/provision/down-traffic.ts) as a table: fresh or stale statuses,
 * current sessions, sessions that grew between the two reads, and the VIP route pointing at a
 * node down would remove without a fresh status. And the parse of a published status object.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideDownTraffic, parseTrafficStatus, type NodeTrafficFacts, type TrafficStatus } from '../../src/provision/down-traffic.js';

const NOW = 1_000_000;
const st = (ageMs: number, current: number, total: number, intervalMs = 10_000): TrafficStatus => ({ publishedAt: NOW - ageMs, intervalMs, traffic: { currentSessions: current, totalSessions: total } });
const node = (facts: Partial<NodeTrafficFacts>): NodeTrafficFacts => ({ node: 'lb-a', first: null, second: null, removed: true, routed: true, ...facts });

const TABLE: readonly { readonly name: string; readonly facts: NodeTrafficFacts; readonly want: string | null }[] = [
  { name: 'fresh, idle, unchanged', facts: node({ first: st(4_000, 0, 10), second: st(1_000, 0, 10) }), want: null },
  { name: 'fresh with open sessions', facts: node({ first: st(4_000, 0, 10), second: st(1_000, 3, 13) }), want: 'current-sessions' },
  { name: 'open sessions in the first read, the second not yet republished', facts: node({ first: st(2_000, 2, 10), second: st(2_000, 2, 10) }), want: 'current-sessions' },
  { name: 'idle now but sessions grew between the reads', facts: node({ first: st(6_000, 0, 10), second: st(1_000, 0, 12) }), want: 'sessions-grew' },
  { name: 'only the second read found a status (first publish)', facts: node({ second: st(1_000, 0, 5) }), want: null },
  { name: 'no status, routed, would be removed', facts: node({}), want: 'no-fresh-status' },
  { name: 'stale status (older than 3 intervals), routed', facts: node({ first: st(31_000, 0, 10), second: st(31_000, 0, 10) }), want: 'no-fresh-status' },
  { name: 'stale status with sessions (not trusted), routed', facts: node({ first: st(40_000, 5, 10), second: st(40_000, 5, 10) }), want: 'no-fresh-status' },
  { name: 'just within 3 intervals', facts: node({ first: st(30_000, 0, 10), second: st(30_000, 0, 10) }), want: null },
  { name: 'no status, not routed', facts: node({ routed: false }), want: null },
  { name: 'no status, routed, but down removes no instance of it', facts: node({ removed: false }), want: null },
  { name: 'stale with sessions, not routed', facts: node({ first: st(40_000, 5, 10), routed: false }), want: null },
  { name: 'fresh with sessions, not routed (the status wins)', facts: node({ second: st(1_000, 1, 1), routed: false }), want: 'current-sessions' },
  { name: 'zero interval is never fresh', facts: node({ second: st(0, 0, 0, 0) }), want: 'no-fresh-status' },
];

for (const row of TABLE) {
  void test(`down traffic: ${row.name}`, () => {
    const d = decideDownTraffic([row.facts], NOW);
    assert.deepEqual(d.findings.map((f) => f.reason), row.want === null ? [] : [row.want]);
    assert.equal(d.refuse, row.want !== null);
  });
}

void test('down traffic: the messages name the node and why; every node is judged', () => {
  const d = decideDownTraffic([
    node({ node: 'lb-a', second: st(2_000, 3, 40) }),
    node({ node: 'lb-b' }),
    node({ node: 'lb-c', first: st(45_000, 0, 1), second: st(45_000, 0, 1) }),
    node({ node: 'lb-d', first: st(9_000, 0, 7), second: st(2_000, 0, 8) }),
  ], NOW);
  assert.deepEqual(d.findings.map((f) => f.message), [
    'node lb-a has 3 sessions open (its status of 2 s ago)',
    'node lb-b has published no status and the VIP route still points at it, so down cannot tell whether it carries traffic',
    'node lb-c published its status last 45 s ago (stale after 3 intervals of 10 s) and the VIP route still points at it, so down cannot tell whether it carries traffic',
    'node lb-d served 1 new session between two reads of its status',
  ]);
});

void test('published status parse: the contract\'s shape, anything else is no status', () => {
  const good = { format: 1, publishedAt: 5, intervalMs: 10_000, specVersion: null, status: {}, traffic: { currentSessions: 0, totalSessions: 3 } };
  assert.deepEqual(parseTrafficStatus(JSON.stringify(good)), { publishedAt: 5, intervalMs: 10_000, traffic: { currentSessions: 0, totalSessions: 3 } });
  for (const bad of [null, '', 'not json', '[]', '1', JSON.stringify({ ...good, format: 2 }), JSON.stringify({ ...good, traffic: null }), JSON.stringify({ ...good, traffic: { currentSessions: -1, totalSessions: 0 } }), JSON.stringify({ ...good, publishedAt: '5' })]) {
    assert.equal(parseTrafficStatus(bad), null, String(bad));
  }
});
