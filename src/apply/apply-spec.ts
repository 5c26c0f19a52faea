/**
 * One-shot roll-out of a spec to the haproxy of a run directory (`overlay-lb apply`): the same
 * planner and executor as the agent's pipeline, with the membership persisted by the last apply
 * (discovered servers stay where they are; the sources are not read here).
 */
import type { Spec } from '../model/spec.js';
import { plan as planChange, type Plan } from '../plan/planner.js';
import { desiredState, type HaproxyState } from '../plan/state.js';
import { haproxyPaths } from '../haproxy/config-writer.js';
import { MasterCli } from '../haproxy/master-cli.js';
import { RuntimeApi } from '../haproxy/runtime-api.js';
import { systemClock } from '../util/clock.js';
import { OverlayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { executePlan, renderForState, type ExecuteResult } from './executor.js';
import type { ApplyMetrics } from './metrics.js';
import { sha256 } from './pipeline.js';
import { readAppliedState, verifyAppliedState, withApplyLock, writeAppliedState } from './state-store.js';

export interface ApplySpecOptions {
  readonly spec: Spec;
  readonly specHash: string;
  readonly node: string;
  readonly runDir: string;
  readonly dryRun: boolean;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly metrics?: ApplyMetrics;
  /** @default the spec's admin.runtimeSocket / admin.masterSocket */
  readonly runtime?: RuntimeApi;
  readonly reloader?: MasterCli;
}

export interface ApplySpecReport {
  readonly plan: Plan;
  /** Why the applied state was not used (haproxy differs from it, none persisted...). */
  readonly appliedNote?: string;
  /** sha256 of the haproxy.cfg for this spec and membership. */
  readonly configHash: string;
  readonly structuralHash: string;
  /** Absent for a dry run. */
  readonly result?: ExecuteResult;
}

/**
 * Plans (and unless `dryRun`, executes) the change from what the run directory's haproxy runs to
 * `spec`. Holds the run directory's apply lock while it executes.
 *
 * @throws UserError SPEC_NODE for a node not in the spec; SystemError HAPROXY_RUNTIME when the
 *   lock stays held by another apply.
 */
export async function applySpecToRunDir(options: ApplySpecOptions): Promise<ApplySpecReport> {
  const { spec, specHash, node, runDir, signal, log } = options;
  const runtime = options.runtime ?? new RuntimeApi({ socketPath: spec.admin.runtimeSocket });
  const reloader = options.reloader ?? new MasterCli({ socketPath: spec.admin.masterSocket });
  const mapDir = haproxyPaths(runDir).mapDir;

  const prepare = async (): Promise<{ saved: Awaited<ReturnType<typeof readAppliedState>>; applied: HaproxyState | null; note?: string; desired: HaproxyState; plan: Plan }> => {
    const saved = await readAppliedState(runDir, { signal });
    let applied = saved?.state ?? null;
    let note: string | undefined = saved === undefined ? 'no applied state in the run dir: planning from nothing' : applied === null ? 'the applied state is unknown: planning from nothing' : undefined;
    if (applied !== null) {
      try {
        const mismatch = await verifyAppliedState(runtime, applied, { signal });
        if (mismatch !== undefined) {
          note = `haproxy does not run the recorded state (${mismatch}): planning from nothing`;
          applied = null;
        }
      } catch (err) {
        if (!(err instanceof OverlayError) || signal.aborted) throw err;
        note = `haproxy cannot be reached (${err.message}): planning from nothing`;
        applied = null;
      }
    }
    const membership = new Map(saved?.membership ?? []);
    // `now`: servers the agent is draining keep draining to their deadline (without it they would be freed here).
    const desired = desiredState(spec, membership, { node, specHash, mapDir, now: systemClock.now(), ...(applied === null ? {} : { previous: applied }) });
    return { saved, applied, desired, plan: planChange(applied, desired), ...(note === undefined ? {} : { note }) };
  };

  const finish = (p: Awaited<ReturnType<typeof prepare>>, result?: ExecuteResult): ApplySpecReport => ({
    plan: p.plan,
    configHash: sha256(renderForState(spec, p.desired, runDir).config),
    structuralHash: p.desired.structuralHash,
    ...(p.note === undefined ? {} : { appliedNote: p.note }),
    ...(result === undefined ? {} : { result }),
  });

  if (options.dryRun) return finish(await prepare());

  return withApplyLock(runDir, async () => {
    const p = await prepare();
    const result = await executePlan({ plan: p.plan, spec, desired: p.desired }, { runtime, reloader, runDir, log, ...(options.metrics === undefined ? {} : { metrics: options.metrics }) }, { signal });
    const state = result.kind === 'failed' ? (result.live === 'unknown' ? null : p.applied) : p.desired;
    await writeAppliedState(runDir, { seq: (p.saved?.seq ?? 0) + 1, state, membership: p.saved?.membership ?? [], generation: p.saved?.generation ?? 0 }, { signal });
    return finish(p, result);
  }, { signal, clock: systemClock });
}
