/**
 * The plan executor: turns one plan (src/plan/planner.ts) into files on disk, Runtime API
 * commands and at most one reload, following the contract of docs/runtime-changes.md:
 *
 * 1. The desired config (`stateFiles`: the one render of `desiredConfig`, slots filled) is written, for every
 *    plan, validated by `haproxy -c` before the atomic rename (`applyConfig`). A restart therefore
 *    always loads the desired state, and a failed write changes nothing live.
 * 2. `runtime` plans: the operations run in the planner's order. If ANY one fails, the executor
 *    stops and reloads (the file already holds the full desired config), then puts the discovered
 *    servers back into their spare slots. A half-applied runtime state never stays.
 * 3. `reload` plans: one verified reload with its reasons. The written config already holds the
 *    discovered servers in their slots (`configForState`), so only draining states follow.
 * 4. A failed reload leaves the last known good config serving (applyConfig restores the files;
 *    the old workers never stopped) and the result says `failed`.
 *
 * Results are typed outcomes, never thrown, except for bugs and aborts.
 */
import { systemClock } from '../util/clock.js';
import type { Spec } from '../model/spec.js';
import type { Plan, Reason, RuntimeOp } from '../plan/planner.js';
import { configForState, specForState, type HaproxyState } from '../plan/state.js';
import { renderHaproxyConfig } from '../render/haproxy.js';
import { serializeHaproxyConfig, type HaproxyConfig } from '../render/haproxy-config.js';
import { applyConfig, haproxyPaths } from '../haproxy/config-writer.js';
import type { Reloader } from '../haproxy/master-cli.js';
import { HaproxyRuntimeError, type RuntimeApi } from '../haproxy/runtime-api.js';
import { assertCliToken } from '../haproxy/socket.js';
import { OverlayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { ApplyMetrics } from './metrics.js';

/** What one execution did. `reasons` are the plan's; `ops` counts Runtime API operations sent. */
export type ExecuteResult =
  | { readonly kind: 'noop'; readonly reasons: readonly Reason[]; readonly ops: number }
  | { readonly kind: 'runtime'; readonly reasons: readonly Reason[]; readonly ops: number }
  | { readonly kind: 'reloaded'; readonly reasons: readonly Reason[]; readonly ops: number; readonly reloadId: string }
  | {
      readonly kind: 'fell-back-to-reload';
      readonly reasons: readonly Reason[];
      readonly ops: number;
      readonly reloadId: string;
      /** The Runtime API refusal that caused the fallback. */
      readonly error: ExecuteError;
    }
  | {
      readonly kind: 'failed';
      readonly reasons: readonly Reason[];
      readonly ops: number;
      readonly reloadId?: string;
      readonly error: ExecuteError;
      /**
       * `unchanged`: HAProxy still runs the applied state (nothing live changed, or the reload was
       * refused and the last known good config serves). `unknown`: a reload happened but putting
       * servers back failed: plan from nothing next time (a forced reload).
       */
      readonly live: 'unchanged' | 'unknown';
    };

export interface ExecuteError {
  readonly code: string;
  readonly message: string;
}

export interface ExecutorTarget {
  readonly runtime: RuntimeApi;
  /** The master CLI (or a `HaproxyProcess`); `null` writes files only (haproxy not started yet). */
  readonly reloader: Reloader | null;
  /** The run directory: haproxy.cfg and maps/ live here (`haproxyPaths(runDir)`). */
  readonly runDir: string;
  /** @default "haproxy" */
  readonly haproxyBinary?: string;
  readonly log: Logger;
  readonly metrics?: ApplyMetrics;
}

export interface ExecuteInput {
  readonly plan: Plan;
  /** The state the plan leads to; its `mapDir` must be `haproxyPaths(runDir).mapDir`. */
  readonly desired: HaproxyState;
  /** The files `desired` runs from (`stateFiles`). */
  readonly files: StateFiles;
}

/** The text of haproxy.cfg and its map files, as written to the run directory. */
export interface StateFiles {
  readonly config: string;
  readonly maps: readonly { readonly name: string; readonly content: string }[];
}

/**
 * The files `desired` runs from (the exact bytes written to disk): `config` (the render `desired`
 * was computed from, `desiredConfig`) with every occupied spare slot filled in (`configForState`),
 * serialized once.
 */
export function stateFiles(config: HaproxyConfig, desired: HaproxyState): StateFiles {
  return { config: serializeHaproxyConfig(configForState(config, desired)), maps: config.maps.map((m) => ({ name: m.name, content: m.content })) };
}

/**
 * Renders the files `desired` runs from out of `spec` (a second render: for a first file before
 * any apply, and tests). The apply path uses `stateFiles` on the render it planned with.
 */
export function renderForState(spec: Spec, desired: HaproxyState, runDir: string): StateFiles {
  return stateFiles(renderHaproxyConfig(specForState(spec, desired), { node: desired.node, specHash: desired.specHash, mapDir: haproxyPaths(runDir).mapDir }), desired);
}

/**
 * The operations still needed once a reload loaded the filled config: addresses, weights and
 * readiness are in the file, but a config line cannot say "draining" (the file gives a draining
 * slot weight 0): `state drain`, then its weight back, so the slot matches `desired` (what
 * `verifyAppliedState` compares after a restart) while HAProxy keeps it out of load balancing.
 */
export function afterReload(desired: HaproxyState): RuntimeOp[] {
  const ops: RuntimeOp[] = [];
  for (const b of desired.backends) {
    for (const s of b.slots) {
      if (!s.spare || s.state !== 'drain') continue;
      ops.push({ op: 'set-server-state', backend: b.name, server: s.server, state: 'drain' });
      ops.push({ op: 'set-server-weight', backend: b.name, server: s.server, weight: s.weight });
    }
  }
  return ops;
}

/** One line per reason, for logs and the reload's reason string. */
export function describeReasons(reasons: readonly Reason[]): string {
  return reasons.map((r) => `${r.code}: ${r.subject}${r.detail === undefined ? '' : ` (${r.detail})`}`).join('; ');
}

/**
 * Executes `input.plan` against one haproxy (see the module comment). Callers serialise calls per
 * run directory.
 *
 * @throws the signal's reason when aborted; SystemError INTERNAL for bugs.
 */
export async function executePlan(input: ExecuteInput, target: ExecutorTarget, options: { readonly signal: AbortSignal }): Promise<ExecuteResult> {
  const { plan, desired } = input;
  const { signal } = options;
  const metrics = target.metrics;
  const files = { dir: target.runDir, ...input.files };
  const common = { signal, ...(target.haproxyBinary === undefined ? {} : { haproxy: target.haproxyBinary }) };

  if (plan.kind === 'none') {
    try {
      await applyConfig(files, { ...common, reload: null, reason: 'no change' });
    } catch (err) {
      return record(metrics, { kind: 'failed', reasons: [], ops: 0, error: toError(err, signal), live: 'unchanged' });
    }
    return record(metrics, { kind: 'noop', reasons: [], ops: 0 });
  }
  if (plan.kind === 'runtime') {
    // The runtime operations first, then the file: a runtime plan changes only what the planner
    // masks out of the structural hash (server addresses, weights, states, map entries) in a
    // config whose structure already passed haproxy -c, so traffic need not wait for the check
    // (discovery-to-traffic latency). The file is still written, checked and renamed right after,
    // so a restart finds the same state; a file that fails the check is reported as a failure
    // and the next apply tries again.
    const done = await runOps(plan.ops, target, signal);
    if (done.error === undefined) {
      try {
        await applyConfig(files, { ...common, reload: null, reason: describeReasons(plan.reasons) });
      } catch (err) {
        return record(metrics, { kind: 'failed', reasons: plan.reasons, ops: done.sent, error: toError(err, signal), live: 'unknown' });
      }
      return record(metrics, { kind: 'runtime', reasons: plan.reasons, ops: done.sent });
    }
    target.log.warn({ error: done.error, opsSent: done.sent, opsPlanned: plan.ops.length }, 'runtime operation failed; reloading instead');
    metrics?.fallbacks.inc();
    const reloaded = await reloadAndRefill(files, afterReload(desired), `fallback: ${done.error.message}`, target, common, true);
    const ops = done.sent + reloaded.ops;
    if (reloaded.error !== undefined) {
      return record(metrics, { kind: 'failed', reasons: plan.reasons, ops, ...(reloaded.reloadId === undefined ? {} : { reloadId: reloaded.reloadId }), error: reloaded.error, live: reloaded.live });
    }
    metrics?.reloads.inc({ reason: 'runtime-fallback' });
    return record(metrics, { kind: 'fell-back-to-reload', reasons: plan.reasons, ops, reloadId: reloaded.reloadId ?? '', error: done.error });
  }

  // An initial plan does not know what haproxy runs: reload even if the file on disk matches.
  const force = plan.reasons.some((r) => r.code === 'initial');
  const reloaded = await reloadAndRefill(files, afterReload(desired), describeReasons(plan.reasons), target, common, force);
  if (reloaded.error !== undefined) {
    return record(metrics, { kind: 'failed', reasons: plan.reasons, ops: reloaded.ops, ...(reloaded.reloadId === undefined ? {} : { reloadId: reloaded.reloadId }), error: reloaded.error, live: reloaded.live });
  }
  for (const code of new Set(plan.reasons.map((r) => r.code))) metrics?.reloads.inc({ reason: code });
  return record(metrics, { kind: 'reloaded', reasons: plan.reasons, ops: reloaded.ops, reloadId: reloaded.reloadId ?? '' });
}

interface ReloadOutcome {
  readonly reloadId?: string;
  readonly ops: number;
  readonly error?: ExecuteError;
  readonly live: 'unchanged' | 'unknown';
}

async function reloadAndRefill(
  files: Parameters<typeof applyConfig>[0],
  after: readonly RuntimeOp[],
  reason: string,
  target: ExecutorTarget,
  common: { signal: AbortSignal; haproxy?: string },
  force: boolean,
): Promise<ReloadOutcome> {
  let reloadId: string;
  try {
    const r = await applyConfig(files, { ...common, reload: target.reloader, reason, force });
    reloadId = r.reloadId;
    if (r.changed && r.reload !== null) target.metrics?.lastReloadSuccess.set({}, systemClock.now() / 1000);
    target.log.info({ reloadId, reason, changed: r.changed, workers: r.changed && r.reload !== null ? r.reload.newWorkerPids : [] }, 'haproxy reloaded');
  } catch (err) {
    const error = toError(err, common.signal);
    const id = err instanceof OverlayError && typeof err.details['reloadId'] === 'string' ? err.details['reloadId'] : undefined;
    target.log.error({ error, reloadId: id, reason }, 'haproxy reload failed; the last known good config keeps serving');
    target.metrics?.reloadFailures.inc();
    return { ...(id === undefined ? {} : { reloadId: id }), ops: 0, error, live: 'unchanged' };
  }
  const done = await runOps(after, target, common.signal);
  if (done.error !== undefined) {
    target.log.error({ error: done.error, reloadId }, 'restoring discovered servers after a reload failed');
    return { reloadId, ops: done.sent, error: done.error, live: 'unknown' };
  }
  return { reloadId, ops: done.sent, live: 'unchanged' };
}

/** Runs operations in order, stopping at the first failure. */
async function runOps(ops: readonly RuntimeOp[], target: ExecutorTarget, signal: AbortSignal): Promise<{ sent: number; error?: ExecuteError }> {
  let sent = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as RuntimeOp;
    const next = ops[i + 1];
    try {
      if (op.op === 'set-server-state' && op.state === 'ready' && next?.op === 'set-server-health' && next.backend === op.backend && next.server === op.server) {
        // One CLI line: no check can run between `ready` and `health down` (HAProxy 2.6 marks a
        // server leaving maintenance UP at once; docs/runtime-changes.md).
        const id = `${assertCliToken('backend', op.backend)}/${assertCliToken('server', op.server)}`;
        await expectEmpty(target.runtime, `set server ${id} state ready; set server ${id} health down`, signal);
        target.metrics?.ops.inc({ op: op.op });
        target.metrics?.ops.inc({ op: next.op });
        sent += 2;
        i++;
        continue;
      }
      await runOp(op, target.runtime, signal);
      target.metrics?.ops.inc({ op: op.op });
      sent++;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      return { sent, error: toError(err, signal) };
    }
  }
  return { sent };
}

async function runOp(op: RuntimeOp, runtime: RuntimeApi, signal: AbortSignal): Promise<void> {
  const o = { signal };
  switch (op.op) {
    case 'set-server-addr':
      return runtime.setServer(op.backend, op.server, { addr: op.address, port: op.port }, o);
    case 'set-server-weight':
      return runtime.setServer(op.backend, op.server, { weight: op.weight }, o);
    case 'set-server-state':
      return runtime.setServer(op.backend, op.server, { state: op.state }, o);
    case 'shutdown-sessions':
      return expectEmpty(runtime, `shutdown sessions server ${assertCliToken('backend', op.backend)}/${assertCliToken('server', op.server)}`, signal);
    case 'set-server-health':
      return expectEmpty(runtime, `set server ${assertCliToken('backend', op.backend)}/${assertCliToken('server', op.server)} health ${op.health}`, signal);
    case 'map-add':
      return runtime.addMap(op.path, op.key, op.value, o);
    case 'map-set':
      return runtime.setMap(op.path, op.key, op.value, o);
    case 'map-del':
      return runtime.delMap(op.path, op.key, o);
    case 'map-replace':
      await runtime.replaceMap(op.path, op.entries, o);
      return;
  }
}

/** HAProxy answers a successful `set server` with an empty line (one per `;`-separated command). */
async function expectEmpty(runtime: RuntimeApi, command: string, signal: AbortSignal): Promise<void> {
  const answer = await runtime.command(command, { signal });
  if (answer === '' || answer.trim() !== '') throw new HaproxyRuntimeError(command, answer);
}

function toError(err: unknown, signal: AbortSignal): ExecuteError {
  if (signal.aborted) throw signal.reason;
  if (err instanceof OverlayError) return { code: err.code, message: err.message };
  throw err;
}

function record(metrics: ApplyMetrics | undefined, result: ExecuteResult): ExecuteResult {
  metrics?.results.inc({ kind: result.kind });
  return result;
}
