import type { RouteTableSelector } from '../model/spec.js';
import { claimRoutes } from '../cloud/claim.js';
import type { ClaimBuckets } from '../cloud/claim.js';
import { countCloudCall, guardedCall } from '../cloud/guarded-call.js';
import type { CloudCallEvent } from '../cloud/guarded-call.js';
import type { RouteApi, RouteTableInfo } from '../cloud/types.js';
import { selectTables } from '../cloud/select-tables.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Claimer, ClaimOutcome, Holder, ResourceView } from './types.js';
import type { FailoverMetrics } from './metrics.js';
import { timeoutSignal } from '../util/abort.js';

export interface RouteClaimerOptions {
  readonly api: RouteApi;
  readonly vpcId: string;
  readonly vip: string;
  /** Our ENI: the VIP route's target. */
  readonly networkInterfaceId: string;
  readonly selector: RouteTableSelector;
  /** The other nodes of the cluster: whose ENI is whose (contest detection). */
  readonly peers: readonly { readonly node: string; readonly address: string; readonly priority: number }[];
  readonly buckets: ClaimBuckets;
  readonly clock?: Clock;
  readonly metrics?: FailoverMetrics;
  /**
   * Called during a claim, before routes held by other nodes of the cluster are written: which
   * peers hold which tables (the agent's takeover handoff). Not called when no peer holds one.
   */
  readonly onTakeover?: (from: readonly TakeoverFrom[], signal: AbortSignal) => Promise<void>;
  /** Called when a claim that called `onTakeover` has ended, with its outcomes. */
  readonly afterTakeover?: (outcomes: readonly ClaimOutcome[]) => Promise<void>;
  /** Timeout of each describe call outside a claim (list, inspect). @default 3000 (`DEFAULT_CALL_TIMEOUT_MS`) */
  readonly callTimeoutMs?: number;
  /** Retry a failed describe outside a claim until this long has passed. @default 10000 */
  readonly describeDeadlineMs?: number;
}

/** A peer whose routes a claim takes over. */
export interface TakeoverFrom {
  readonly node: string;
  readonly priority: number;
  readonly tables: readonly string[];
}

/**
 * Mode `route`: the resources are the owned VPC route tables, the claim points the VIP's /32 at
 * our ENI. Owned tables are re-discovered on every `list` (a new subnet's table gets the route);
 * tables outside the selector are never touched.
 */
export class RouteClaimer implements Claimer {
  readonly mode = 'route' as const;
  readonly #o: RouteClaimerOptions;
  readonly #cidr: string;
  #peerEnis = new Map<string, { node: string; priority: number }>();
  readonly #count: ((e: CloudCallEvent) => void) | undefined;

  constructor(options: RouteClaimerOptions) {
    this.#o = options;
    this.#cidr = `${options.vip}/32`;
    this.#count = countCloudCall(options.metrics);
  }

  async list(signal: AbortSignal): Promise<readonly string[]> {
    const s = this.#o.selector;
    if (s.kind === 'ids') return s.ids;
    const tables = await this.#describeCall('DescribeRouteTables', signal, (cs) => this.#o.api.listRouteTables({ vpcId: this.#o.vpcId, destinationCidr: this.#cidr }, { signal: cs }));
    return selectTables(tables, s);
  }

  async claim(resources: readonly string[], signal: AbortSignal): Promise<readonly ClaimOutcome[]> {
    let tookOver = false;
    const outcomes = await claimRoutes({
      api: this.#o.api,
      tables: resources,
      destinationCidr: this.#cidr,
      networkInterfaceId: this.#o.networkInterfaceId,
      vpcId: this.#o.vpcId,
      buckets: this.#o.buckets,
      signal,
      ...(this.#o.clock ? { clock: this.#o.clock } : {}),
      onEvent: (e) => { if (e.type !== 'table-done') this.#count?.(e); },
      ...(this.#o.onTakeover ? { beforeWrite: async (infos: readonly RouteTableInfo[], s: AbortSignal) => { tookOver = await this.#beforeWrite(infos, s); } } : {}),
    });
    if (tookOver) await this.#o.afterTakeover?.(outcomes);
    return outcomes;
  }

  /**
   * Learns the peers' ENIs ahead of a claim (the agent calls it at start), so that a claim never
   * waits for that lookup; `inspect` refreshes it when an unknown ENI shows up.
   */
  async prefetchPeers(signal: AbortSignal): Promise<void> {
    if (this.#o.peers.length > 0) await this.#resolvePeers(signal);
  }

  /** Calls `onTakeover` when peers hold some of the tables; returns whether it did. */
  async #beforeWrite(infos: readonly RouteTableInfo[], signal: AbortSignal): Promise<boolean> {
    const onTakeover = this.#o.onTakeover;
    if (!onTakeover || this.#o.peers.length === 0) return false;
    // The claim never waits for the peers' ENIs: unknown now, they are looked up in the background
    // (for the next time) and this claim goes without a handoff.
    if (this.#peerEnis.size === 0) {
      void this.#resolvePeers(timeoutSignal(10_000)).catch(() => undefined);
      return false;
    }
    const from = new Map<string, { node: string; priority: number; tables: string[] }>();
    for (const info of infos) {
      const h = this.#holder(info);
      if (h.kind !== 'peer') continue;
      const f = from.get(h.node) ?? { node: h.node, priority: h.priority, tables: [] };
      f.tables.push(info.id);
      from.set(h.node, f);
    }
    if (from.size === 0) return false;
    await onTakeover([...from.values()], signal);
    return true;
  }

  async inspect(resources: readonly string[], signal: AbortSignal): Promise<readonly ResourceView[]> {
    const infos = await this.#describeCall('DescribeRouteTables', signal, (cs) => this.#o.api.describeRouteTables({ routeTableIds: resources, destinationCidr: this.#cidr, vpcId: this.#o.vpcId }, { signal: cs }));
    const unknown = infos.map((i) => i.vipRoute?.networkInterfaceId).filter((e): e is string => e !== undefined && e !== this.#o.networkInterfaceId && !this.#peerEnis.has(e));
    if (unknown.length > 0 && this.#o.peers.length > 0) await this.#resolvePeers(signal);
    return infos.map((i) => ({ id: i.id, holder: this.#holder(i) }));
  }

  #holder(info: RouteTableInfo): Holder {
    const r = info.vipRoute;
    if (r === null || r.state === 'blackhole') return { kind: 'none' };
    if (r.networkInterfaceId === this.#o.networkInterfaceId) return { kind: 'us' };
    const peer = r.networkInterfaceId ? this.#peerEnis.get(r.networkInterfaceId) : undefined;
    if (peer && r.networkInterfaceId) return { kind: 'peer', node: peer.node, priority: peer.priority, networkInterfaceId: r.networkInterfaceId };
    return { kind: 'other', target: r.networkInterfaceId ?? r.instanceId ?? r.otherTarget ?? 'unknown' };
  }

  async #resolvePeers(signal: AbortSignal): Promise<void> {
    const found = await this.#describeCall('DescribeNetworkInterfaces', signal, (cs) => this.#o.api.findNetworkInterfaces({ vpcId: this.#o.vpcId, privateIps: this.#o.peers.map((p) => p.address) }, { signal: cs }));
    const next = new Map<string, { node: string; priority: number }>();
    for (const f of found) {
      const peer = this.#o.peers.find((p) => p.address === f.privateIp);
      if (peer) next.set(f.networkInterfaceId, { node: peer.node, priority: peer.priority });
    }
    this.#peerEnis = next;
  }

  /**
   * One describe outside a claim (list, inspect, peer lookup): under the describe bucket, with a
   * per-call timeout (an API that accepts the connection and never answers must not hang the
   * controller: found by the API-unreachable e2e test), throttling and 5xx retried for a while.
   */
  #describeCall<T>(action: string, signal: AbortSignal, fn: (callSignal: AbortSignal) => Promise<T>): Promise<T> {
    const clock = this.#o.clock ?? systemClock;
    const onEvent = countCloudCall(this.#o.metrics);
    return guardedCall({
      action, bucket: this.#o.buckets.describe, signal, deadline: clock.now() + (this.#o.describeDeadlineMs ?? 10_000), clock,
      ...(this.#o.callTimeoutMs === undefined ? {} : { callTimeoutMs: this.#o.callTimeoutMs }),
      ...(onEvent ? { onEvent } : {}),
    }, fn);
  }
}

/** Re-exported from src/cloud/select-tables.ts (where `overlay-lb up` uses it too). */
export { selectTables };
