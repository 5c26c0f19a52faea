/**
 * The plan/apply engine of `overlay-lb up`, provider-neutral: resources come from a provider's
 * kind registry (src/cloud/aws/provision/kinds.ts) in dependency order. `planProvision` observes
 * them (reads only) and decides per resource: create, change, leave alone, conflict (something
 * with its name that this cluster does not own: never touched) or blocked (it depends on a
 * conflict). `applyProvision` refuses any plan with a conflict before its first write, then
 * creates and changes in order and reads every written resource back. A plan with nothing to
 * create or change makes no write call at all; a run interrupted anywhere converges on the next
 * one (every create is idempotent by name, and a create that fails is re-observed: an earlier
 * run's call may have landed).
 */
import type { ObservedResource, PendingKind, ProvisionResource } from '../cloud/provision-kind.js';
import { OverlayError } from '../util/errors.js';

export type StepAction = 'create' | 'change' | 'leave' | 'conflict' | 'blocked';

/** One line of a plan. */
export interface PlanStep {
  readonly kind: string;
  readonly label: string;
  readonly action: StepAction;
  /** What differs (`change`). */
  readonly changes: readonly string[];
  /** Why not (`conflict`, `blocked`). */
  readonly reason?: string;
  /** What the user can do (`conflict`). */
  readonly fix?: string;
  /** What differs but up leaves as it is (`leave`, `change`), each with what the user can do; absent when nothing. */
  readonly notes?: readonly string[];
}

export interface ProvisionPlan {
  readonly steps: readonly PlanStep[];
  /** Kinds not provisioned yet: named so nobody assumes they exist. */
  readonly pending: readonly PendingKind[];
}

function stepOf(resource: ProvisionResource, observed: ObservedResource): PlanStep {
  const base = { kind: resource.kind, label: resource.label };
  switch (observed.state) {
    case 'absent': return { ...base, action: 'create', changes: [] };
    case 'owned': return {
      ...base, action: observed.changes.length === 0 ? 'leave' : 'change', changes: observed.changes,
      ...(observed.notes === undefined || observed.notes.length === 0 ? {} : { notes: observed.notes }),
    };
    case 'foreign': return { ...base, action: 'conflict', changes: [], reason: observed.reason, fix: observed.fix };
  }
}

/** Resources must come in dependency order with unique labels (a provider bug otherwise). */
export function checkOrder(resources: readonly ProvisionResource[]): void {
  const seen = new Set<string>();
  for (const r of resources) {
    if (seen.has(r.label)) throw new OverlayError('INTERNAL', `two resources are labelled ${JSON.stringify(r.label)}`);
    const missing = r.dependsOn.filter((d) => !seen.has(d));
    if (missing.length > 0) throw new OverlayError('INTERNAL', `${r.label} depends on ${missing.join(', ')}, which does not come before it`);
    seen.add(r.label);
  }
}

/** Observes every resource (reads only) and returns the plan. */
export async function planProvision(resources: readonly ProvisionResource[], pending: readonly PendingKind[], options: { readonly signal: AbortSignal }): Promise<ProvisionPlan> {
  checkOrder(resources);
  const steps = new Map<string, PlanStep>();
  for (const r of resources) {
    const stuck = r.dependsOn.map((d) => steps.get(d)).find((s) => s?.action === 'conflict' || s?.action === 'blocked');
    if (stuck !== undefined) {
      steps.set(r.label, { kind: r.kind, label: r.label, action: 'blocked', changes: [], reason: `it depends on ${stuck.label}, which up may not use` });
      continue;
    }
    steps.set(r.label, stepOf(r, await r.observe(options)));
  }
  return { steps: [...steps.values()], pending };
}

/** What an apply did. */
export interface ApplyResult {
  readonly created: readonly string[];
  readonly changed: readonly string[];
  /** Creates that found the resource made by an earlier, interrupted run. */
  readonly adopted: readonly string[];
}

/**
 * Carries a plan out. Throws PROVISION_CONFLICT (nothing written) when it has conflicts; any
 * failing call stops the apply there, with what was done before it in place for the next run.
 * `onStep` reports each step as it starts (progress output).
 */
export async function applyProvision(plan: ProvisionPlan, resources: readonly ProvisionResource[], options: { readonly signal: AbortSignal; readonly onStep?: (step: PlanStep) => void }): Promise<ApplyResult> {
  const conflicts = plan.steps.filter((s) => s.action === 'conflict');
  if (conflicts.length > 0) {
    throw new OverlayError('PROVISION_CONFLICT', `nothing was changed: ${conflicts.map((c) => `${c.label}: ${c.reason ?? ''}; fix: ${c.fix ?? ''}`).join(' | ')}`, { details: { conflicts: conflicts.map((c) => c.label) } });
  }
  const byLabel = new Map(resources.map((r) => [r.label, r]));
  const created: string[] = [];
  const changed: string[] = [];
  const adopted: string[] = [];
  for (const step of plan.steps) {
    if (step.action !== 'create' && step.action !== 'change') continue;
    const resource = byLabel.get(step.label);
    if (resource === undefined) throw new OverlayError('INTERNAL', `the plan names ${step.label}, which is not among the resources`);
    options.onStep?.(step);
    if (step.action === 'change') {
      await resource.update(step.changes, options);
      changed.push(step.label);
    } else {
      try {
        await resource.create(options);
        created.push(step.label);
      } catch (err) {
        // An earlier run (or this one's retried call) may have made it: that is convergence, not a failure.
        const now = await resource.observe(options).catch(() => undefined);
        if (now?.state !== 'owned') throw err;
        if (now.changes.length > 0) await resource.update(now.changes, options);
        adopted.push(step.label);
      }
    }
    const after = await resource.observe(options);
    if (after.state !== 'owned' || after.changes.length > 0) {
      throw new OverlayError('CLOUD_CONFLICT', `${step.label} is not as up left it (${after.state === 'owned' ? after.changes.join(', ') : after.state}): another tool changes it at the same time; run up again`);
    }
  }
  return { created, changed, adopted };
}

/** The differences a plan leaves as they are (the steps' notes), in plan order. */
export function planNotes(plan: ProvisionPlan): string[] {
  return plan.steps.flatMap((s) => (s.notes ?? []).map((n) => `${s.label}: ${n}`));
}

/** The count of each action in a plan. */
export function planCounts(plan: ProvisionPlan): Readonly<Record<StepAction, number>> {
  const counts: Record<StepAction, number> = { create: 0, change: 0, leave: 0, conflict: 0, blocked: 0 };
  for (const s of plan.steps) counts[s.action] += 1;
  return counts;
}

const MARK: Readonly<Record<StepAction, string>> = { create: '+ create  ', change: '~ change  ', leave: '= leave   ', conflict: '! conflict', blocked: '! blocked ' };

/** The plan as text lines, for a person. */
export function formatPlan(plan: ProvisionPlan): string[] {
  const lines = plan.steps.flatMap((s) => {
    const extra = s.action === 'change' ? ` (${s.changes.join(', ')})` : s.action === 'conflict' ? `: ${s.reason ?? ''}. Fix: ${s.fix ?? ''}` : s.action === 'blocked' ? `: ${s.reason ?? ''}` : '';
    return [`  ${MARK[s.action]} ${s.label}${extra}`, ...(s.notes ?? []).map((n) => `      left as it is: ${n}`)];
  });
  if (plan.pending.length > 0) {
    lines.push('Not provisioned yet by this version of up (create them as docs/install.md describes):');
    for (const p of plan.pending) lines.push(`  - ${p.label}: ${p.why}`);
  }
  const c = planCounts(plan);
  lines.push(`Plan: ${c.create} to create, ${c.change} to change, ${c.leave} left alone${c.conflict + c.blocked > 0 ? `, ${c.conflict} conflict${c.conflict === 1 ? '' : 's'}, ${c.blocked} blocked` : ''}.`);
  return lines;
}
