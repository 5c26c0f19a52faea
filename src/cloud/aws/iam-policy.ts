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
export function lbNodePolicy(options: { readonly arn: (type: string, id: string) => string; readonly vpcId: string; readonly eipAllocationId: string | null }): IamPolicyDocument {
  const { arn, eipAllocationId } = options;
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
    ],
  };
}
