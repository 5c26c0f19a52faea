import { HEARTBEAT_TAG } from '../types.js';

/** An IAM policy document, as AWS and the lab's IAM read it. */
export interface IamPolicyDocument {
  readonly Version?: string;
  readonly Statement: readonly IamPolicyStatement[];
}

export interface IamPolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/**
 * The least-privilege policy of the LB nodes' role: what the agent needs and nothing more, defined
 * once here in the product. The lab enforces it on its LB nodes (src/lab/controller.ts), the tests
 * grant it, and docs/install.md prints it (a test keeps the two equal). `arn` names a resource of
 * the account and region.
 */
export function lbNodePolicy(options: {
  readonly arn: (type: string, id: string) => string;
  readonly vpcId: string;
  readonly eipAllocationId: string | null;
  /**
   * The release objects a node provisioned by `overlay-lb up` reads at boot and when the spec
   * changes (src/cloud/aws/provision/names.ts): exactly these keys of this bucket, any version.
   * Absent for nodes installed by hand (docs/install.md). With `rollout`, the nodes also follow
   * `overlay-lb apply --cluster`: read the desired-version pointers (`pointers`, a key pattern:
   * names.ts `desiredKey(prefix, '*')`) and write their published status (`statuses`:
   * `statusKey(prefix, '*')`). IAM cannot name "this node's own key" (the key carries the node
   * name, which no policy variable holds), so both are scoped to their folder of the prefix.
   */
  readonly release?: {
    readonly bucket: string;
    readonly keys: readonly string[];
    readonly rollout?: { readonly pointers: string; readonly statuses: string };
  };
}): IamPolicyDocument {
  const { arn, eipAllocationId, release } = options;
  const inVpc = { StringEquals: { 'ec2:Vpc': arn('vpc', options.vpcId) } };
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Discover', Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' },
      { Sid: 'MoveVipRoute', Effect: 'Allow', Action: ['ec2:ReplaceRoute', 'ec2:CreateRoute'], Resource: arn('route-table', '*'), Condition: inVpc },
      // The master's heartbeat (src/failover/heartbeat.ts): that one tag, on the VPC's ENIs only.
      { Sid: 'MasterHeartbeat', Effect: 'Allow', Action: 'ec2:CreateTags', Resource: arn('network-interface', '*'), Condition: { ...inVpc, 'ForAllValues:StringEquals': { 'aws:TagKeys': [HEARTBEAT_TAG] } } },
      ...(eipAllocationId === null ? [] : [
        { Sid: 'MoveElasticIp', Effect: 'Allow' as const, Action: 'ec2:AssociateAddress', Resource: arn('elastic-ip', eipAllocationId) },
        { Sid: 'ElasticIpTargets', Effect: 'Allow' as const, Action: 'ec2:AssociateAddress', Resource: [arn('network-interface', '*'), arn('instance', '*')], Condition: inVpc },
      ]),
      ...(release === undefined ? [] : [
        // S3 object ARNs carry neither region nor account: the bucket name is global.
        { Sid: 'ReadRelease', Effect: 'Allow' as const, Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: release.keys.map((k) => `arn:aws:s3:::${release.bucket}/${k}`) },
      ]),
      ...(release?.rollout === undefined ? [] : [
        { Sid: 'FollowRollout', Effect: 'Allow' as const, Action: 's3:GetObject', Resource: `arn:aws:s3:::${release.bucket}/${release.rollout.pointers}` },
        { Sid: 'PublishStatus', Effect: 'Allow' as const, Action: 's3:PutObject', Resource: `arn:aws:s3:::${release.bucket}/${release.rollout.statuses}` },
      ]),
    ],
  };
}

/**
 * The trust policy of the LB nodes' role: EC2 may assume it for the instances of its instance
 * profile, nothing else (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2.html).
 */
export const EC2_TRUST_POLICY: {
  readonly Version: string;
  readonly Statement: readonly { readonly Effect: 'Allow'; readonly Principal: { readonly Service: string }; readonly Action: string }[];
} = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
};
