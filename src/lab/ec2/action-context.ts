/**
 * What every EC2 action handler of the lab shares (pure): the context a handler gets, the handler
 * shape, and how actions name the resources a call is authorized against. Its own module so that
 * the action tables (actions.ts, security-group-actions.ts) do not import each other.
 */
import type { AuthorizedResource } from './policy.js';
import type { QueryParams } from './query.js';
import type { LabCloud, World } from './state.js';
import type { XmlNode } from './xml.js';

/** What a handler gets for one request. */
export interface ActionContext {
  readonly cloud: LabCloud;
  readonly params: QueryParams;
  /** The world a Describe reads (older than the current one under the consistency fault). */
  readonly view: Readonly<World>;
  /**
   * Check the caller's policy for this action on these resources, then honour DryRun.
   * Throws UnauthorizedOperation, or DryRunOperation when the call would have succeeded.
   */
  authorize(resources: readonly AuthorizedResource[]): void;
  /** Whether the caller's policy allows another action (`iam:PassRole`) on these resources; no DryRun. */
  allows(action: string, resources: readonly AuthorizedResource[]): boolean;
}

export interface ActionHandler {
  /** Mutating actions use the mutating throttle bucket and are never served from a stale view. */
  readonly mutating: boolean;
  run(ctx: ActionContext): XmlNode;
}


/** A resource's ARN, with the `ec2:Vpc` condition key (the VPC's ARN) when it lies in a VPC. */
export function inVpc(cloud: LabCloud, type: string, id: string, vpcId: string | null): AuthorizedResource {
  return { arn: cloud.arn(type, id), conditions: vpcId === null ? {} : { 'ec2:vpc': cloud.arn('vpc', vpcId) } };
}
