/**
 * The contest decision (src/failover/contest.ts) as a table of plain values: one row per rule of
 * docs/failover.md's decision table, plus the rows at each rule's edges (equal priority, the
 * preempt delay's end, the yield's deadline, INIT as no answer). Each row runs the decision the
 * way the controller does: the facts it asks for are taken from the row, and the row also pins
 * which facts were asked for (each costs an API call).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONTEST_REASONS, decideContest, isDecision } from '../../src/failover/contest.js';
import type { ContestAction, ContestReason, ContestView, PeerAnswer } from '../../src/failover/contest.js';
import type { Holder } from '../../src/failover/types.js';

const NOW = 100_000;
const US = 100;
const higher: Holder = { kind: 'peer', node: 'lb1', priority: 150, networkInterfaceId: 'eni-1' };
const lower: Holder = { kind: 'peer', node: 'lb1', priority: 50, networkInterfaceId: 'eni-1' };
const equal: Holder = { kind: 'peer', node: 'lb1', priority: US, networkInterfaceId: 'eni-1' };
const master: PeerAnswer = { vrrp: 'MASTER', healthy: true };
const backup: PeerAnswer = { vrrp: 'BACKUP', healthy: true };
const fault: PeerAnswer = { vrrp: 'FAULT', healthy: true };
const init: PeerAnswer = { vrrp: 'INIT', healthy: true };
const sick: PeerAnswer = { vrrp: 'MASTER', healthy: false };

interface Row {
  readonly name: string;
  readonly view: Partial<ContestView> & { holder: Holder };
  /** What the holder answers if asked (null: no answer). */
  readonly peer?: PeerAnswer | null;
  /** What the heartbeat read says if asked. */
  readonly stale?: boolean;
  readonly action: ContestAction;
  readonly reason: ContestReason;
  /** The facts asked for, in order. */
  readonly asked: readonly ('peer' | 'heartbeat')[];
  readonly recheckInMs?: number;
}

const rows: readonly Row[] = [
  // 1-3: not a contest.
  { name: 'held by us', view: { holder: { kind: 'us' } }, action: 'keep', reason: 'ours', asked: [] },
  { name: 'no route / blackhole: drift', view: { holder: { kind: 'none' } }, action: 'retake', reason: 'unowned', asked: [] },
  { name: 'a stranger (set by hand): drift', view: { holder: { kind: 'other', target: 'eni-x' } }, action: 'retake', reason: 'stranger', asked: [] },
  { name: 'a stranger, even during a switchover', view: { holder: { kind: 'other', target: 'lb1' }, yieldTo: { node: 'lb1', until: NOW + 1 } }, action: 'retake', reason: 'stranger', asked: [] },
  // 4: switchover.
  { name: 'the switchover target, before the deadline', view: { holder: lower, yieldTo: { node: 'lb1', until: NOW + 1 } }, action: 'leave', reason: 'switchover-target', asked: [] },
  { name: 'the switchover target (higher), before the deadline', view: { holder: higher, yieldTo: { node: 'lb1', until: NOW + 1 } }, peer: null, action: 'leave', reason: 'switchover-target', asked: [] },
  { name: 'the switchover target at the deadline: a contest again', view: { holder: lower, yieldTo: { node: 'lb1', until: NOW } }, action: 'retake', reason: 'lower-priority', asked: [] },
  { name: 'a yield to another node does not cover this one', view: { holder: lower, yieldTo: { node: 'lb3', until: NOW + 1 } }, action: 'retake', reason: 'lower-priority', asked: [] },
  // 5: lower or equal priority.
  { name: 'lower, no preempt delay: retake without asking', view: { holder: lower }, peer: master, action: 'retake', reason: 'lower-priority', asked: [] },
  { name: 'equal priority counts as lower', view: { holder: equal }, peer: master, action: 'retake', reason: 'lower-priority', asked: [] },
  { name: 'lower, within the delay, serving as MASTER: defer', view: { holder: lower, retakeDelayMs: 5000 }, peer: master, action: 'defer', reason: 'lower-priority-serving', asked: ['peer'], recheckInMs: 1000 },
  { name: 'lower, within the delay, serving as BACKUP: defer', view: { holder: lower, retakeDelayMs: 5000, deferredSince: NOW - 4700 }, peer: backup, action: 'defer', reason: 'lower-priority-serving', asked: ['peer'], recheckInMs: 300 },
  { name: 'lower, delay over: retake without asking', view: { holder: lower, retakeDelayMs: 5000, deferredSince: NOW - 5000 }, peer: master, action: 'retake', reason: 'lower-priority', asked: [] },
  { name: 'lower, within the delay, silent: retake', view: { holder: lower, retakeDelayMs: 5000, deferredSince: NOW - 10 }, peer: null, action: 'retake', reason: 'lower-priority', asked: ['peer'] },
  { name: 'lower, within the delay, unhealthy: retake', view: { holder: lower, retakeDelayMs: 5000 }, peer: sick, action: 'retake', reason: 'lower-priority', asked: ['peer'] },
  { name: 'lower, within the delay, FAULT: retake', view: { holder: lower, retakeDelayMs: 5000 }, peer: fault, action: 'retake', reason: 'lower-priority', asked: ['peer'] },
  { name: 'lower, within the delay, INIT is no answer: retake', view: { holder: lower, retakeDelayMs: 5000 }, peer: init, action: 'retake', reason: 'lower-priority', asked: ['peer'] },
  // 6-10: higher priority.
  { name: 'higher, says BACKUP: retake', view: { holder: higher }, peer: backup, action: 'retake', reason: 'higher-priority-not-master', asked: ['peer'] },
  { name: 'higher, says FAULT (heartbeat not read)', view: { holder: higher, heartbeat: true }, peer: fault, stale: false, action: 'retake', reason: 'higher-priority-not-master', asked: ['peer'] },
  { name: 'higher, silent, our claim failed: retake', view: { holder: higher, mustRetake: true, heartbeat: true }, peer: null, stale: false, action: 'retake', reason: 'claim-failed-holder-silent', asked: ['peer'] },
  { name: 'higher, INIT, our claim failed: retake', view: { holder: higher, mustRetake: true }, peer: init, action: 'retake', reason: 'claim-failed-holder-silent', asked: ['peer'] },
  { name: 'higher, says MASTER although our claim failed: yield', view: { holder: higher, mustRetake: true }, peer: master, action: 'yield', reason: 'higher-priority-master', asked: ['peer'] },
  { name: 'higher, silent, heartbeat stopped: retake', view: { holder: higher, heartbeat: true }, peer: null, stale: true, action: 'retake', reason: 'heartbeat-stopped', asked: ['peer', 'heartbeat'] },
  { name: 'higher, silent, heartbeat moving: yield', view: { holder: higher, heartbeat: true }, peer: null, stale: false, action: 'yield', reason: 'higher-priority-silent', asked: ['peer', 'heartbeat'] },
  { name: 'higher, silent, no heartbeat to read: yield', view: { holder: higher }, peer: null, action: 'yield', reason: 'higher-priority-silent', asked: ['peer'] },
  { name: 'higher, says MASTER (heartbeat not read): yield', view: { holder: higher, heartbeat: true }, peer: master, stale: true, action: 'yield', reason: 'higher-priority-master', asked: ['peer'] },
  { name: 'higher, says MASTER but unhealthy: still yield', view: { holder: higher }, peer: sick, action: 'yield', reason: 'higher-priority-master', asked: ['peer'] },
];

const defaults: Omit<ContestView, 'holder'> = { ourPriority: US, retakeDelayMs: 0, mustRetake: false, deferredSince: null, yieldTo: null, heartbeat: false };

for (const row of rows) {
  void test(`contest: ${row.name} -> ${row.action} (${row.reason})`, () => {
    const view: ContestView = { ...defaults, ...row.view };
    const asked: ('peer' | 'heartbeat')[] = [];
    let facts: { peer?: PeerAnswer | null; heartbeatStale?: boolean } = {};
    for (let i = 0; ; i++) {
      assert.ok(i < 3, 'the decision keeps asking');
      const r = decideContest(view, facts, NOW);
      if (isDecision(r)) {
        assert.deepEqual({ action: r.action, reason: r.reason, asked }, { action: row.action, reason: row.reason, asked: row.asked });
        if (row.recheckInMs !== undefined) assert.equal(r.recheckInMs, row.recheckInMs);
        return;
      }
      asked.push(r.need);
      if (r.need === 'peer') {
        assert.ok(row.peer !== undefined, 'asked the peer, the row has no answer');
        facts = { ...facts, peer: row.peer };
      } else {
        assert.ok(row.stale !== undefined, 'read the heartbeat, the row has no value');
        facts = { ...facts, heartbeatStale: row.stale };
      }
    }
  });
}

void test('contest: every reason code is reached by some row, and only those', () => {
  assert.deepEqual(new Set(rows.map((r) => r.reason)), new Set(CONTEST_REASONS));
});

void test('contest: the decision is pure (same inputs, same answer; inputs untouched)', () => {
  const view: ContestView = Object.freeze({ ...defaults, holder: lower, retakeDelayMs: 5000, deferredSince: NOW - 100 });
  const facts = Object.freeze({ peer: master });
  assert.deepEqual(decideContest(view, facts, NOW), decideContest(view, facts, NOW));
});
