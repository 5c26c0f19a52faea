/**
 * The IAM side of `overlay-lb up`: the nodes' role (trusting EC2 only), its one inline policy
 * (lbNodePolicy, the one policy source), the instance profile and the role in it. Role and profile
 * carry the ownership tag from their creation (CreateRole/CreateInstanceProfile `Tags`), so a
 * run killed between two calls never leaves an untagged resource behind; the inline policy and
 * the profile's role belong to their (owned) role and profile.
 */
import {
  AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand, PutRolePolicyCommand,
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
      const found = await session.call('iam:GetRole', n.roleArn, (abortSignal) => session.iam.send(new GetRoleCommand({ RoleName: roleName }), { abortSignal }), { signal })
        .then((r) => r.Role, (err: unknown) => {
          if (isAwsError(err, 'NoSuchEntity')) return undefined;
          throw err;
        });
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
  };
}
