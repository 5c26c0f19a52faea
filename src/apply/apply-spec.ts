/**
 * One-shot roll-out of a spec to the haproxy of a run directory (`overlay-lb apply`): the same
 * planner and executor as the agent's pipeline, with the membership persisted by the last apply
 * (discovered servers stay where they are; the sources are not read here).
 */
import type { Spec } from '../model/spec.js';
import type { Plan } from '../plan/planner.js';
import type { HaproxyState } from '../plan/state.js';
import { MasterCli } from '../haproxy/master-cli.js';
import { RuntimeApi } from '../haproxy/runtime-api.js';
import { systemClock } from '../util/clock.js';
import { OverlayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { ExecuteResult } from './executor.js';
import type { ApplyMetrics } from './metrics.js';
import { applyOnce, type ApplyOnceOutcome } from './apply-once.js';
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
  const target = { runtime, reloader, runDir, log, ...(options.metrics === undefined ? {} : { metrics: options.metrics }) };

  const run = async (dryRun: boolean): Promise<{ saved: Awaited<ReturnType<typeof readAppliedState>>; note?: string; once: ApplyOnceOutcome }> => {
    const saved = await readAppliedState(runDir, { signal });
    let applied: HaproxyState | null = saved?.state ?? null;
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
    // `now`: servers the agent is draining keep draining to their deadline (without it they would be freed here).
    const once = await applyOnce({ spec, specHash, node, membership: new Map(saved?.membership ?? []), applied, now: systemClock.now(), dryRun }, target, { signal });
    return { saved, once, ...(note === undefined ? {} : { note }) };
  };

  const report = (r: Awaited<ReturnType<typeof run>>): ApplySpecReport => ({
    plan: r.once.plan,
    configHash: r.once.configHash,
    structuralHash: r.once.desired.structuralHash,
    ...(r.note === undefined ? {} : { appliedNote: r.note }),
    ...(r.once.result === undefined ? {} : { result: r.once.result }),
  });

  if (options.dryRun) return report(await run(true));

  return withApplyLock(runDir, async () => {
    const r = await run(false);
    await writeAppliedState(runDir, { seq: (r.saved?.seq ?? 0) + 1, state: r.once.applied, membership: r.saved?.membership ?? [], generation: r.saved?.generation ?? 0 }, { signal });
    return report(r);
  }, { signal, clock: systemClock });
}
