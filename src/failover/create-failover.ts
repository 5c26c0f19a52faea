/**
 * Builds a node's failover parts (the claimer for the spec's failover mode, the master's
 * heartbeat) from the capabilities its cloud driver offers (src/cloud/registry.ts). Nothing here
 * names a provider: a provider that offers `routes` can do failover mode `route`, one that offers
 * `addresses` mode `eip`; `heartbeat` is optional (without it, `NO_HEARTBEAT`: a silent higher-priority holder is
 * yielded to for as long as it holds the resource).
 */
import type { CloudCapabilities } from '../cloud/registry.js';
import type { ClusterNode, FailoverMode, Spec } from '../model/spec.js';
import { OverlayError } from '../util/errors.js';
import { EipClaimer } from './eip-claimer.js';
import { EniHeartbeat, NO_HEARTBEAT } from './heartbeat.js';
import type { MasterHeartbeat } from './heartbeat.js';
import type { FailoverMetrics } from './metrics.js';
import { RouteClaimer } from './route-claimer.js';
import type { TakeoverFrom } from './route-claimer.js';
import type { Claimer, ClaimOutcome } from './types.js';

export interface FailoverPartsOptions {
  readonly spec: Spec;
  /** This node. */
  readonly node: ClusterNode;
  readonly capabilities: CloudCapabilities;
  readonly metrics?: FailoverMetrics;
  /** The connection handoff's hooks around a takeover (route mode; src/handoff/handoff-manager.ts). */
  readonly onTakeover?: (from: readonly TakeoverFrom[], signal: AbortSignal) => Promise<void>;
  readonly afterTakeover?: (outcomes: readonly ClaimOutcome[]) => Promise<void>;
}

export interface FailoverParts {
  readonly claimer: Claimer;
  /** `NO_HEARTBEAT` when the provider offers none. */
  readonly heartbeat: MasterHeartbeat;
  /** Looks the peers' network interfaces up ahead of the first claim (route mode), when the claimer has such a step. */
  readonly prefetchPeers?: (signal: AbortSignal) => Promise<void>;
}

type Peers = readonly { readonly node: string; readonly address: string; readonly priority: number }[];

/** One claimer per failover mode: the capability it needs and how to build it. */
const CLAIMERS: { readonly [M in FailoverMode]: (o: FailoverPartsOptions, peers: Peers) => Pick<FailoverParts, 'claimer' | 'prefetchPeers'> } = {
  route: (o, peers) => {
    const { cloud } = o.spec.cluster;
    const api = need(o, 'routes', 'route');
    if (!cloud.vpcId) throw new OverlayError('SPEC_CONFLICT', 'failover mode route needs cloud.vpcId');
    const claimer = new RouteClaimer({
      api, vpcId: cloud.vpcId, vip: o.spec.cluster.vip, networkInterfaceId: o.capabilities.identity.networkInterfaceId, selector: cloud.routeTables, peers,
      buckets: o.capabilities.buckets,
      ...(o.metrics ? { metrics: o.metrics } : {}),
      ...(o.onTakeover ? { onTakeover: o.onTakeover } : {}),
      ...(o.afterTakeover ? { afterTakeover: o.afterTakeover } : {}),
    });
    return { claimer, prefetchPeers: (signal) => claimer.prefetchPeers(signal) };
  },
  eip: (o, peers) => {
    const { cloud } = o.spec.cluster;
    const api = need(o, 'addresses', 'eip');
    if (!cloud.eipAllocationId) throw new OverlayError('SPEC_CONFLICT', 'failover mode eip needs cloud.eipAllocationId');
    return {
      claimer: new EipClaimer({
        api, allocationId: cloud.eipAllocationId, networkInterfaceId: o.capabilities.identity.networkInterfaceId, privateIp: o.node.address, peers,
        buckets: o.capabilities.buckets, ...(o.metrics ? { metrics: o.metrics } : {}),
      }),
    };
  },
};

function need<K extends 'routes' | 'addresses'>(o: FailoverPartsOptions, capability: K, mode: FailoverMode): NonNullable<CloudCapabilities[K]> {
  const api = o.capabilities[capability];
  if (api === undefined) throw new OverlayError('SPEC_CONFLICT', `cloud provider "${o.spec.cluster.cloud.provider}" offers no ${capability}, which failover mode ${mode} needs; choose another failover mode`);
  return api;
}

/** The claimer of the spec's failover mode and the heartbeat, over the provider's capabilities. */
export function createFailoverParts(options: FailoverPartsOptions): FailoverParts {
  const { cloud } = options.spec.cluster;
  const peers = options.spec.cluster.nodes.filter((n) => n.name !== options.node.name).map((n) => ({ node: n.name, address: n.address, priority: n.priority }));
  const parts = CLAIMERS[cloud.failover](options, peers);
  const hb = options.capabilities.heartbeat;
  // Masters beat once per re-check period: three periods without a change mean the holder is gone.
  const heartbeat = hb === undefined ? NO_HEARTBEAT : new EniHeartbeat({
    api: hb, networkInterfaceId: options.capabilities.identity.networkInterfaceId, staleAfterMs: 3 * cloud.recheckIntervalMs,
    buckets: options.capabilities.buckets, ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  return { ...parts, heartbeat };
}
