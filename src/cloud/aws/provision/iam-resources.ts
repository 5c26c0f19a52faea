/**
 * The IAM side of `overlay-lb up`: the nodes' role (trusting EC2 only), its one inline policy
 * (lbNodePolicy, the one policy source), the instance profile and the role in it. Role and profile
 * carry the ownership tag from their creation (CreateRole/CreateInstanceProfile `Tags`), so a
 * run killed between two calls never leaves an untagged resource behind; the inline policy and
 * the profile's role belong to their (owned) role and profile. `overlay-lb down` removes them in
 * the order IAM requires (the role out of the profile, the profile, the inline policy, the role:
 * DeleteRole and DeleteInstanceProfile refuse with DeleteConflict otherwise), each only when it is
 * this cluster's; a removal that finds it already gone succeeds.
 */
import {
  AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, DeleteInstanceProfileCommand, DeleteRoleCommand, DeleteRolePolicyCommand, GetInstanceProfileCommand,
  GetRoleCommand, GetRolePolicyCommand, ListInstanceProfilesForRoleCommand, ListRolePoliciesCommand, PutRolePolicyCommand, RemoveRoleFromInstanceProfileCommand,
} from '@aws-sdk/client-iam';
import type { ObservedResource, ProvisionResource } from '../../provision-kind.js';
import { EC2_TRUST_POLICY, type IamPolicyDocument } from '../iam-policy.js';
import { NODE_POLICY_NAME, OWNER_TAG, ownedBy, ownershipTags } from './names.js';
import { isAwsError, type ProvisionSession } from './session.js';

export interface IamResourceOptions {
  readonly session: ProvisionSession;
  readonly account: string;
  readonly cluster: string;
  readonly roleName: string;
  readonly profileName: string;
  readonly policy: IamPolicyDocument;
}

/** A policy document as IAM returns it: URL-encoded by the API (the SDK does not decode it). */
function parsePolicy(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text.trimStart().startsWith('{') ? text : decodeURIComponent(text));
  } catch {
    return undefined;
  }
}

/** JSON with sorted keys: two documents equal as IAM reads them compare equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const foreignFix = (what: string, name: string): string => `it was not made by overlay-lb up for this cluster (no ${OWNER_TAG} tag with its name), so up leaves it alone: delete or rename that ${what}, or give this cluster another name (cluster.name) so its resources are called differently than ${JSON.stringify(name)}`;

interface Names {
  readonly roleArn: string;
  readonly profileArn: string;
  readonly roleLabel: string;
  readonly profileLabel: string;
}

/** The role, its inline policy, the instance profile and the role in it, in dependency order. */
export function iamResources(o: IamResourceOptions): ProvisionResource[] {
  const n: Names = {
    roleArn: `arn:aws:iam::${o.account}:role/${o.roleName}`,
    profileArn: `arn:aws:iam::${o.account}:instance-profile/${o.profileName}`,
    roleLabel: `IAM role ${o.roleName}`,
    profileLabel: `IAM instance profile ${o.profileName}`,
  };
  return [roleResource(o, n), policyResource(o, n), profileResource(o, n), memberResource(o, n)];
}

const noUpdate = (): Promise<void> => Promise.resolve();

/** A removal call that succeeds when the thing is already gone (an earlier, interrupted down). */
const goneIsDone = (err: unknown): void => {
  if (!isAwsError(err, 'NoSuchEntity')) throw err;
};

const notMadeByUp = (what: string, name: string, cluster: string): string => `not made by up: ${what} ${name} has no tag ${OWNER_TAG}=${cluster}`;

function getRole(o: IamResourceOptions, n: Names, signal: AbortSignal) {
  const { session, roleName } = o;
  return session.call('iam:GetRole', n.roleArn, (abortSignal) => session.iam.send(new GetRoleCommand({ RoleName: roleName }), { abortSignal }), { signal })
    .then((r) => r.Role, (err: unknown) => {
      if (isAwsError(err, 'NoSuchEntity')) return undefined;
      throw err;
    });
}

function getProfile(o: IamResourceOptions, n: Names, signal: AbortSignal) {
  const { session, profileName } = o;
  return session.call('iam:GetInstanceProfile', n.profileArn, (abortSignal) => session.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profileName }), { abortSignal }), { signal })
    .then((r) => r.InstanceProfile, (err: unknown) => {
      if (isAwsError(err, 'NoSuchEntity')) return undefined;
      throw err;
    });
}

function roleResource(o: IamResourceOptions, n: Names): ProvisionResource {
  const { session, cluster, roleName } = o;
  return {
    kind: 'iam-role', label: n.roleLabel, dependsOn: [],
    observe: async ({ signal }): Promise<ObservedResource> => {
      const found = await getRole(o, n, signal);
      if (found === undefined) return { state: 'absent' };
      if (!ownedBy(found.Tags, cluster)) return { state: 'foreign', reason: `an IAM role named ${roleName} exists without the tag ${OWNER_TAG}=${cluster}`, fix: foreignFix('role', roleName) };
      if (canonicalJson(parsePolicy(found.AssumeRolePolicyDocument)) !== canonicalJson(EC2_TRUST_POLICY)) {
        return { state: 'foreign', reason: `role ${roleName} is this cluster's but trusts more or other principals than ec2.amazonaws.com`, fix: `restore its trust policy (aws iam update-assume-role-policy --role-name ${roleName} --policy-document '${JSON.stringify(EC2_TRUST_POLICY)}') or delete the role` };
      }
      return { state: 'owned', changes: [] };
    },
    create: async ({ signal }) => {
      await session.call('iam:CreateRole', n.roleArn, (abortSignal) => session.iam.send(new CreateRoleCommand({
        RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify(EC2_TRUST_POLICY), Tags: ownershipTags(cluster),
        Description: `overlay-lb LB nodes of cluster ${cluster} (made by overlay-lb up)`,
      }), { abortSignal }), { signal });
    },
    update: noUpdate,
    // Tagged is enough for down (a changed trust policy does not make it someone else's), unless
    // something up did not put there holds on to it: DeleteRole would refuse.
    observeRemoval: async ({ signal }): Promise<ObservedResource> => {
      const found = await getRole(o, n, signal);
      if (found === undefined) return { state: 'absent' };
      if (!ownedBy(found.Tags, cluster)) return { state: 'foreign', reason: notMadeByUp('IAM role', roleName, cluster), fix: 'down never deletes it' };
      const policies = await session.call('iam:ListRolePolicies', n.roleArn, (abortSignal) => session.iam.send(new ListRolePoliciesCommand({ RoleName: roleName, MaxItems: 1000 }), { abortSignal }), { signal });
      const others = (policies.PolicyNames ?? []).filter((p) => p !== NODE_POLICY_NAME);
      const profiles = await session.call('iam:ListInstanceProfilesForRole', n.roleArn, (abortSignal) => session.iam.send(new ListInstanceProfilesForRoleCommand({ RoleName: roleName, MaxItems: 1000 }), { abortSignal }), { signal });
      const otherProfiles = (profiles.InstanceProfiles ?? []).map((p) => p.InstanceProfileName ?? '?').filter((p) => p !== o.profileName);
      if (others.length > 0 || otherProfiles.length > 0) {
        const what = [...others.map((p) => `inline policy ${p}`), ...otherProfiles.map((p) => `instance profile ${p}`)].join(', ');
        return { state: 'foreign', reason: `role ${roleName} is this cluster's, but holds what up did not put there (${what}), so IAM would refuse to delete it`, fix: `remove those from it (aws iam delete-role-policy / remove-role-from-instance-profile) and run down again, or keep the role` };
      }
      return { state: 'owned', changes: [] };
    },
    remove: async ({ signal }) => {
      await session.call('iam:DeleteRole', n.roleArn, (abortSignal) => session.iam.send(new DeleteRoleCommand({ RoleName: roleName }), { abortSignal }), { signal }).then(() => undefined, goneIsDone);
    },
  };
}

function policyResource(o: IamResourceOptions, n: Names): ProvisionResource {
  const { session, roleName } = o;
  const wanted = JSON.stringify(o.policy);
  const putPolicy = async (signal: AbortSignal): Promise<void> => {
    await session.call('iam:PutRolePolicy', n.roleArn, (abortSignal) => session.iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: NODE_POLICY_NAME, PolicyDocument: wanted }), { abortSignal }), { signal });
  };
  return {
    kind: 'iam-role-policy', label: `IAM inline policy ${NODE_POLICY_NAME} of role ${roleName}`, dependsOn: [n.roleLabel],
    observe: async ({ signal }) => {
      const found = await session.call('iam:GetRolePolicy', n.roleArn, (abortSignal) => session.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: NODE_POLICY_NAME }), { abortSignal }), { signal })
        .then((r) => r.PolicyDocument, (err: unknown) => {
          // No role yet, or no policy in it: both mean "create".
          if (isAwsError(err, 'NoSuchEntity')) return undefined;
          throw err;
        });
      if (found === undefined) return { state: 'absent' };
      return { state: 'owned', changes: canonicalJson(parsePolicy(found)) === canonicalJson(o.policy) ? [] : ['policy document'] };
    },
    create: ({ signal }) => putPolicy(signal),
    update: (_changes, { signal }) => putPolicy(signal),
    // The policy is up's only inside a role of this cluster: in anyone else's role it is theirs.
    observeRemoval: async ({ signal }): Promise<ObservedResource> => {
      const role = await getRole(o, n, signal);
      if (role === undefined) return { state: 'absent' };
      if (!ownedBy(role.Tags, o.cluster)) return { state: 'foreign', reason: `${notMadeByUp('IAM role', roleName, o.cluster)}, so its inline policy is not up's either`, fix: 'down never deletes it' };
      const found = await session.call('iam:GetRolePolicy', n.roleArn, (abortSignal) => session.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: NODE_POLICY_NAME }), { abortSignal }), { signal })
        .then(() => true, (err: unknown) => {
          if (isAwsError(err, 'NoSuchEntity')) return false;
          throw err;
        });
      return found ? { state: 'owned', changes: [] } : { state: 'absent' };
    },
    remove: async ({ signal }) => {
      await session.call('iam:DeleteRolePolicy', n.roleArn, (abortSignal) => session.iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: NODE_POLICY_NAME }), { abortSignal }), { signal }).then(() => undefined, goneIsDone);
    },
  };
}

function profileResource(o: IamResourceOptions, n: Names): ProvisionResource {
  const { session, cluster, profileName } = o;
  return {
    kind: 'iam-instance-profile', label: n.profileLabel, dependsOn: [],
    observe: async ({ signal }) => {
      const found = await getProfile(o, n, signal);
      if (found === undefined) return { state: 'absent' };
      if (!ownedBy(found.Tags, cluster)) return { state: 'foreign', reason: `an IAM instance profile named ${profileName} exists without the tag ${OWNER_TAG}=${cluster}`, fix: foreignFix('instance profile', profileName) };
      return { state: 'owned', changes: [] };
    },
    create: async ({ signal }) => {
      await session.call('iam:CreateInstanceProfile', n.profileArn, (abortSignal) => session.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: profileName, Tags: ownershipTags(cluster) }), { abortSignal }), { signal });
    },
    update: noUpdate,
    observeRemoval: async ({ signal }): Promise<ObservedResource> => {
      const found = await getProfile(o, n, signal);
      if (found === undefined) return { state: 'absent' };
      if (!ownedBy(found.Tags, cluster)) return { state: 'foreign', reason: notMadeByUp('IAM instance profile', profileName, cluster), fix: 'down never deletes it' };
      return { state: 'owned', changes: [] };
    },
    remove: async ({ signal }) => {
      await session.call('iam:DeleteInstanceProfile', n.profileArn, (abortSignal) => session.iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: profileName }), { abortSignal }), { signal }).then(() => undefined, goneIsDone);
    },
  };
}

function memberResource(o: IamResourceOptions, n: Names): ProvisionResource {
  const { session, roleName, profileName } = o;
  return {
    kind: 'iam-profile-role', label: `role ${roleName} in instance profile ${profileName}`, dependsOn: [n.roleLabel, n.profileLabel],
    observe: async ({ signal }) => {
      const roles = (await getProfile(o, n, signal))?.Roles ?? [];
      if (roles.some((r) => r.RoleName === roleName)) return { state: 'owned', changes: [] };
      if (roles.length === 0) return { state: 'absent' };
      const other = roles.map((r) => r.RoleName ?? '?').join(', ');
      return { state: 'foreign', reason: `instance profile ${profileName} holds role ${other} (a profile holds one role)`, fix: `remove it (aws iam remove-role-from-instance-profile --instance-profile-name ${profileName} --role-name ${other}); up then adds ${roleName}` };
    },
    create: async ({ signal }) => {
      await session.call('iam:AddRoleToInstanceProfile', n.profileArn, (abortSignal) => session.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: profileName, RoleName: roleName }), { abortSignal }), { signal });
    },
    update: noUpdate,
    // Up's only when both the profile and the role are this cluster's; anything else in the
    // profile is someone else's (and keeps the profile: DeleteInstanceProfile would refuse).
    observeRemoval: async ({ signal }): Promise<ObservedResource> => {
      const profile = await getProfile(o, n, signal);
      const roles = (profile?.Roles ?? []).map((r) => r.RoleName ?? '?');
      if (profile === undefined || roles.length === 0) return { state: 'absent' };
      if (!ownedBy(profile.Tags, o.cluster)) return roles.includes(roleName) ? { state: 'foreign', reason: `${notMadeByUp('IAM instance profile', profileName, o.cluster)}, so the roles in it are its owner's`, fix: 'down never changes it' } : { state: 'absent' };
      if (!roles.includes(roleName)) return { state: 'foreign', reason: `instance profile ${profileName} holds role ${roles.join(', ')}, which up did not put there`, fix: `remove it (aws iam remove-role-from-instance-profile --instance-profile-name ${profileName} --role-name ${roles.join(',')}) and run down again` };
      const role = await getRole(o, n, signal);
      if (role !== undefined && !ownedBy(role.Tags, o.cluster)) return { state: 'foreign', reason: `${notMadeByUp('IAM role', roleName, o.cluster)}, so its place in instance profile ${profileName} is not up's either`, fix: 'down never changes it' };
      return { state: 'owned', changes: [] };
    },
    remove: async ({ signal }) => {
      await session.call('iam:RemoveRoleFromInstanceProfile', n.profileArn, (abortSignal) => session.iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: profileName, RoleName: roleName }), { abortSignal }), { signal }).then(() => undefined, goneIsDone);
    },
  };
}
