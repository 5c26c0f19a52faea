/**
 * The contest core: what a master does about one owned resource found in a re-check, as a pure
 * decision over plain values. The controller (controller.ts) gathers the inputs (who holds the
 * resource, what the holder says over the handoff link, whether its heartbeat in the cloud has
 * stopped, its own deferral and switchover state), calls `decideContest`, and carries out the
 * action. No I/O, no clock: `now` is passed in. The rules are written as a table in
 * docs/failover.md; test/failover/contest.test.ts pins every row.
 *
 * Two inputs cost an API call (the peer's answer, the heartbeat read), so they are gathered only
 * when a rule needs them, as before the split: the decision then answers `{ need }` and the
 * controller calls it again with that fact added.
 */
import type { VrrpState } from '../keepalived/notify-fifo.js';
import type { Holder } from './types.js';

/** What a peer says about itself over the handoff link. */
export interface PeerAnswer {
  readonly vrrp: VrrpState;
  /** Its HAProxy answers its health URI. */
  readonly healthy: boolean;
}

/** The master's own state about one resource, read without I/O. */
export interface ContestView {
  readonly holder: Holder;
  /** This node's VRRP priority. */
  readonly ourPriority: number;
  /** The preempt delay (spec `vrrp.preemptDelayMs`): a live lower-priority holder keeps the resource this long. */
  readonly retakeDelayMs: number;
  /** This mastership's claim of the resource failed (it is retaken from any holder that is not master). */
  readonly mustRetake: boolean;
  /** Since when a live lower-priority holder has been deferred to (null: not deferred). */
  readonly deferredSince: number | null;
  /** A planned switchover: resources held by `node` are left alone until `until`. */
  readonly yieldTo: { readonly node: string; readonly until: number } | null;
  /** A heartbeat can be read from the cloud (the agent has one; tests may not). */
  readonly heartbeat: boolean;
}

/** What the controller gathered on request (`need`); absent: not gathered. */
export interface ContestFacts {
  /** What the holder answered (null: no answer). INIT counts as no answer (an agent still starting). */
  readonly peer?: PeerAnswer | null;
  /** The holder's heartbeat has not moved for the stale period. */
  readonly heartbeatStale?: boolean;
}

/** What to do about the resource. */
export type ContestAction =
  /** It points at us: nothing to do. */
  | 'keep'
  /** Claim it now. */
  | 'retake'
  /** Leave it to the holder (a higher-priority master): reported, not fought. */
  | 'yield'
  /** Leave it for now, look again in `recheckInMs` (a live lower-priority holder, the preempt delay). */
  | 'defer'
  /** Leave it to the switchover target (not a contest). */
  | 'leave';

/**
 * Why: a closed set, the `reason` field of the controller's log lines and the `reason` label of
 * `overlay_lb_contests_total` / `overlay_lb_drift_total`. One per row of the decision table.
 */
export const CONTEST_REASONS = [
  'ours',
  'unowned',
  'stranger',
  'switchover-target',
  'lower-priority-serving',
  'lower-priority',
  'higher-priority-not-master',
  'claim-failed-holder-silent',
  'heartbeat-stopped',
  'higher-priority-master',
  'higher-priority-silent',
] as const;
export type ContestReason = (typeof CONTEST_REASONS)[number];

export interface ContestDecision {
  readonly action: ContestAction;
  readonly reason: ContestReason;
  /** `defer` only: when to look again (at most 1 s: a deferred holder that stops answering is retaken at once). */
  readonly recheckInMs?: number;
}

/** A fact the decision needs before it can decide; the controller gathers it and asks again. */
export interface ContestNeed {
  readonly need: 'peer' | 'heartbeat';
}

/** The longest a deferred retake waits before the next look. */
export const DEFER_RECHECK_MAX_MS = 1000;

/**
 * The contest rules (docs/failover.md, "Decision table"), first match wins:
 *
 * 1. held by us: keep;
 * 2. held by nobody (no route, blackhole, not associated): retake (drift);
 * 3. held by a target that is not a cluster node: retake (drift);
 * 4. held by the switchover target, before the yield's deadline: leave;
 * 5. a peer of lower or equal priority: within the preempt delay, when it answers healthy and
 *    MASTER or BACKUP: defer; otherwise retake;
 * 6. a higher-priority peer that answers and is not MASTER: retake;
 * 7. ... that does not answer, and our claim of this resource failed this mastership: retake;
 * 8. ... that does not answer, and its heartbeat has stopped: retake;
 * 9. ... that answers MASTER: yield; 10. ... that does not answer (heartbeat moving or unknown): yield.
 */
export function decideContest(view: ContestView, facts: ContestFacts, now: number): ContestDecision | ContestNeed {
  const h = view.holder;
  switch (h.kind) {
    case 'us':
      return { action: 'keep', reason: 'ours' };
    case 'none':
      return { action: 'retake', reason: 'unowned' };
    case 'other':
      return { action: 'retake', reason: 'stranger' };
    case 'peer':
      break;
  }
  if (view.yieldTo !== null && view.yieldTo.node === h.node && now < view.yieldTo.until) return { action: 'leave', reason: 'switchover-target' };
  const peer = facts.peer === undefined || facts.peer === null || facts.peer.vrrp === 'INIT' ? (facts.peer === undefined ? undefined : null) : facts.peer;

  if (h.priority <= view.ourPriority) {
    const since = view.deferredSince ?? now;
    const delay = view.retakeDelayMs;
    if (delay > 0 && now - since < delay) {
      if (peer === undefined) return { need: 'peer' };
      if (peer !== null && peer.healthy && (peer.vrrp === 'MASTER' || peer.vrrp === 'BACKUP')) {
        return { action: 'defer', reason: 'lower-priority-serving', recheckInMs: Math.min(DEFER_RECHECK_MAX_MS, since + delay - now) };
      }
    }
    return { action: 'retake', reason: 'lower-priority' };
  }

  if (peer === undefined) return { need: 'peer' };
  if (peer !== null && peer.vrrp !== 'MASTER') return { action: 'retake', reason: 'higher-priority-not-master' };
  if (peer === null && view.mustRetake) return { action: 'retake', reason: 'claim-failed-holder-silent' };
  if (peer === null && view.heartbeat) {
    if (facts.heartbeatStale === undefined) return { need: 'heartbeat' };
    if (facts.heartbeatStale) return { action: 'retake', reason: 'heartbeat-stopped' };
  }
  return { action: 'yield', reason: peer === null ? 'higher-priority-silent' : 'higher-priority-master' };
}

/** Whether a result is a decision (not a request for one more fact). */
export function isDecision(r: ContestDecision | ContestNeed): r is ContestDecision {
  return 'action' in r;
}
