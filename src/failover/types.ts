import type { TableOutcome } from '../cloud/claim.js';

/** Who holds a failover resource (a route table's VIP route, or the Elastic IP) right now. */
export type Holder =
  | { readonly kind: 'us' }
  /** Another node of this cluster. */
  | { readonly kind: 'peer'; readonly node: string; readonly priority: number; readonly networkInterfaceId: string }
  /** A target that is not a node of this cluster (set by hand, another system). */
  | { readonly kind: 'other'; readonly target: string }
  /** No route / not associated / a blackhole route. */
  | { readonly kind: 'none' };

export interface ResourceView {
  readonly id: string;
  readonly holder: Holder;
}

/** The outcome of claiming one resource; route tables and the EIP share the shape. */
export type ClaimOutcome = TableOutcome;

/**
 * What the failover controller moves: the VIP routes (mode `route`) or the Elastic IP (mode
 * `eip`). One implementation per mode; the controller's state machine is the same.
 */
export interface Claimer {
  /** `none`: no cloud (provider none); VRRP is followed and reported, nothing is claimed. */
  readonly mode: 'route' | 'eip' | 'none';
  /** The resources owned right now (route tables are re-discovered on every call). */
  list(signal: AbortSignal): Promise<readonly string[]>;
  /** Points every given resource at us and reads it back; one outcome per resource. */
  claim(resources: readonly string[], signal: AbortSignal): Promise<readonly ClaimOutcome[]>;
  /** Who holds each given resource. */
  inspect(resources: readonly string[], signal: AbortSignal): Promise<readonly ResourceView[]>;
}

/** Provider `none`: nothing to move (a single-subnet setup or tests); the state machine still runs. */
export const NO_CLAIMER: Claimer = {
  mode: 'none',
  list: () => Promise.resolve([]),
  claim: () => Promise.resolve([]),
  inspect: () => Promise.resolve([]),
};
