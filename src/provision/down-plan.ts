/**
 * The plan/apply engine of `overlay-lb down`, provider-neutral like up's (engine.ts) and over the
 * same resources: `planDown` observes every resource (reads only: `observeRemoval`, else
 * `observe`) and decides per resource, in REVERSE dependency order: remove (owned), already gone
 * (absent), left alone (foreign: not made by up, never touched, not an error), blocked (owned, but
 * something that depends on it is left alone, so it cannot go either) or unsupported (owned, and
 * its kind has no `remove()`). `applyDown` refuses a plan with an unsupported step before its
 * first write, then removes in order and reads each one back until nothing of up's is left. A plan
 * with nothing to remove makes no write call; a run killed anywhere converges on the next one
 * (what was removed is then "already gone").
 */
import type { ObservedResource, PendingKind, ProvisionResource } from '../cloud/provision-kind.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { retry } from '../util/retry.js';
import { OverlayError } from '../util/errors.js';
import { checkOrder } from './engine.js';

export type DownAction = 'remove' | 'gone' | 'keep' | 'blocked' | 'unsupported';

/** One line of a down plan. */
export interface DownStep {
  readonly kind: string;
  readonly label: string;
  readonly action: DownAction;
  /** Why (`keep`, `blocked`, `unsupported`). */
  readonly reason?: string;
  /** What the user can do (`keep`, `unsupported`). */
  readonly fix?: string;
}

export interface DownPlan {
  /** In removal order: the reverse of the dependency order. */
  readonly steps: readonly DownStep[];
  /** Kinds up does not provision yet: down has nothing of theirs to remove. */
  readonly pending: readonly PendingKind[];
}

const observeForDown = (r: ProvisionResource, signal: AbortSignal): Promise<ObservedResource> => (r.observeRemoval ?? r.observe).call(r, { signal });

/** Observes every resource (reads only) and returns the down plan, in removal order. */
export async function planDown(resources: readonly ProvisionResource[], pending: readonly PendingKind[], options: { readonly signal: AbortSignal }): Promise<DownPlan> {
  checkOrder(resources);
  const steps = new Map<string, DownStep>();
  for (const r of [...resources].reverse()) {
    const base = { kind: r.kind, label: r.label };
    const observed = await observeForDown(r, options.signal);
    if (observed.state === 'absent') {
      steps.set(r.label, { ...base, action: 'gone' });
      continue;
    }
    if (observed.state === 'foreign') {
      steps.set(r.label, { ...base, action: 'keep', reason: observed.reason, fix: observed.fix });
      continue;
    }
    // Its dependents come before it in removal order, so their steps are known.
    const kept = resources.filter((d) => d.dependsOn.includes(r.label)).map((d) => steps.get(d.label)).find((s) => s?.action === 'keep' || s?.action === 'blocked');
    if (kept !== undefined) {
      steps.set(r.label, { ...base, action: 'blocked', reason: `${kept.label} depends on it and is left alone` });
    } else if (r.remove === undefined) {
      steps.set(r.label, { ...base, action: 'unsupported', reason: `this version of overlay-lb cannot remove a resource of kind ${r.kind}`, fix: 'delete it by hand (it carries the overlay-lb:cluster tag) or use the overlay-lb version that made it, then run down again' });
    } else {
      steps.set(r.label, { ...base, action: 'remove' });
    }
  }
  return { steps: [...steps.values()], pending };
}

/** What a down apply did. */
export interface DownApplied {
  readonly removed: readonly string[];
  /** Left alone or blocked, with why. */
  readonly leftAlone: readonly { readonly label: string; readonly reason: string }[];
}

/** How long a removed resource may still read as there (IAM and S3 are eventually consistent). */
const GONE_DEADLINE_MS = 60_000;

class StillThere extends Error {}

/**
 * Carries a down plan out. Throws DOWN_UNSUPPORTED (nothing removed) when a step is unsupported;
 * any failing call stops there, with what was removed before it gone for good (the next run
 * finds it "already gone"). `onStep` reports each removal as it starts (progress output).
 */
export async function applyDown(plan: DownPlan, resources: readonly ProvisionResource[], options: { readonly signal: AbortSignal; readonly clock?: Clock; readonly onStep?: (step: DownStep) => void }): Promise<DownApplied> {
  const clock = options.clock ?? systemClock;
  const unsupported = plan.steps.filter((s) => s.action === 'unsupported');
  if (unsupported.length > 0) {
    const kinds = [...new Set(unsupported.map((s) => s.kind))];
    throw new OverlayError('DOWN_UNSUPPORTED', `nothing was removed: this version of overlay-lb cannot remove a resource of kind ${kinds.join(', ')} (${unsupported.map((s) => s.label).join('; ')}); delete it by hand (it carries the overlay-lb:cluster tag) or use the overlay-lb version that made it, then run down again`, { details: { kinds, resources: unsupported.map((s) => s.label) } });
  }
  const byLabel = new Map(resources.map((r) => [r.label, r]));
  const removed: string[] = [];
  for (const step of plan.steps) {
    if (step.action !== 'remove') continue;
    const resource = byLabel.get(step.label);
    if (resource?.remove === undefined) throw new OverlayError('INTERNAL', `the down plan removes ${step.label}, which is not among the removable resources`);
    options.onStep?.(step);
    await resource.remove({ signal: options.signal });
    // Read back until nothing of up's is left (`foreign`: only what up did not write remains).
    await retry(async () => {
      const after = await observeForDown(resource, options.signal);
      if (after.state === 'owned') throw new StillThere(step.label);
    }, { signal: options.signal, deadline: clock.now() + GONE_DEADLINE_MS, clock, baseMs: 500, maxMs: 5_000, isRetryable: (e) => e instanceof StillThere }).catch((err: unknown) => {
      if (!(err instanceof StillThere)) throw err;
      throw new OverlayError('CLOUD_CONFLICT', `${step.label} is still there ${GONE_DEADLINE_MS / 1000} s after down removed it: another tool writes it at the same time; run down again`);
    });
    removed.push(step.label);
  }
  const leftAlone = plan.steps.filter((s) => s.action === 'keep' || s.action === 'blocked').map((s) => ({ label: s.label, reason: s.reason ?? '' }));
  return { removed, leftAlone };
}

/** The count of each action in a down plan. */
export function downCounts(plan: DownPlan): Readonly<Record<DownAction, number>> {
  const counts: Record<DownAction, number> = { remove: 0, gone: 0, keep: 0, blocked: 0, unsupported: 0 };
  for (const s of plan.steps) counts[s.action] += 1;
  return counts;
}

const MARK: Readonly<Record<DownAction, string>> = { remove: '- remove     ', gone: '. gone       ', keep: '= left alone ', blocked: '! blocked    ', unsupported: '! unsupported' };

/** The down plan as text lines, for a person. */
export function formatDownPlan(plan: DownPlan): string[] {
  const lines = plan.steps.map((s) => {
    const extra = s.action === 'gone' ? ' (already gone)'
      : s.action === 'keep' ? `: ${s.reason ?? ''}${s.fix === undefined ? '' : `. ${s.fix}`}`
        : s.action === 'remove' ? '' : `: ${s.reason ?? ''}${s.fix === undefined ? '' : `; ${s.fix}`}`;
    return `  ${MARK[s.action]} ${s.label}${extra}`;
  });
  if (plan.pending.length > 0) {
    lines.push('Not provisioned by this version of up, so not removed by down (remove them as you made them):');
    for (const p of plan.pending) lines.push(`  - ${p.label}`);
  }
  const c = downCounts(plan);
  lines.push(`Plan: ${c.remove} to remove, ${c.gone} already gone, ${c.keep + c.blocked} left alone${c.unsupported > 0 ? `, ${c.unsupported} unsupported` : ''}.`);
  return lines;
}
