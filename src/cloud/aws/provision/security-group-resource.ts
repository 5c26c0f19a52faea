/**
 * The LB nodes' security group of `overlay-lb up`: created by name in the spec's VPC, tagged as
 * owned in the same call (TagSpecifications), and its ingress converged to securityGroupIngress
 * (security-group-rules.ts): what is missing is authorized, what the owned group has beyond it is
 * revoked (someone's extra rule on up's group would open the nodes). Egress stays EC2's default.
 * A group with up's name but without the ownership tag is never touched. `remove` deletes it once
 * nothing uses it (the instances are terminated first: DependencyViolation is waited out).
 */
import {
  AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DeleteSecurityGroupCommand, type IpPermission as SdkIpPermission, RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import type { Spec } from '../../../model/spec.js';
import type { ObservedResource, ProvisionResource } from '../../provision-kind.js';
import { OverlayError } from '../../../util/errors.js';
import { retry } from '../../../util/retry.js';
import { type Ec2Scope, ec2Arn, findGroup, WAIT_DEADLINE_MS } from './ec2-common.js';
import { OWNER_TAG, ownedBy, ownershipTags } from './names.js';
import { ingressChanges, type IpPermission, securityGroupIngress } from './security-group-rules.js';
import { isAwsError } from './session.js';

/** The label of the group's resource (the instances depend on it). */
export function securityGroupLabel(name: string): string {
  return `security group ${name}`;
}

/** A described permission in security-group-rules.ts' shape (the SDK's fields are all optional). */
function fromSdk(p: SdkIpPermission): IpPermission {
  return {
    IpProtocol: p.IpProtocol ?? '-1',
    ...(p.FromPort === undefined ? {} : { FromPort: p.FromPort }),
    ...(p.ToPort === undefined ? {} : { ToPort: p.ToPort }),
    IpRanges: (p.IpRanges ?? []).map((r) => ({ CidrIp: r.CidrIp ?? '' })),
    UserIdGroupPairs: (p.UserIdGroupPairs ?? []).map((g) => ({ GroupId: g.GroupId ?? '' })),
    Ipv6Ranges: (p.Ipv6Ranges ?? []).map((r) => ({ CidrIpv6: r.CidrIpv6 ?? '' })),
    PrefixListIds: (p.PrefixListIds ?? []).map((r) => ({ PrefixListId: r.PrefixListId ?? '' })),
  };
}

/** Our rules in the SDK's (mutable) shape, for Authorize/RevokeSecurityGroupIngress. */
export const toSdk = (rules: readonly IpPermission[]): SdkIpPermission[] => rules.map((r) => ({
  IpProtocol: r.IpProtocol,
  ...(r.FromPort === undefined ? {} : { FromPort: r.FromPort }),
  ...(r.ToPort === undefined ? {} : { ToPort: r.ToPort }),
  ...(r.IpRanges === undefined ? {} : { IpRanges: r.IpRanges.map((x) => ({ ...x })) }),
  ...(r.UserIdGroupPairs === undefined ? {} : { UserIdGroupPairs: r.UserIdGroupPairs.map((x) => ({ ...x })) }),
  ...(r.Ipv6Ranges === undefined ? {} : { Ipv6Ranges: r.Ipv6Ranges.map((x) => ({ ...x })) }),
  ...(r.PrefixListIds === undefined ? {} : { PrefixListIds: r.PrefixListIds.map((x) => ({ ...x })) }),
}));

/** The nodes' security group of `spec` (named `name`), as one resource. */
export function securityGroupResource(scope: Ec2Scope, spec: Spec, name: string): ProvisionResource {
  const { session, cluster, vpcId } = scope;
  const label = securityGroupLabel(name);
  /** The owned group and what its ingress lacks or has too much of; undefined when there is none. */
  const current = async (signal: AbortSignal) => {
    const group = await findGroup(scope, name, signal);
    if (group?.GroupId === undefined) return undefined;
    const changes = ingressChanges(securityGroupIngress(spec, group.GroupId), (group.IpPermissions ?? []).map(fromSdk));
    return { group, groupId: group.GroupId, changes };
  };
  const converge = async (signal: AbortSignal): Promise<void> => {
    const now = await current(signal);
    if (now === undefined || !ownedBy(now.group.Tags, cluster)) throw new OverlayError('CLOUD_CONFLICT', `${label} is gone or no longer this cluster's; run up again`);
    const arn = ec2Arn(scope, 'security-group', now.groupId);
    if (now.changes.revoke.length > 0) {
      await session.call('ec2:RevokeSecurityGroupIngress', arn, (abortSignal) => session.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: now.groupId, IpPermissions: toSdk(now.changes.revoke) }), { abortSignal }), { signal });
    }
    if (now.changes.authorize.length > 0) {
      await session.call('ec2:AuthorizeSecurityGroupIngress', arn, (abortSignal) => session.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: now.groupId, IpPermissions: toSdk(now.changes.authorize) }), { abortSignal }), { signal });
    }
  };
  return {
    kind: 'security-group', label, dependsOn: [],
    observe: async ({ signal }): Promise<ObservedResource> => {
      const now = await current(signal);
      if (now === undefined) return { state: 'absent' };
      if (!ownedBy(now.group.Tags, cluster)) {
        return {
          state: 'foreign', reason: `a security group named ${name} (${now.groupId}) exists in ${vpcId} without the tag ${OWNER_TAG}=${cluster}`,
          fix: `it was not made by overlay-lb up for this cluster, so up leaves it alone: delete it (aws ec2 delete-security-group --group-id ${now.groupId}) or give this cluster another name (cluster.name)`,
        };
      }
      return { state: 'owned', changes: now.changes.summary };
    },
    create: async ({ signal }) => {
      await session.call('ec2:CreateSecurityGroup', ec2Arn(scope, 'security-group', '*'), (abortSignal) => session.ec2.send(new CreateSecurityGroupCommand({
        GroupName: name, VpcId: vpcId, Description: `overlay-lb LB nodes of cluster ${cluster} (made by overlay-lb up)`,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: ownershipTags(cluster) }],
      }), { abortSignal }), { signal });
      await converge(signal);
    },
    update: (_changes, { signal }) => converge(signal),
    remove: async ({ signal }) => {
      const group = await findGroup(scope, name, signal);
      if (group?.GroupId === undefined) return;
      if (!ownedBy(group.Tags, cluster)) throw new OverlayError('CLOUD_CONFLICT', `${label} (${group.GroupId}) is not this cluster's: it is never deleted`);
      const groupId = group.GroupId;
      const clock = session.clock;
      // In use until the instances' ENIs are gone (terminating takes a while): wait that out.
      await retry(async () => {
        try {
          await session.call('ec2:DeleteSecurityGroup', ec2Arn(scope, 'security-group', groupId), (abortSignal) => session.ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId }), { abortSignal }), { signal });
        } catch (err) {
          if (isAwsError(err, 'InvalidGroup.NotFound')) return;
          throw err;
        }
      }, { signal, clock, baseMs: 1000, maxMs: 5000, deadline: clock.now() + WAIT_DEADLINE_MS, isRetryable: (e) => isAwsError(e, 'DependencyViolation') });
    },
  };
}
