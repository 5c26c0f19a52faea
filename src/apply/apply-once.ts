/**
 * One apply: spec + membership -> desired state and its config (one render) -> plan -> executor.
 * The agent's pipeline (./pipeline.ts) and `overlay-lb apply` (./apply-spec.ts) both run this;
 * each keeps only what differs between them: where the applied state comes from (memory or the
 * run directory, checked against haproxy) and how it is persisted.
 */
import { createHash } from 'node:crypto';
import type { Spec } from '../model/spec.js';
import { plan as planChange, type Plan } from '../plan/planner.js';
import { desiredConfig, type HaproxyState, type MembershipInput } from '../plan/state.js';
import { haproxyPaths } from '../haproxy/config-writer.js';
import type { Logger } from '../util/log.js';
import { describeReasons, executePlan, stateFiles, type ExecuteResult, type ExecutorTarget } from './executor.js';

export interface ApplyOnceInput {
  readonly spec: Spec;
  /** sha256 of the spec (`parseSpec`'s hash). */
  readonly specHash: string;
  readonly node: string;
  /** Discovered servers per backend. */
  readonly membership: MembershipInput;
  /** What haproxy runs; `null` when unknown (the plan is then one reload). */
  readonly applied: HaproxyState | null;
  /** The clock's time (ms): removed servers drain for their backend's drainTime from it. */
  readonly now: number;
  /** Plan only: nothing is written or sent. */
  readonly dryRun?: boolean;
  /** For the log line of a plan that changes something; absent: not logged. */
  readonly log?: Logger;
  /** Logged with the plan (the discovery generation, for the pipeline). */
  readonly context?: Readonly<Record<string, unknown>>;
}

export interface ApplyOnceOutcome {
  readonly desired: HaproxyState;
  readonly plan: Plan;
  /** sha256 of the haproxy.cfg for `desired` (the bytes written, unless a dry run). */
  readonly configHash: string;
  /** Absent for a dry run. */
  readonly result?: ExecuteResult;
  /** What haproxy runs afterwards: `desired`, the input's `applied` (nothing changed), or `null` (unknown). */
  readonly applied: HaproxyState | null;
}

/**
 * Plans and (unless `dryRun`) executes one apply against the haproxy of `target.runDir`. The
 * caller holds the run directory's apply lock (`withApplyLock`) around it.
 *
 * @throws UserError SPEC_NODE (a node not in the spec); the signal's reason when aborted;
 *   SystemError INTERNAL for bugs (executor results are typed, never thrown).
 */
export async function applyOnce(input: ApplyOnceInput, target: ExecutorTarget, options: { readonly signal: AbortSignal }): Promise<ApplyOnceOutcome> {
  const mapDir = haproxyPaths(target.runDir).mapDir;
  const { state: desired, config } = desiredConfig(input.spec, input.membership, {
    node: input.node,
    specHash: input.specHash,
    mapDir,
    now: input.now,
    ...(input.applied === null ? {} : { previous: input.applied }),
  });
  const plan = planChange(input.applied, desired);
  const files = stateFiles(config, desired);
  const configHash = sha256(files.config);
  if (input.dryRun === true) return { desired, plan, configHash, applied: input.applied };
  if (plan.kind !== 'none') input.log?.info({ ...input.context, plan: plan.kind, reasons: describeReasons(plan.reasons), ops: plan.kind === 'runtime' ? plan.ops.length : plan.after.length }, 'applying');
  const result = await executePlan({ plan, desired, files }, target, options);
  const applied = result.kind === 'failed' ? (result.live === 'unknown' ? null : input.applied) : desired;
  return { desired, plan, configHash, result, applied };
}

/** sha256 hex of a string. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
