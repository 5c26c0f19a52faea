/**
 * What a cloud provider's driver is (src/cloud/registry.ts lists them): it opens a session for
 * this node, which knows the node's identity and then offers the provider's capabilities.
 */
import type { Cloud } from '../model/spec.js';
import type { CloudBuckets } from './guarded-call.js';
import type { AddressApi, HeartbeatApi, InstanceDescriber, InstanceIdentity, RouteApi } from './types.js';

/** What a provider can do once this node's identity is known. Absent capability: not offered. */
export interface CloudCapabilities {
  /** Who this node is (the route target, the region). */
  readonly identity: InstanceIdentity;
  /** VIP routes in route tables (failover mode `route`). */
  readonly routes?: RouteApi;
  /** A movable public address (failover mode `eip`). */
  readonly addresses?: AddressApi;
  /** A master's heartbeat visible through the API (partitions: a silent holder that died). */
  readonly heartbeat?: HeartbeatApi;
  /** Instances by tags (the `ec2-tags` discovery source). */
  readonly instances?: InstanceDescriber;
  /** The API's rate limits for this node, shared by every call of the session (src/cloud/guarded-call.ts). */
  readonly buckets: CloudBuckets;
}

export interface CloudOpenOptions {
  /** The spec's cloud section. */
  readonly cloud: Cloud;
  /** API endpoint override (`overlay-lb agent --ec2-endpoint`); before the spec's `cloud.endpoint`. */
  readonly endpoint?: string;
  /** Instance metadata endpoint override (`--imds-endpoint`). */
  readonly metadataEndpoint?: string;
  /** Ends the session (credential refreshes). */
  readonly signal: AbortSignal;
}

/** One node's connection to its provider. */
export interface CloudSession {
  /** Who this node is: the instance and the network interface holding `nodeAddress`. Retried within `deadlineMs`. */
  identity(nodeAddress: string, options: { readonly signal: AbortSignal; readonly deadlineMs?: number }): Promise<InstanceIdentity>;
  /** The provider's capabilities for this node. */
  connect(identity: InstanceIdentity): CloudCapabilities;
}

export interface CloudDriver {
  open(options: CloudOpenOptions): CloudSession;
}

