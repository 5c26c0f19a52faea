import type { VrrpState, VrrpTransition } from '../keepalived/notify-fifo.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Claimer, ClaimOutcome, ResourceView } from './types.js';
import type { FailoverMetrics } from './metrics.js';
import type { MasterHeartbeat } from './heartbeat.js';
import { decideContest, DEFER_RECHECK_MAX_MS, isDecision } from './contest.js';
import type { ContestDecision, ContestFacts, ContestView, PeerAnswer } from './contest.js';

/** Re-checks on MASTER_RX_LOWER_PRI come at most this often (more rarely while they find nothing to fix). */
const RECLAIM_GAP_MS = 1000;

/** What the controller is doing. */
export type ControllerPhase = 'idle' | 'claiming' | 'holding';

export interface TransitionRecord {
  readonly at: number;
  readonly from: VrrpState;
  readonly to: VrrpState;
  readonly reason: string;
}

export interface ResourceStatus {
  readonly id: string;
  readonly holder: ResourceView['holder'] | null;
  readonly lastClaim: ClaimOutcome | null;
  readonly contested: boolean;
}

export interface ControllerStatus {
  readonly instance: string;
  readonly vrrp: VrrpState;
  readonly phase: ControllerPhase;
  readonly resources: readonly ResourceStatus[];
  readonly transitions: readonly TransitionRecord[];
  /** Detection to every resource claimed, for the last MASTER transition. */
  readonly lastDetectToClaimedMs: number | null;
  readonly contests: number;
  /** The switchover target this node leaves its resources to (old master during a switchover). */
  readonly yieldingTo?: string | null;
  /** The last heartbeat write failed (a missing permission, the API down). */
  readonly heartbeatFailing: boolean;
}

export type { PeerAnswer } from './contest.js';

export interface FailoverControllerOptions {
  /** The VRRP instance this controller follows. */
  readonly instance: string;
  readonly claimer: Claimer;
  /** This node's VRRP priority: in a contest the higher priority keeps the resource. */
  readonly priority: number;
  /** While MASTER, re-check every owned resource this often. @default 10000 */
  readonly recheckIntervalMs?: number;
  /** After a failed claim, try the failed resources again after this long (doubling, capped by the recheck interval). @default 1000 */
  readonly retryFailedMs?: number;
  /**
   * Takeover from a live peer (a failback, a partition that healed): while MASTER, a resource
   * held by a lower-priority peer that still answers (`peerState`) is retaken only once it has
   * been held so for this long, the preempt delay: the returning node's HAProxy has had time to
   * find its backends, and the claim hands the peer's open connections back to it. A peer that
   * does not answer is retaken at once (it may be down, or cut off: the routes must settle).
   * @default 0 (retake at once)
   */
  readonly retakeDelayMs?: number;
  /**
   * What a peer says about itself right now (bounded; null: no answer). Without it every peer
   * counts as not answering: lower-priority holders are retaken at once, higher ones yielded to.
   */
  readonly peerState?: (node: string, signal: AbortSignal) => Promise<PeerAnswer | null>;
  /**
   * The master's heartbeat in the cloud: written once per re-check period while MASTER, and read
   * for a silent higher-priority holder, which is retaken once its heartbeat has stopped. Without
   * it a silent higher-priority holder is yielded to for as long as it holds the resource.
   */
  readonly heartbeat?: MasterHeartbeat;
  readonly clock?: Clock;
  readonly log: Logger;
  readonly metrics?: FailoverMetrics;
}

/**
 * Follows keepalived's transitions for one VRRP instance and moves the VIP (routes or EIP).
 *
 * - MASTER: claim every owned resource (a newer transition aborts the claim in flight: one
 *   serial, latest-wins queue), then re-check every `recheckIntervalMs` and fix drift.
 * - MASTER_RX_LOWER_PRI (a lower-priority node advertises while we are master, as after a
 *   partition heals): re-check at once (see the contest rule for what is retaken when).
 * - BACKUP, FAULT, STOP: stop claiming. Never delete anything: the new master overwrites the
 *   route, deleting it would black-hole traffic until then.
 * - Contest: while MASTER, a resource found held by another node of the cluster means two
 *   masters (a partition). The higher priority keeps it: we retake it from a lower-priority
 *   node and yield to a higher one (reported, not fought), so the route settles on one node and
 *   does not ping-pong. A lower-priority node that still answers keeps it for `retakeDelayMs`
 *   first (a healed partition: a failback, not a failover). A higher-priority node that answers
 *   and says it is not master (it lost mastership after a claim EC2 had accepted) is no contest:
 *   retaken at once; one that does not answer is yielded to (a partition, or gone: from here the
 *   two look the same, and yielding is what lets the routes settle) while its heartbeat in the
 *   cloud moves, and retaken once it has stopped (it died while cut off). A resource held by a
 *   stranger (set by hand) or by nobody is drift: retaken at once.
 */
export class FailoverController {
  readonly #o: FailoverControllerOptions;
  readonly #clock: Clock;
  #vrrp: VrrpState = 'INIT';
  #phase: ControllerPhase = 'idle';
  #transitionAt = 0;
  /** Counts transitions: a mastership is one epoch. */
  #epoch = 0;
  /** The epoch whose claim of everything has run (an error later resumes re-checking, no new claim). */
  #claimedEpoch = -1;
  #lastReclaimAt = Number.NEGATIVE_INFINITY;
  /** Minimum gap between MASTER_RX_LOWER_PRI re-checks: doubles while they find nothing to do. */
  #reclaimGapMs = RECLAIM_GAP_MS;
  #work: AbortController | null = null;
  #wake: (() => void) | null = null;
  #reclaim = false;
  #transitions: TransitionRecord[] = [];
  #resources = new Map<string, { holder: ResourceView['holder'] | null; lastClaim: ClaimOutcome | null; contested: boolean }>();
  #lastDetectToClaimedMs: number | null = null;
  #contests = 0;
  /** Resources held by a live lower-priority peer: since when (their retake waits `retakeDelayMs`). */
  #deferred = new Map<string, number>();
  /** Resources this mastership failed to claim: retaken from any holder that is not a master. */
  #mustRetake = new Set<string>();
  /** Ends the holding loop's wait early (a reclaim). */
  #kick: (() => void) | null = null;
  /** Claims of a planned switchover in flight (`claimNow`): a transition aborts them too. */
  #adhoc = new Set<AbortController>();
  /** When this mastership last wrote its heartbeat, and whether the last write failed. */
  #beatAt = Number.NEGATIVE_INFINITY;
  #beatFailing = false;
  /** Planned switchover: while MASTER, leave resources held by this peer alone until `until`. */
  #yield: { node: string; until: number } | null = null;

  constructor(options: FailoverControllerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Feeds one transition from keepalived (or a synthesized STOP when keepalived died). */
  onTransition(t: Pick<VrrpTransition, 'name' | 'state'>, reason = 'keepalived notify'): void {
    if (t.name !== this.#o.instance) return;
    const from = this.#vrrp;
    if (t.state === 'MASTER_RX_LOWER_PRI' && from === 'MASTER') {
      // keepalived writes this for every lower-priority advert (every advert interval in a
      // one-way partition): an event, not a transition. It only cuts the re-check's wait short
      // (never aborts a claim), at most once a second, and more rarely (up to the re-check period)
      // while those re-checks find nothing to fix, so a lasting one-way partition cannot drain
      // the API's budget or flood the log.
      const now = this.#clock.now();
      if (now - this.#lastReclaimAt < this.#reclaimGapMs) return;
      this.#lastReclaimAt = now;
      this.#reclaim = true;
      const fields = { event: 'reclaim', instance: this.#o.instance, reason: 'a lower-priority node advertised while we are master', nextGapMs: this.#reclaimGapMs };
      if (this.#reclaimGapMs === RECLAIM_GAP_MS) this.#o.log.info(fields, 're-checking every owned resource now');
      else this.#o.log.debug(fields, 're-checking every owned resource now');
      this.#kick?.();
      return;
    }
    const to: VrrpState = t.state === 'MASTER_RX_LOWER_PRI' ? 'MASTER' : t.state;
    if (to === from) return;
    this.#vrrp = to;
    this.#epoch++;
    this.#reclaimGapMs = RECLAIM_GAP_MS;
    // A switchover's yield ends with our mastership (or with a new one: a fresh MASTER claims all);
    // so does everything learned while master.
    this.#yield = null;
    this.#reclaim = false;
    this.#deferred.clear();
    this.#mustRetake.clear();
    this.#transitionAt = this.#clock.now();
    const record = { at: this.#transitionAt, from, to, reason };
    this.#transitions = [...this.#transitions.slice(-19), record];
    this.#o.metrics?.transitions.inc({ instance: this.#o.instance, to });
    this.#o.log.info({ event: 'vrrp-transition', instance: this.#o.instance, from, to, reason: record.reason }, 'VRRP state changed');
    this.#work?.abort(new Error(`transition to ${to}`));
    for (const c of this.#adhoc) c.abort(new Error(`transition to ${to}`));
    this.#wake?.();
  }

  status(): ControllerStatus {
    return {
      instance: this.#o.instance,
      vrrp: this.#vrrp,
      phase: this.#phase,
      resources: [...this.#resources.entries()].map(([id, r]) => ({ id, ...r })),
      transitions: this.#transitions,
      lastDetectToClaimedMs: this.#lastDetectToClaimedMs,
      contests: this.#contests,
      yieldingTo: this.#yield !== null && this.#clock.now() < this.#yield.until ? this.#yield.node : null,
      heartbeatFailing: this.#beatFailing,
    };
  }

  /**
   * Planned switchover (old master): until `ttlMs` has passed or VRRP state changes, resources
   * held by `node` are not retaken by the re-check (no contest is counted). Everything else is
   * unchanged. `null` ends a yield. The deadline makes an abandoned switchover heal itself.
   */
  yieldTo(node: string | null, ttlMs = 60_000): void {
    this.#yield = node === null ? null : { node, until: this.#clock.now() + ttlMs };
    this.#o.log.info({ event: 'switchover-yield', instance: this.#o.instance, to: node, ttlMs }, node === null ? 'yield ended' : 'yielding resources to a switchover target');
  }

  /**
   * Planned switchover (new node): claims every owned resource now, whatever the VRRP state
   * (the normal claim path; results are recorded in `status()`). VRRP follows afterwards. Like the
   * controller's own claims, a VRRP transition aborts it (its tables end `aborted`).
   */
  async claimNow(reason: string, signal: AbortSignal): Promise<readonly ClaimOutcome[]> {
    const ac = new AbortController();
    this.#adhoc.add(ac);
    const s = AbortSignal.any([signal, ac.signal]);
    try {
      const resources = await this.#o.claimer.list(s);
      this.#forgetExcept(resources);
      const outcomes = await this.#o.claimer.claim(resources, s);
      this.#claimRecord(outcomes, reason);
      return outcomes;
    } finally {
      this.#adhoc.delete(ac);
    }
  }

  /** Runs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const work = new AbortController();
      this.#work = work;
      const ws = AbortSignal.any([signal, work.signal]);
      try {
        if (this.#vrrp === 'MASTER') await this.#master(ws);
        else await this.#idle(ws);
      } catch (err) {
        if (ws.aborted) continue;
        this.#o.log.error({ event: 'failover-error', instance: this.#o.instance, err }, 'failover loop failed; retrying');
        await this.#clock.sleep(1000, signal).catch(() => undefined);
      }
    }
    this.#phase = 'idle';
  }

  async #idle(signal: AbortSignal): Promise<void> {
    this.#phase = 'idle';
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    this.#wake = null;
  }

  async #master(signal: AbortSignal): Promise<void> {
    const recheck = this.#o.recheckIntervalMs ?? 10_000;
    let retryMs = this.#o.retryFailedMs ?? 1000;
    let wait = recheck;
    let failed: string[];
    if (this.#claimedEpoch !== this.#epoch) {
      const epoch = this.#epoch;
      failed = await this.#claimAll(signal);
      this.#claimedEpoch = epoch;
      this.#beatAt = Number.NEGATIVE_INFINITY;
      await this.#beatIfDue(signal);
    } else {
      // Resumed after a failed re-check (the API did not answer): re-check soon, by the contest
      // rules. Never a claim of everything: that would overwrite a higher-priority master.
      failed = [];
      wait = retryMs;
    }
    this.#phase = 'holding';
    for (;;) {
      if (failed.length > 0) {
        wait = Math.min(wait, retryMs);
        retryMs = Math.min(retryMs * 2, recheck);
      } else {
        retryMs = this.#o.retryFailedMs ?? 1000;
      }
      await this.#holdFor(this.#reclaim ? 0 : wait, signal);
      const kicked = this.#reclaim;
      this.#reclaim = false;
      const pass = await this.#recheck(signal);
      this.#o.metrics?.lastRecheckSuccess.set({ vrrp_instance: this.#o.instance }, this.#clock.now() / 1000);
      failed = pass.retake.length > 0 ? await this.#claim(pass.retake, signal, 'recheck') : [];
      for (const f of failed) this.#mustRetake.add(f);
      wait = Math.min(recheck, pass.nextDeferredMs ?? recheck);
      if (pass.retake.length > 0 || pass.nextDeferredMs !== null) this.#reclaimGapMs = RECLAIM_GAP_MS;
      else if (kicked) this.#reclaimGapMs = Math.min(this.#reclaimGapMs * 2, Math.max(recheck, RECLAIM_GAP_MS));
    }
  }

  /** Waits `ms`, or less when a reclaim kicks; throws when `signal` aborts. */
  async #holdFor(ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0) return;
    const kick = new AbortController();
    this.#kick = () => kick.abort();
    try {
      await this.#clock.sleep(ms, AbortSignal.any([signal, kick.signal]));
    } catch (err) {
      if (signal.aborted) throw err;
    } finally {
      this.#kick = null;
    }
  }

  /** The claim of a fresh MASTER: every owned resource; returns the ones that failed. */
  async #claimAll(signal: AbortSignal): Promise<string[]> {
    const detectedAt = this.#transitionAt;
    this.#phase = 'claiming';
    this.#o.log.debug({ event: 'claim-start', instance: this.#o.instance }, 'listing owned resources');
    const resources = await this.#o.claimer.list(signal);
    this.#o.log.debug({ event: 'claim-listed', instance: this.#o.instance, resources: resources.length }, 'claiming');
    this.#forgetExcept(resources);
    const outcomes = await this.#o.claimer.claim(resources, signal);
    const failed = this.#claimRecord(outcomes, 'transition to MASTER');
    for (const f of failed) this.#mustRetake.add(f);
    // Detection-to-claimed is measured for a real transition whose claim completed: an aborted
    // claim (a newer transition) would skew the failover timing.
    if (!signal.aborted && outcomes.every((o) => o.kind === 'claimed' || o.kind === 'already-ours')) {
      this.#lastDetectToClaimedMs = this.#clock.now() - detectedAt;
      this.#o.metrics?.detectToClaimed.observe({ instance: this.#o.instance, mode: this.#o.claimer.mode }, this.#lastDetectToClaimedMs / 1000);
      this.#o.log.info({ event: 'claimed', instance: this.#o.instance, resources: resources.length, detectToClaimedMs: this.#lastDetectToClaimedMs }, 'every owned resource points at this node');
    }
    return failed;
  }

  /**
   * One re-check pass: who holds each owned resource, and which ones to retake now. Failed
   * claims are found again here: a resource not ours is retaken by the same rules, and one this
   * mastership failed to claim is retaken from any holder that does not say it is master.
   * `nextDeferredMs`: when to look again at a deferred retake (at most 1 s: a deferred holder
   * that stops answering is retaken at once).
   */
  async #recheck(signal: AbortSignal): Promise<{ retake: string[]; nextDeferredMs: number | null }> {
    await this.#beatIfDue(signal);
    const owned = await this.#o.claimer.list(signal);
    this.#forgetExcept(owned);
    const views = await this.#o.claimer.inspect(owned, signal);
    const retake: string[] = [];
    let nextDeferredMs: number | null = null;
    const answers = new Map<string, Promise<PeerAnswer | null>>();
    for (const v of views) {
      const r = this.#entry(v.id);
      r.holder = v.holder;
      r.contested = false;
      if (v.holder.kind !== 'peer') this.#deferred.delete(v.id);
      const { decision: d, at, facts } = await this.#decide(v, answers, signal);
      this.#act(v, d, at, facts, r);
      if (d.action === 'retake') retake.push(v.id);
      if (d.action === 'defer') nextDeferredMs = Math.min(nextDeferredMs ?? DEFER_RECHECK_MAX_MS, d.recheckInMs ?? DEFER_RECHECK_MAX_MS);
    }
    return { retake, nextDeferredMs };
  }

  /**
   * Gathers what the contest decision asks for (the holder's answer, once per node and pass; its
   * heartbeat) and returns the decision (src/failover/contest.ts). Throws when `signal` aborts.
   */
  async #decide(v: ResourceView, answers: Map<string, Promise<PeerAnswer | null>>, signal: AbortSignal): Promise<{ decision: ContestDecision; at: number; facts: ContestFacts }> {
    const view: ContestView = {
      holder: v.holder,
      ourPriority: this.#o.priority,
      retakeDelayMs: this.#o.retakeDelayMs ?? 0,
      mustRetake: this.#mustRetake.has(v.id),
      deferredSince: this.#deferred.get(v.id) ?? null,
      yieldTo: this.#yield,
      heartbeat: this.#o.heartbeat !== undefined,
    };
    let facts: ContestFacts = {};
    for (;;) {
      const now = this.#clock.now();
      const d = decideContest(view, facts, now);
      if (isDecision(d)) return { decision: d, at: now, facts };
      if (v.holder.kind !== 'peer') throw new Error(`contest: ${d.need} asked for a resource held by ${v.holder.kind}`);
      if (d.need === 'peer') {
        const node = v.holder.node;
        const peerState = this.#o.peerState;
        if (peerState && !answers.has(node)) answers.set(node, peerState(node, signal));
        const said = peerState ? await answers.get(node)! : null;
        if (signal.aborted) throw signal.reason;
        facts = { ...facts, peer: said };
      } else {
        facts = { ...facts, heartbeatStale: await this.#o.heartbeat!.stale(v.holder.networkInterfaceId, signal) };
      }
    }
  }

  /** Carries a decision out in the controller's state, logs and metrics (the claim itself is batched by the caller). */
  #act(v: ResourceView, d: ContestDecision, at: number, facts: ContestFacts, r: { contested: boolean }): void {
    const base = { instance: this.#o.instance, resource: v.id, reason: d.reason };
    switch (d.action) {
      case 'keep':
        this.#mustRetake.delete(v.id);
        return;
      case 'leave':
        this.#o.log.info({ event: 'switchover-yielded', ...base, holder: v.holder.kind === 'peer' ? v.holder.node : null }, 'switchover target holds the resource: left alone');
        return;
      case 'defer':
        // The deferral starts at the first look that defers.
        if (!this.#deferred.has(v.id) && v.holder.kind === 'peer') {
          this.#o.log.info({ event: 'retake-deferred', ...base, holder: v.holder.node, holderPriority: v.holder.priority, delayMs: this.#o.retakeDelayMs ?? 0 },
            'a lower-priority node that still serves holds the resource: retaking it after the retake delay (preempt delay)');
        }
        this.#deferred.set(v.id, this.#deferred.get(v.id) ?? at);
        return;
      case 'retake':
      case 'yield':
        break;
    }
    if (v.holder.kind !== 'peer') {
      this.#o.log.warn({ event: 'drift', ...base, holder: v.holder }, 'resource drifted from this node: restoring');
      this.#o.metrics?.drift.inc({ instance: this.#o.instance, reason: d.reason });
      return;
    }
    this.#deferred.delete(v.id);
    const holder = v.holder;
    if (d.reason === 'higher-priority-not-master' || d.reason === 'claim-failed-holder-silent') {
      this.#o.log.warn({ event: 'holder-not-master', ...base, holder: holder.node, holderVrrp: facts.peer?.vrrp ?? null },
        d.reason === 'higher-priority-not-master' ? 'a higher-priority node holds the resource but says it is not master: retaking' : 'our claim of this resource failed and its higher-priority holder does not answer: retaking');
    } else if (d.reason === 'heartbeat-stopped') {
      this.#o.log.warn({ event: 'holder-stale', ...base, holder: holder.node, eni: holder.networkInterfaceId },
        'a higher-priority node holds the resource, does not answer, and its heartbeat has stopped: retaking');
    }
    const yielded = d.action === 'yield';
    this.#contests++;
    r.contested = true;
    this.#o.metrics?.contests.inc({ instance: this.#o.instance, resolution: yielded ? 'yielded' : 'retaken', reason: d.reason });
    // `holderSaid`: what the holder answered (null: no answer; absent: not asked).
    this.#o.log.warn({ event: 'contest', ...base, holder: holder.node, holderPriority: holder.priority, ourPriority: this.#o.priority, action: yielded ? 'yield' : 'retake', ...(facts.peer === undefined ? {} : { holderSaid: facts.peer }) },
      yielded ? 'another master holds the resource and has a higher priority: yielding' : 'another node with a lower priority holds the resource: retaking');
  }

  /** Writes the heartbeat when a re-check period has passed since the last write; never throws but for abort. */
  async #beatIfDue(signal: AbortSignal): Promise<void> {
    const hb = this.#o.heartbeat;
    const recheck = this.#o.recheckIntervalMs ?? 10_000;
    if (!hb || this.#clock.now() - this.#beatAt < recheck * 0.9) return;
    try {
      await hb.beat(signal);
      this.#beatAt = this.#clock.now();
      if (this.#beatFailing) this.#o.log.info({ event: 'heartbeat-ok', instance: this.#o.instance }, 'heartbeat written again');
      this.#beatFailing = false;
    } catch (err) {
      if (signal.aborted) throw err;
      // Retried at the next re-check; logged once per run of failures.
      if (!this.#beatFailing) this.#o.log.warn({ event: 'heartbeat-failed', instance: this.#o.instance, err }, 'could not write the heartbeat tag on our ENI: a partitioned peer may retake the routes after the stale period');
      this.#beatFailing = true;
    }
  }

  /** Claims and records; returns the resources that failed. */
  async #claim(resources: readonly string[], signal: AbortSignal, reason: string): Promise<string[]> {
    if (resources.length === 0) return [];
    const outcomes = await this.#o.claimer.claim(resources, signal);
    return this.#claimRecord(outcomes, reason);
  }

  #claimRecord(outcomes: readonly ClaimOutcome[], reason: string): string[] {
    const failed: string[] = [];
    for (const o of outcomes) {
      const r = this.#entry(o.table);
      r.lastClaim = o;
      if (o.kind === 'claimed' || o.kind === 'already-ours') {
        r.holder = { kind: 'us' };
        this.#mustRetake.delete(o.table);
        this.#o.metrics?.lastClaimSuccess.set({ vrrp_instance: this.#o.instance }, this.#clock.now() / 1000);
      }
      this.#o.metrics?.claims.inc({ instance: this.#o.instance, outcome: o.kind });
      this.#o.metrics?.claimSeconds.observe({ instance: this.#o.instance, resource: o.table }, o.ms / 1000);
      if (o.kind === 'failed') {
        failed.push(o.table);
        this.#o.log.error({ event: 'claim-failed', instance: this.#o.instance, resource: o.table, code: o.code, reason: o.reason }, 'could not claim a resource');
      } else {
        this.#o.log.info({ event: 'claim', instance: this.#o.instance, resource: o.table, outcome: o.kind, ms: o.ms, why: reason }, 'claim result');
      }
    }
    return failed;
  }

  #entry(id: string): { holder: ResourceView['holder'] | null; lastClaim: ClaimOutcome | null; contested: boolean } {
    let r = this.#resources.get(id);
    if (!r) {
      r = { holder: null, lastClaim: null, contested: false };
      this.#resources.set(id, r);
    }
    return r;
  }

  #forgetExcept(ids: readonly string[]): void {
    for (const id of [...this.#resources.keys()]) if (!ids.includes(id)) this.#resources.delete(id);
    for (const id of [...this.#deferred.keys()]) if (!ids.includes(id)) this.#deferred.delete(id);
    for (const id of [...this.#mustRetake]) if (!ids.includes(id)) this.#mustRetake.delete(id);
  }
}
