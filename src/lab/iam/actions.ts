/**
 * The IAM actions the lab serves (Query protocol, version 2010-05-08): parameters in, the model
 * called, XML out, no I/O. Shapes follow the IAM API reference
 * (https://docs.aws.amazon.com/IAM/latest/APIReference/) and the SDK's service model; policy
 * documents go out URL-encoded, as IAM sends them. docs/lab-ec2-api.md lists what is supported.
 */
import type { QueryParams } from '../ec2/query.js';
import type { XmlNode } from '../ec2/xml.js';
import { iamErrors } from './errors.js';
import type { IamRoleData, IamTag, InstanceProfileData, LabIam } from './model.js';

export const IAM_XMLNS = 'https://iam.amazonaws.com/doc/2010-05-08/';

export interface IamActionContext {
  readonly iam: LabIam;
  readonly params: QueryParams;
  /** Check the caller's policy for `iam:<action>` on the resource ARN; throws AccessDenied. */
  readonly authorize: (resourceArn: string) => void;
  /** Who is calling, as STS names it. */
  readonly caller: { readonly arn: string; readonly userId: string; readonly account: string };
}

export interface IamActionHandler {
  readonly mutating: boolean;
  /** The Result element's content, or null for actions without output. */
  run(ctx: IamActionContext): XmlNode | null;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A required parameter; IAM's answer for a missing one is a ValidationError. */
function required(params: QueryParams, name: string): string {
  const value = params.get(name);
  if (value === undefined) throw iamErrors.validation(`Value null at '${name.charAt(0).toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`);
  return value;
}

function tagsParam(params: QueryParams): IamTag[] {
  return params.structs('Tags.member').map((t) => {
    if (t['Key'] === undefined) throw iamErrors.validation("Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null");
    if (t['Value'] === undefined) throw iamErrors.validation("Value null at 'tags.member.value' failed to satisfy constraint: Member must not be null");
    return { Key: t['Key'], Value: t['Value'] };
  });
}

function tagKeysParam(params: QueryParams): string[] {
  const keys = params.list('TagKeys.member');
  if (keys.length === 0) throw iamErrors.validation("Value null at 'tagKeys' failed to satisfy constraint: Member must not be null");
  if (keys.length > 50) throw iamErrors.validation("Value at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50");
  return keys;
}

/** Marker / MaxItems paging (MaxItems 1-1000, default 100); the marker is an opaque offset. */
function page<T>(items: readonly T[], params: QueryParams): { items: T[]; IsTruncated: boolean; Marker: string | undefined } {
  const maxText = params.get('MaxItems');
  const max = maxText === undefined ? 100 : Number(maxText);
  if (!Number.isInteger(max) || max < 1 || max > 1000) {
    throw iamErrors.validation(`Value '${maxText ?? ''}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000`);
  }
  const marker = params.get('Marker');
  let start = 0;
  if (marker !== undefined) {
    start = Number(Buffer.from(marker, 'base64url').toString('utf8').replace(/^lab:/, ''));
    if (!Number.isInteger(start) || start < 0) throw iamErrors.invalidInput(`Invalid Marker '${marker}'.`);
  }
  const next = start + max;
  const truncated = next < items.length;
  return { items: items.slice(start, next), IsTruncated: truncated, Marker: truncated ? Buffer.from(`lab:${next}`, 'utf8').toString('base64url') : undefined };
}

const tagsXml = (tags: readonly IamTag[]): XmlNode | undefined => (tags.length === 0 ? undefined : { member: tags.map((t) => ({ Key: t.Key, Value: t.Value })) });

function roleXml(iam: LabIam, role: IamRoleData, options: { lastUsed: boolean }): XmlNode {
  return {
    Path: role.path, RoleName: role.roleName, RoleId: role.roleId, Arn: iam.roleArn(role), CreateDate: iso(role.createDate),
    AssumeRolePolicyDocument: encodeURIComponent(role.assumeRolePolicyDocument), Description: role.description ?? undefined,
    MaxSessionDuration: role.maxSessionDuration, Tags: tagsXml(role.tags), RoleLastUsed: options.lastUsed ? {} : undefined,
  };
}

function profileXml(iam: LabIam, profile: InstanceProfileData): XmlNode {
  return {
    Path: profile.path, InstanceProfileName: profile.instanceProfileName, InstanceProfileId: profile.instanceProfileId,
    Arn: iam.instanceProfileArn(profile), CreateDate: iso(profile.createDate),
    Roles: { member: profile.roleNames.map((n) => roleXml(iam, iam.getRole(n), { lastUsed: false })) },
    Tags: tagsXml(profile.tags),
  };
}

/** The ARN an action is authorized on: the named role (its path when it exists, else `/`). */
function roleResource(iam: LabIam, roleName: string, path?: string): string {
  let rolePath = path ?? '/';
  try {
    rolePath = path ?? iam.getRole(roleName).path;
  } catch {
    // unknown or malformed: authorize on the plain name; the action answers NoSuchEntity / ValidationError after
  }
  return iam.roleArn({ path: rolePath, roleName });
}

function profileResource(iam: LabIam, name: string, path?: string): string {
  let profilePath = path ?? '/';
  try {
    profilePath = path ?? iam.getInstanceProfile(name).path;
  } catch {
    // as roleResource
  }
  return iam.instanceProfileArn({ path: profilePath, instanceProfileName: name });
}

export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/**
 * The STS actions the lab answers: GetCallerIdentity (no permission needed, as in AWS), so a
 * node's user-data or a test can ask whose credentials it holds.
 */
export const STS_ACTIONS: Readonly<Record<string, IamActionHandler>> = {
  GetCallerIdentity: {
    mutating: false,
    run: ({ caller }) => ({ UserId: caller.userId, Account: caller.account, Arn: caller.arn }),
  },
};

/** Every IAM action the lab answers, by name. */
export const IAM_ACTIONS: Readonly<Record<string, IamActionHandler>> = {
  CreateRole: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      const path = params.get('Path');
      authorize(roleResource(iam, roleName, path ?? '/'));
      const assumeRolePolicyDocument = required(params, 'AssumeRolePolicyDocument');
      if (params.get('PermissionsBoundary') !== undefined) throw iamErrors.invalidInput('The lab does not support permissions boundaries (PermissionsBoundary).');
      const description = params.get('Description');
      const duration = params.get('MaxSessionDuration');
      const role = iam.createRole({
        roleName, assumeRolePolicyDocument, tags: tagsParam(params),
        ...(path === undefined ? {} : { path }), ...(description === undefined ? {} : { description }),
        ...(duration === undefined ? {} : { maxSessionDuration: Number(duration) }),
      });
      return { Role: roleXml(iam, role, { lastUsed: false }) };
    },
  },
  GetRole: {
    mutating: false,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      return { Role: roleXml(iam, iam.getRole(roleName), { lastUsed: true }) };
    },
  },
  DeleteRole: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      iam.deleteRole(roleName);
      return null;
    },
  },
  PutRolePolicy: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      iam.putRolePolicy({ roleName, policyName: required(params, 'PolicyName'), policyDocument: required(params, 'PolicyDocument') });
      return null;
    },
  },
  GetRolePolicy: {
    mutating: false,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      const policyName = required(params, 'PolicyName');
      const text = iam.getRolePolicy({ roleName, policyName });
      return { RoleName: roleName, PolicyName: policyName, PolicyDocument: encodeURIComponent(text) };
    },
  },
  DeleteRolePolicy: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      iam.deleteRolePolicy({ roleName, policyName: required(params, 'PolicyName') });
      return null;
    },
  },
  // List actions have no resource-level permissions in IAM: authorized on `*`. As in IAM, the
  // listed roles and profiles carry no Tags and no RoleLastUsed (Get* has them).
  ListRoles: {
    mutating: false,
    run: ({ iam, params, authorize }) => {
      authorize('*');
      const { items, IsTruncated, Marker } = page(iam.listRoles(params.get('PathPrefix') ?? '/'), params);
      return { Roles: { member: items.map((r) => ({ ...roleXml(iam, r, { lastUsed: false }), Tags: undefined })) }, IsTruncated, Marker };
    },
  },
  ListInstanceProfiles: {
    mutating: false,
    run: ({ iam, params, authorize }) => {
      authorize('*');
      const { items, IsTruncated, Marker } = page(iam.listInstanceProfiles(params.get('PathPrefix') ?? '/'), params);
      return { InstanceProfiles: { member: items.map((p) => ({ ...profileXml(iam, p), Tags: undefined })) }, IsTruncated, Marker };
    },
  },
  ListRolePolicies: {
    mutating: false,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      const { items, IsTruncated, Marker } = page(iam.listRolePolicies(roleName), params);
      return { PolicyNames: { member: items }, IsTruncated, Marker };
    },
  },
  TagRole: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      const tags = tagsParam(params);
      if (tags.length === 0) throw iamErrors.validation("Value null at 'tags' failed to satisfy constraint: Member must not be null");
      iam.tagRole({ roleName, tags });
      return null;
    },
  },
  UntagRole: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      iam.untagRole({ roleName, tagKeys: tagKeysParam(params) });
      return null;
    },
  },
  ListRoleTags: {
    mutating: false,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      const { items, IsTruncated, Marker } = page(iam.getRole(roleName).tags, params);
      return { Tags: { member: items.map((t) => ({ Key: t.Key, Value: t.Value })) }, IsTruncated, Marker };
    },
  },
  CreateInstanceProfile: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const name = required(params, 'InstanceProfileName');
      const path = params.get('Path');
      authorize(profileResource(iam, name, path ?? '/'));
      const profile = iam.createInstanceProfile({ instanceProfileName: name, tags: tagsParam(params), ...(path === undefined ? {} : { path }) });
      return { InstanceProfile: profileXml(iam, profile) };
    },
  },
  GetInstanceProfile: {
    mutating: false,
    run: ({ iam, params, authorize }) => {
      const name = required(params, 'InstanceProfileName');
      authorize(profileResource(iam, name));
      return { InstanceProfile: profileXml(iam, iam.getInstanceProfile(name)) };
    },
  },
  DeleteInstanceProfile: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const name = required(params, 'InstanceProfileName');
      authorize(profileResource(iam, name));
      iam.deleteInstanceProfile(name);
      return null;
    },
  },
  AddRoleToInstanceProfile: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const name = required(params, 'InstanceProfileName');
      const roleName = required(params, 'RoleName');
      authorize(profileResource(iam, name));
      iam.addRoleToInstanceProfile({ instanceProfileName: name, roleName });
      return null;
    },
  },
  RemoveRoleFromInstanceProfile: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const name = required(params, 'InstanceProfileName');
      const roleName = required(params, 'RoleName');
      authorize(profileResource(iam, name));
      iam.removeRoleFromInstanceProfile({ instanceProfileName: name, roleName });
      return null;
    },
  },
  ListInstanceProfilesForRole: {
    mutating: false,
    run: ({ iam, params, authorize }) => {
      const roleName = required(params, 'RoleName');
      authorize(roleResource(iam, roleName));
      const { items, IsTruncated, Marker } = page(iam.listInstanceProfilesForRole(roleName), params);
      return { InstanceProfiles: { member: items.map((p) => profileXml(iam, p)) }, IsTruncated, Marker };
    },
  },
  TagInstanceProfile: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const name = required(params, 'InstanceProfileName');
      authorize(profileResource(iam, name));
      const tags = tagsParam(params);
      if (tags.length === 0) throw iamErrors.validation("Value null at 'tags' failed to satisfy constraint: Member must not be null");
      iam.tagInstanceProfile({ instanceProfileName: name, tags });
      return null;
    },
  },
  UntagInstanceProfile: {
    mutating: true,
    run: ({ iam, params, authorize }) => {
      const name = required(params, 'InstanceProfileName');
      authorize(profileResource(iam, name));
      iam.untagInstanceProfile({ instanceProfileName: name, tagKeys: tagKeysParam(params) });
      return null;
    },
  },
  ListInstanceProfileTags: {
    mutating: false,
    run: ({ iam, params, authorize }) => {
      const name = required(params, 'InstanceProfileName');
      authorize(profileResource(iam, name));
      const { items, IsTruncated, Marker } = page(iam.getInstanceProfile(name).tags, params);
      return { Tags: { member: items.map((t) => ({ Key: t.Key, Value: t.Value })) }, IsTruncated, Marker };
    },
  },
};
