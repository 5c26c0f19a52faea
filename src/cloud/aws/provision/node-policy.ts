/**
 * The nodes' role policy of a provisioned cluster: `lbNodePolicy` (the one policy source) filled in
 * from the spec for an account and region, with `ReadRelease` on exactly the release objects. One
 * derivation for `overlay-lb up` (kinds.ts) and the CDK construct (constructs/), whose policies a
 * test holds equal. Pure.
 */
import type { Spec } from '../../../model/spec.js';
import { lbNodePolicy, type IamPolicyDocument } from '../iam-policy.js';
import type { ReleaseLocation } from './names.js';

export interface NodeRolePolicyOptions {
  /** The region of the nodes' EC2 resources (up: the spec's; the CDK: the `AWS::Region` token). */
  readonly region: string;
  /** The account (up: the caller's, from STS; the CDK: the `AWS::AccountId` token). */
  readonly account: string;
  /** The objects the nodes read: the spec and the package (and with `rollout`, their pointers and statuses). */
  readonly release: ReleaseLocation;
}

/** An EC2 resource ARN in `region` and `account` (AWS's commercial partition, as the nodes use). */
export function ec2Arn(options: { readonly region: string; readonly account: string }): (type: string, id: string) => string {
  return (type, id) => `arn:aws:ec2:${options.region}:${options.account}:${type}/${id}`;
}

/** The inline policy of `spec`'s nodes' role. */
export function nodeRolePolicy(spec: Spec, options: NodeRolePolicyOptions): IamPolicyDocument {
  const { cloud } = spec.cluster;
  const { release } = options;
  return lbNodePolicy({
    arn: ec2Arn(options),
    vpcId: cloud.vpcId ?? '',
    eipAllocationId: cloud.failover === 'eip' ? (cloud.eipAllocationId ?? null) : null,
    release: { bucket: release.bucket, keys: [release.specKey, release.packageKey], ...(release.rollout === undefined ? {} : { rollout: release.rollout }) },
  });
}
