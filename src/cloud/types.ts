/**
 * What failover needs from a cloud, independent of any SDK. `src/cloud/aws` implements it with
 * the AWS SDK (against AWS or the lab's EC2-compatible API).
 */

/** The VIP's route in one route table. */
export interface VipRoute {
  readonly networkInterfaceId?: string;
  readonly instanceId?: string;
  /** Any other target (gateway, NAT, peering...): not ours, never touched silently. */
  readonly otherTarget?: string;
  /** `blackhole` when the target is gone or stopped. */
  readonly state: 'active' | 'blackhole';
}

export interface RouteTableInfo {
  readonly id: string;
  readonly vpcId: string;
  readonly main: boolean;
  readonly tags: Readonly<Record<string, string>>;
  /** The route for the VIP's /32 in this table, or null when the table has none. */
  readonly vipRoute: VipRoute | null;
}

/**
 * What a provider's error means for the caller, beyond its ErrorCode: a driver sets it as
 * `details.outcome` of the OverlayError it throws (src/cloud/aws/errors.ts maps EC2's codes and
 * messages), so the claim never reads a provider's error codes.
 * - `route-missing`: a replace found no route to replace (create it instead);
 * - `route-exists`: a create found the route there already (replace it instead).
 */
export type CloudErrorOutcome = 'route-missing' | 'route-exists';

/** The neutral outcome of a provider error (undefined: none). */
export function cloudErrorOutcome(err: unknown): CloudErrorOutcome | undefined {
  if (typeof err !== 'object' || err === null || !('details' in err)) return undefined;
  const o = (err as { details?: Readonly<Record<string, unknown>> }).details?.['outcome'];
  return o === 'route-missing' || o === 'route-exists' ? o : undefined;
}

export interface CallOptions {
  readonly signal: AbortSignal;
}

export interface RouteApi {
  /** Every route table of the VPC (all pages), with the route for `destinationCidr`. */
  listRouteTables(input: { vpcId: string; destinationCidr: string }, options: CallOptions): Promise<RouteTableInfo[]>;
  /**
   * The given route tables (one call, all pages). Tables that do not exist, or that are not in
   * `vpcId` when it is given, are left out: a mistyped id never gets the VIP route.
   */
  describeRouteTables(input: { routeTableIds: readonly string[]; destinationCidr: string; vpcId?: string }, options: CallOptions): Promise<RouteTableInfo[]>;
  replaceRoute(input: { routeTableId: string; destinationCidr: string; networkInterfaceId: string }, options: CallOptions): Promise<void>;
  createRoute(input: { routeTableId: string; destinationCidr: string; networkInterfaceId: string }, options: CallOptions): Promise<void>;
  /** The ENIs holding these private addresses in the VPC (to tell a peer node's route from a stranger's). */
  findNetworkInterfaces(input: { vpcId: string; privateIps: readonly string[] }, options: CallOptions): Promise<{ networkInterfaceId: string; privateIp: string }[]>;
}

export interface AddressInfo {
  readonly allocationId: string;
  readonly publicIp: string;
  readonly networkInterfaceId: string | null;
  readonly privateIp: string | null;
}

export interface AddressApi {
  describeAddress(input: { allocationId: string }, options: CallOptions): Promise<AddressInfo>;
  /** AssociateAddress with AllowReassociation: takes the address from whoever holds it. */
  associateAddress(input: { allocationId: string; networkInterfaceId: string; privateIp: string }, options: CallOptions): Promise<void>;
}

/** The tag (on a master's own network interface) that carries its heartbeat. */
export const HEARTBEAT_TAG = 'overlay-lb:heartbeat';

/**
 * A master's heartbeat, visible to the other nodes through the cloud API even when they cannot
 * reach it: a tag on its own ENI, rewritten while it is master (src/failover/heartbeat.ts).
 */
export interface HeartbeatApi {
  /** Sets the tag `key` = `value` on the ENI (CreateTags). */
  tagNetworkInterface(input: { networkInterfaceId: string; key: string; value: string }, options: CallOptions): Promise<void>;
  /** The value of the tag `key` on each given ENI that exists (an ENI without it maps to ''). */
  networkInterfaceTags(input: { networkInterfaceIds: readonly string[]; key: string }, options: CallOptions): Promise<Map<string, string>>;
}

/** Who this node is, from the instance metadata service (IMDSv2). */
export interface InstanceIdentity {
  readonly instanceId: string;
  readonly region: string;
  readonly availabilityZone: string;
  /** The ENI that holds the node's address: routes target it, never the instance. */
  readonly networkInterfaceId: string;
  readonly privateIp: string;
}

/** One instance, as a discovery source sees it. */
export interface InstanceSummary {
  readonly instanceId: string;
  /** Absent for an instance without a network interface (terminated). */
  readonly privateIp?: string;
  /** The provider's state name; `running` serves (EC2: pending, running, stopping, stopped, shutting-down, terminated). */
  readonly state: string;
}

/** Instances by tags, for the `ec2-tags` discovery source (src/discovery/ec2-tags-source.ts). */
export interface InstanceDescriber {
  /** Every instance (all pages) carrying all of `tags`. */
  describeInstancesByTags(tags: Readonly<Record<string, string>>, options: { readonly signal: AbortSignal }): Promise<readonly InstanceSummary[]>;
}
