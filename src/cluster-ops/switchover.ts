/**
 * Planned switchover: moves the VIP to a named node without failing a request. Coordinated from
 * one place (the CLI) through every node's agent control socket; see docs/switchover.md.
 *
 * 1. handoff: the origin (current master) opens its end of the VXLAN link, the target starts
 *    handing packets of connections it does not know back to the origin (src/handoff/handoff.ts);
 * 2. yield: the origin's failover controller stops retaking resources held by the target;
 * 3. claim: the target claims every route table (the normal claim path) -> new connections reach
 *    the target, established ones still reach the origin through the handoff;
 * 4. drain: the origin reloads HAProxy: its old worker finishes every established connection
 *    (`option idle-close-on-response`: a keep-alive client gets `Connection: close` with its next
 *    response and reconnects, to the target);
 * 5. VRRP: the target becomes the preferred node (priority file `254 - priority`), every other node
 *    neutral (0); with preempt the target takes over at once, with nopreempt the origin goes FAULT
 *    (-254) until the target is MASTER. The new master's claim finds every table already its own;
 * 6. wait until the origin's old HAProxy worker has exited (or the drain timeout);
 * 7. handoff off on both nodes.
 */
import type { Spec } from '../model/spec.js';
import { SystemError, UserError } from '../util/errors.js';
import { systemClock } from '../util/clock.js';
import { agentCall } from './agent-client.js';
import type { AgentEndpoint } from './agent-client.js';
import type { AgentStatus, ControlApi, ControlRoute } from '../agent-api/contract.js';

export interface SwitchoverOptions {
  readonly spec: Spec;
  readonly to: string;
  readonly endpoints: readonly AgentEndpoint[];
  /** Longest wait for the origin's established connections to end. @default 15000 */
  readonly drainTimeoutMs?: number;
  /** Longest wait for VRRP to follow. @default the spec's preempt delay + 10 s */
  readonly vrrpTimeoutMs?: number;
  /** Progress lines. */
  readonly progress?: (line: string) => void;
  readonly signal: AbortSignal;
}

export interface SwitchoverReport {
  readonly from: string | null;
  readonly to: string;
  /** Whether every established connection of the origin ended before the handoff was removed. */
  readonly drained: boolean;
  readonly steps: readonly { readonly step: string; readonly ms: number; readonly detail?: string }[];
}

/**
 * Runs a planned switchover to `to`.
 * @throws UserError SWITCHOVER_INVALID (unknown or unhealthy target, no single master);
 *   SystemError SWITCHOVER_FAILED (a step failed: what was done is rolled back where safe), AGENT_UNREACHABLE.
 */
export async function runSwitchover(options: SwitchoverOptions): Promise<SwitchoverReport> {
  const { signal, spec, to } = options;
  const say = options.progress ?? ((): void => undefined);
  const steps: { step: string; ms: number; detail?: string }[] = [];
  const timed = async <T>(step: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> => {
    const start = systemClock.now();
    const v = await fn();
    const d = detail?.(v);
    steps.push({ step, ms: systemClock.now() - start, ...(d === undefined ? {} : { detail: d }) });
    say(`${step}: ${systemClock.now() - start} ms${d === undefined ? '' : ` (${d})`}`);
    return v;
  };
  if (!spec.cluster.nodes.some((n) => n.name === to)) {
    throw new UserError('SWITCHOVER_INVALID', `--to ${JSON.stringify(to)} is not a node of cluster ${spec.cluster.name}; nodes: ${spec.cluster.nodes.map((n) => n.name).join(', ')}`);
  }
  const ep = (node: string): AgentEndpoint => {
    const e = options.endpoints.find((x) => x.node === node);
    if (e === undefined) throw new UserError('SWITCHOVER_INVALID', `no agent endpoint for node ${node}`);
    return e;
  };
  const call = <R extends ControlRoute>(node: string, route: R, body: ControlApi[R]['request']): Promise<ControlApi[R]['response']> => agentCall(ep(node), route, body, { signal });
  const statuses = new Map<string, AgentStatus>();
  for (const n of spec.cluster.nodes) statuses.set(n.name, await call(n.name, 'GET /status', undefined));
  const target = statuses.get(to);
  if (!target?.haproxy.healthy) throw new UserError('SWITCHOVER_INVALID', `target ${to} is not healthy (its HAProxy health URI fails); fix it first (overlay-lb status)`);
  const masters = [...statuses.values()].filter((s) => s.vrrp.vrrp === 'MASTER').map((s) => s.node);
  const others = spec.cluster.nodes.map((n) => n.name).filter((n) => n !== to);
  const prefer = async (): Promise<void> => {
    await call(to, 'POST /switchover/priority', { mode: 'preferred' });
    for (const n of others) await call(n, 'POST /switchover/priority', { mode: 'neutral' });
  };
  if (masters.length === 1 && masters[0] === to) {
    await timed('already master: preference set', prefer);
    return { from: to, to, drained: true, steps };
  }
  if (masters.length !== 1) throw new UserError('SWITCHOVER_INVALID', `expected exactly one VRRP master, found ${masters.length === 0 ? 'none' : masters.join(', ')}; run overlay-lb status and fix that first`);
  const from = masters[0] as string;
  say(`switchover ${from} -> ${to}`);

  // keepalived 2.2.7 also applies preempt_delay when a backup's priority rises above the master's
  // (not only at start-up): the target takes over after that delay.
  const vrrpTimeoutMs = options.vrrpTimeoutMs ?? spec.cluster.vrrp.preemptDelayMs + 10_000;
  let drained = false;
  let claimFailed = false;
  // Also when the CLI's own signal has ended (interrupted): the origin must not keep yielding.
  const endYield = (): Promise<unknown> => agentCall(ep(from), 'POST /switchover/yield', { to: null }, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
  try {
    await timed('handoff on', async () => {
      await call(from, 'POST /switchover/handoff', { role: 'origin', peer: to });
      await call(to, 'POST /switchover/handoff', { role: 'target', peer: from });
    });
    await timed('origin yields', () => call(from, 'POST /switchover/yield', { to, ttlMs: 120_000 }));
    // Until every table is on the target, a failure leaves the origin master: its yield ends, it
    // retakes what moved, and a failback's handoff it kept for this switchover stays on.
    const claims = await timed('target claims', () => call(to, 'POST /switchover/claim', undefined),
      (v) => v.outcomes.map((o) => `${o.table} ${o.kind}`).join(', ')).catch(async (err: unknown) => {
      claimFailed = true;
      await endYield();
      throw new SystemError('SWITCHOVER_FAILED', `the target's claim failed: ${(err as Error).message}; ${from} stays master and retakes any table that moved`, { cause: err });
    });
    const failed = claims.outcomes.filter((o) => o.kind === 'failed' || o.kind === 'aborted');
    if (failed.length > 0) {
      claimFailed = true;
      await endYield();
      throw new SystemError('SWITCHOVER_FAILED', `the target could not claim ${failed.map((o) => `${o.table} (${o.kind === 'failed' ? o.reason : o.kind})`).join(', ')}; ${from} stays master and retakes them`);
    }
    await timed('origin drains (haproxy reload)', () => call(from, 'POST /switchover/drain', undefined));
    await timed('vrrp follows', async () => {
      if (!spec.cluster.vrrp.preempt) await call(from, 'POST /switchover/priority', { mode: 'fault' });
      await prefer().catch(async (err: unknown) => {
        if (!spec.cluster.vrrp.preempt) await call(from, 'POST /switchover/priority', { mode: 'neutral' }).catch(() => undefined);
        throw err;
      });
      const deadline = systemClock.now() + vrrpTimeoutMs;
      for (;;) {
        const [t, f] = [await call(to, 'GET /status', undefined), await call(from, 'GET /status', undefined)];
        if (t.vrrp.vrrp === 'MASTER' && f.vrrp.vrrp !== 'MASTER') break;
        if (systemClock.now() > deadline) throw new SystemError('SWITCHOVER_FAILED', `VRRP did not follow within ${vrrpTimeoutMs} ms: ${to} is ${t.vrrp.vrrp}, ${from} is ${f.vrrp.vrrp}; the routes point at ${to} (its claim holds them once it is master)`);
        await systemClock.sleep(50, signal);
      }
      if (!spec.cluster.vrrp.preempt) await call(from, 'POST /switchover/priority', { mode: 'neutral' });
    });
    drained = await timed('origin drained', async () => {
      const deadline = systemClock.now() + (options.drainTimeoutMs ?? 15_000);
      for (;;) {
        const d = await call(from, 'GET /switchover/drain', undefined);
        if (d.oldWorkers === 0) return true;
        if (systemClock.now() > deadline) return false;
        await systemClock.sleep(100, signal);
      }
    }, (v) => (v ? 'no connection left' : 'timeout: connections still open are reset when the handoff ends'));
  } finally {
    const cleanup = AbortSignal.timeout(30_000);
    const errors: string[] = [];
    for (const node of [to, from]) {
      await agentCall(ep(node), 'POST /switchover/handoff-off', { claimFailed }, { signal: cleanup }).catch((err: unknown) => errors.push(`${node}: ${(err as Error).message}`));
    }
    steps.push({ step: 'handoff off', ms: 0, ...(errors.length > 0 ? { detail: errors.join('; ') } : {}) });
    say(`handoff off${errors.length > 0 ? `: ${errors.join('; ')}` : ''}`);
  }
  return { from, to, drained, steps };
}
