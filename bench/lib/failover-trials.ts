/**
 * One fault trial of the failover benchmark, the same for overlay-lb and the baseline: inject,
 * wait for every route to reach the backup, let traffic run, clear, wait for the preferred node
 * to take the routes back (failback), and cut the probe's stream into a fault window and a
 * failback window.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LabHandle } from '../../src/lab/lab.js';
import { apiRouteTargets } from '../../src/lab/lab.js';
import { windowStats, type ProbeRecord, type WindowStats } from './failover-probe.js';

export type FaultName = 'haproxy-kill' | 'keepalived-kill' | 'node-down' | 'az-blackhole';
export const FAULTS: readonly FaultName[] = ['haproxy-kill', 'keepalived-kill', 'node-down', 'az-blackhole'];

/** How a system under test injects and clears a fault (kills are cleared by a restart, or by the agent itself). */
export interface SystemUnderTest {
  readonly name: 'overlay-lb' | 'baseline';
  inject(fault: FaultName): Promise<void>;
  clear(fault: FaultName): Promise<void>;
}

export interface TrialResult {
  readonly fault: FaultName;
  /** Fault to every route table pointing at the backup (EIP mode: the address associated with it; API view); null: not within the limit. */
  readonly routeMoveMs: number | null;
  readonly outage: WindowStats;
  /** Clear to every route back on the preferred node; null: it did not come back by itself. */
  readonly failbackMs: number | null;
  readonly failback: WindowStats;
  /** The routes had to be put back by hand (through the lab cloud) for the next trial. */
  readonly forcedBack: boolean;
  /** Clear to the probe subnet's route table pointing at the preferred node again (null: not seen). */
  readonly failbackProbeTableMs: number | null;
  /** When the fault was injected and cleared (ms epoch), to find the trial in the agents' logs. */
  readonly at: { readonly fault: number; readonly clear: number };
}

/** Waits until every route table's VIP route points at `node` (API view); returns the time or null. */
export async function waitRoutes(lab: LabHandle, node: string, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<number | null> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    const targets = apiRouteTargets(lab.plan, lab.controller.cloud.view());
    if ([...targets.values()].every((t) => t === node)) return Date.now();
    await sleep(5, undefined, { signal: options.signal });
  }
  return null;
}

/** Points every VIP route at `node` directly in the lab cloud (no API call). */
export function forceRoutes(lab: LabHandle, node: string, vip: string): void {
  const eni = lab.plan.instances.find((i) => i.name === node)!.eni.id;
  for (const t of lab.plan.routeTables) lab.controller.cloud.replaceRoute({ routeTableId: t.id, destinationCidrBlock: `${vip}/32`, target: { networkInterfaceId: eni } });
}

/**
 * What "the node serves" means in a trial: every VIP route points at it (route mode) or the
 * Elastic IP is associated with it (EIP mode), in the API's view.
 */
export interface ServiceMapping {
  /** Waits until `node` serves; returns the time or null after `timeoutMs`. */
  wait(node: string, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<number | null>;
  /** Points the service at `node` directly in the lab cloud (no API call), for the next trial. */
  force(node: string): void;
}

/** Route mode: every route table's VIP route. */
export function routeMapping(lab: LabHandle, vip: string): ServiceMapping {
  return { wait: (node, o) => waitRoutes(lab, node, o), force: (node) => forceRoutes(lab, node, vip) };
}

/** EIP mode: the association of the Elastic IP `allocationId`. */
export function eipMapping(lab: LabHandle, allocationId: string): ServiceMapping {
  const eniOf = (node: string): { id: string; ip: string } => {
    const instance = lab.plan.instances.find((i) => i.name === node)!;
    return { id: instance.eni.id, ip: instance.eni.privateIp };
  };
  return {
    wait: async (node, options) => {
      const deadline = Date.now() + options.timeoutMs;
      const { ip } = eniOf(node);
      while (Date.now() < deadline) {
        if (lab.controller.cloud.view().addresses[allocationId]?.association?.privateIp === ip) return Date.now();
        await sleep(5, undefined, { signal: options.signal });
      }
      return null;
    },
    force: (node) => {
      lab.controller.cloud.associateAddress({ allocationId, target: { networkInterfaceId: eniOf(node).id }, allowReassociation: true });
    },
  };
}

export async function runTrial(options: {
  readonly lab: LabHandle;
  readonly sut: SystemUnderTest;
  readonly fault: FaultName;
  readonly master: string;
  readonly backup: string;
  readonly vip: string;
  readonly records: readonly ProbeRecord[];
  readonly moveTimeoutMs: number;
  readonly backTimeoutMs: number;
  readonly signal: AbortSignal;
  /** Called between inject and clear, e.g. to sample the agents' CPU. */
  readonly onMoved?: () => Promise<void>;
  /** The route table of the probe's subnet (its flip back is timed). */
  readonly probeTable?: string | undefined;
  /** What serving means. @default routeMapping(lab, vip) */
  readonly mapping?: ServiceMapping;
}): Promise<TrialResult> {
  const { lab, sut, fault, signal } = options;
  const mapping = options.mapping ?? routeMapping(lab, options.vip);
  let forcedBack = false;
  if ((await mapping.wait(options.master, { timeoutMs: 5000, signal })) === null) {
    mapping.force(options.master);
    forcedBack = true;
  }
  await sleep(800, undefined, { signal });
  const t0 = Date.now();
  await sut.inject(fault);
  const moved = await mapping.wait(options.backup, { timeoutMs: options.moveTimeoutMs, signal });
  // Let the probe see the new node serve, then undo the fault.
  await sleep(1200, undefined, { signal });
  await options.onMoved?.();
  // The failback window starts once the fault is gone (the AZ reachable again, the process
  // restarted): requests sent while the clear is under way still meet the fault.
  let probeTableBackAt: number | null = null;
  const masterEni = lab.plan.instances.find((i) => i.name === options.master)?.eni.id;
  const off = lab.controller.cloud.on((e) => {
    if (probeTableBackAt === null && e.type === 'route-changed' && e.routeTableId === options.probeTable && e.destinationCidrBlock === `${options.vip}/32`
      && e.target !== null && 'networkInterfaceId' in e.target && e.target.networkInterfaceId === masterEni) probeTableBackAt = Date.now();
  });
  await sut.clear(fault);
  const tClear = Date.now();
  const back = await mapping.wait(options.master, { timeoutMs: options.backTimeoutMs, signal });
  if (back === null) {
    mapping.force(options.master);
    forcedBack = true;
  }
  await sleep(1000, undefined, { signal });
  const tEnd = Date.now();
  off();
  // Requests started before tEnd finish within the probe's timeout.
  await sleep(1100, undefined, { signal });
  return {
    fault,
    routeMoveMs: moved === null ? null : moved - t0,
    outage: windowStats(options.records, t0, tClear),
    failbackMs: back === null ? null : back - tClear,
    failback: windowStats(options.records, tClear, tEnd),
    forcedBack,
    failbackProbeTableMs: probeTableBackAt === null ? null : (probeTableBackAt as number) - tClear,
    at: { fault: t0, clear: tClear },
  };
}

/** Nearest-rank percentile of a non-empty list (NaN for an empty one). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface FaultSummary {
  readonly trials: number;
  readonly outageMs: { readonly p50: number; readonly p95: number; readonly max: number };
  readonly failed: { readonly total: number; readonly p50: number; readonly max: number };
  readonly routeMoveMs: { readonly p50: number; readonly p95: number; readonly max: number; readonly timeouts: number };
  readonly failback: { readonly failedTotal: number; readonly trialsWithFailures: number; readonly outageMaxMs: number; readonly notBackByItself: number };
}

export function summarize(trials: readonly TrialResult[]): FaultSummary {
  const outages = trials.map((t) => t.outage.outageMs);
  const failed = trials.map((t) => t.outage.failed);
  const moves = trials.flatMap((t) => (t.routeMoveMs === null ? [] : [t.routeMoveMs]));
  const stat = (v: readonly number[]): { p50: number; p95: number; max: number } => ({ p50: percentile(v, 50), p95: percentile(v, 95), max: v.length ? Math.max(...v) : Number.NaN });
  return {
    trials: trials.length,
    outageMs: stat(outages),
    failed: { total: failed.reduce((a, b) => a + b, 0), p50: percentile(failed, 50), max: failed.length ? Math.max(...failed) : Number.NaN },
    routeMoveMs: { ...stat(moves), timeouts: trials.length - moves.length },
    failback: {
      failedTotal: trials.reduce((a, t) => a + t.failback.failed, 0),
      trialsWithFailures: trials.filter((t) => t.failback.failed > 0).length,
      outageMaxMs: Math.max(0, ...trials.map((t) => t.failback.outageMs)),
      notBackByItself: trials.filter((t) => t.failbackMs === null).length,
    },
  };
}
