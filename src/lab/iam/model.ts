/**
 * The lab's IAM: roles with trust and inline policies, instance profiles, tags. Plain data kept in
 * the cloud's World (so the state file, the restart and the consistency history carry it), with
 * methods that enforce IAM's rules and answer its errors; no I/O.
 *
 * Rules follow the IAM API reference (https://docs.aws.amazon.com/IAM/latest/APIReference/):
 * names unique case-insensitively, a role deletable only without inline policies and outside every
 * instance profile, an instance profile holding at most one role, at most 50 tags, inline policies
 * of a role at most 10,240 characters together, a trust policy at most 2,048.
 */
import { randomBytes } from 'node:crypto';
import type { PolicyDocument } from '../ec2/policy.js';
import { iamErrors } from './errors.js';
import { parsePolicyDocument } from './policy-document.js';

export interface IamTag { readonly Key: string; readonly Value: string }

export interface IamRoleData {
  readonly roleName: string; readonly roleId: string; readonly path: string; readonly createDate: number;
  assumeRolePolicyDocument: string; description: string | null; maxSessionDuration: number;
  tags: IamTag[];
  /** Inline policies by name, as the JSON text given. */
  policies: Record<string, string>;
}

export interface InstanceProfileData {
  readonly instanceProfileName: string; readonly instanceProfileId: string; readonly path: string; readonly createDate: number;
  roleNames: string[];
  tags: IamTag[];
}

/** The part of the cloud's World IAM keeps. */
export interface IamStore {
  roles: Record<string, IamRoleData>;
  instanceProfiles: Record<string, InstanceProfileData>;
}

/** An instance role's trust policy: EC2 may assume it (what the console writes for an EC2 role). */
export const EC2_TRUST_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

const NAME_PATTERN = /^[\w+=,.@-]+$/;
const PATH_PATTERN = /^(\/|\/[\u0021-\u007E]+\/)$/;
const TAG_KEY_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u;
const MAX_TAGS = 50;
const MAX_INLINE_POLICY_CHARS = 10_240;
const MAX_TRUST_POLICY_CHARS = 2_048;

/** IAM's unique ids: a type prefix and 17 upper-case letters and digits. */
function uniqueId(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return prefix + [...randomBytes(17)].map((b) => alphabet[b % 32]).join('');
}

/** `Value 'x' at 'roleName' failed to satisfy constraint: ...`, IAM's ValidationError wording. */
function checkName(field: string, value: string, max: number): void {
  if (value.length < 1 || value.length > max) {
    throw iamErrors.validation(`Value '${value}' at '${field}' failed to satisfy constraint: Member must have length between 1 and ${max}`);
  }
  if (!NAME_PATTERN.test(value)) {
    throw iamErrors.validation(`Value '${value}' at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`);
  }
}

function checkPath(path: string): void {
  if (path.length > 512 || !PATH_PATTERN.test(path)) {
    throw iamErrors.validation(`Value '${path}' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)`);
  }
}

/** New tags merged over old ones (a key given again replaces its value), checked as IAM checks them. */
function mergeTags(current: readonly IamTag[], added: readonly IamTag[]): IamTag[] {
  const seen = new Set<string>();
  for (const tag of added) {
    if (tag.Key.length < 1 || tag.Key.length > 128 || !TAG_KEY_PATTERN.test(tag.Key)) {
      throw iamErrors.validation(`Value '${tag.Key}' at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128 and satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+`);
    }
    if (tag.Value.length > 256) throw iamErrors.validation(`Value '${tag.Value}' at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256`);
    if (seen.has(tag.Key.toLowerCase())) throw iamErrors.invalidInput('Duplicate tag keys found. Please note that Tag keys are case insensitive.');
    seen.add(tag.Key.toLowerCase());
  }
  const merged = current.filter((t) => !seen.has(t.Key.toLowerCase()));
  merged.push(...added.map((t) => ({ Key: t.Key, Value: t.Value })));
  if (merged.length > MAX_TAGS) throw iamErrors.limitExceeded(`The number of tags has reached the maximum limit of ${MAX_TAGS}.`);
  return merged;
}

/**
 * IAM over the cloud's store. Every method checks everything before it changes anything, so a
 * rejected call changes nothing.
 */
export class LabIam {
  constructor(private readonly options: {
    readonly store: () => IamStore;
    /** Record the change (snapshot history, persistence). */
    readonly commit: () => void;
    readonly clock: () => number;
    readonly accountId: string;
  }) {}

  private get store(): IamStore {
    return this.options.store();
  }

  roleArn(role: Pick<IamRoleData, 'path' | 'roleName'>): string {
    return `arn:aws:iam::${this.options.accountId}:role${role.path}${role.roleName}`;
  }

  instanceProfileArn(profile: Pick<InstanceProfileData, 'path' | 'instanceProfileName'>): string {
    return `arn:aws:iam::${this.options.accountId}:instance-profile${profile.path}${profile.instanceProfileName}`;
  }

  // ---- roles -------------------------------------------------------------------------------------

  createRole(options: {
    roleName: string; assumeRolePolicyDocument: string; path?: string; description?: string; maxSessionDuration?: number; tags?: readonly IamTag[];
  }): IamRoleData {
    checkName('roleName', options.roleName, 64);
    const path = options.path ?? '/';
    checkPath(path);
    if (options.description !== undefined && options.description.length > 1000) {
      throw iamErrors.validation(`Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000`);
    }
    const maxSessionDuration = options.maxSessionDuration ?? 3600;
    if (!Number.isInteger(maxSessionDuration) || maxSessionDuration < 3600 || maxSessionDuration > 43_200) {
      throw iamErrors.validation(`Value '${maxSessionDuration}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200`);
    }
    if (options.assumeRolePolicyDocument.length > MAX_TRUST_POLICY_CHARS) {
      throw iamErrors.limitExceeded(`Cannot exceed quota for ACLSizePerRole: ${MAX_TRUST_POLICY_CHARS}`);
    }
    parsePolicyDocument(options.assumeRolePolicyDocument, { kind: 'trust' });
    const tags = mergeTags([], options.tags ?? []);
    const clash = Object.keys(this.store.roles).find((n) => n.toLowerCase() === options.roleName.toLowerCase());
    if (clash !== undefined) throw iamErrors.entityAlreadyExists(`Role with name ${options.roleName} already exists.`);
    const role: IamRoleData = {
      roleName: options.roleName, roleId: uniqueId('AROA'), path, createDate: this.options.clock(),
      assumeRolePolicyDocument: options.assumeRolePolicyDocument, description: options.description ?? null, maxSessionDuration,
      tags, policies: {},
    };
    this.store.roles[role.roleName] = role;
    this.options.commit();
    return role;
  }

  /** @throws NoSuchEntity */
  getRole(roleName: string): IamRoleData {
    checkName('roleName', roleName, 64);
    const role = this.store.roles[roleName];
    if (role === undefined) throw iamErrors.noSuchEntity(`The role with name ${roleName} cannot be found.`);
    return role;
  }

  /** @throws NoSuchEntity, DeleteConflict (inline policies left, or still in an instance profile) */
  deleteRole(roleName: string): void {
    const role = this.getRole(roleName);
    if (Object.keys(role.policies).length > 0) throw iamErrors.deleteConflict('Cannot delete entity, must delete policies first.');
    if (Object.values(this.store.instanceProfiles).some((p) => p.roleNames.includes(roleName))) {
      throw iamErrors.deleteConflict('Cannot delete entity, must remove roles from instance profile first.');
    }
    delete this.store.roles[roleName];
    this.options.commit();
  }

  putRolePolicy(options: { roleName: string; policyName: string; policyDocument: string }): void {
    checkName('policyName', options.policyName, 128);
    const role = this.getRole(options.roleName);
    parsePolicyDocument(options.policyDocument, { kind: 'identity' });
    const total = Object.entries(role.policies).filter(([name]) => name !== options.policyName).reduce((n, [, text]) => n + text.length, 0)
      + options.policyDocument.length;
    if (total > MAX_INLINE_POLICY_CHARS) {
      throw iamErrors.limitExceeded(`Maximum policy size of ${MAX_INLINE_POLICY_CHARS} bytes exceeded for role ${role.roleName}`);
    }
    role.policies[options.policyName] = options.policyDocument;
    this.options.commit();
  }

  getRolePolicy(options: { roleName: string; policyName: string }): string {
    checkName('policyName', options.policyName, 128);
    const role = this.getRole(options.roleName);
    const text = role.policies[options.policyName];
    if (text === undefined) throw iamErrors.noSuchEntity(`The role policy with name ${options.policyName} cannot be found.`);
    return text;
  }

  deleteRolePolicy(options: { roleName: string; policyName: string }): void {
    this.getRolePolicy(options);
    delete this.store.roles[options.roleName]!.policies[options.policyName];
    this.options.commit();
  }

  listRolePolicies(roleName: string): string[] {
    return Object.keys(this.getRole(roleName).policies).sort();
  }

  tagRole(options: { roleName: string; tags: readonly IamTag[] }): void {
    const role = this.getRole(options.roleName);
    role.tags = mergeTags(role.tags, options.tags);
    this.options.commit();
  }

  untagRole(options: { roleName: string; tagKeys: readonly string[] }): void {
    const role = this.getRole(options.roleName);
    const drop = new Set(options.tagKeys.map((k) => k.toLowerCase()));
    role.tags = role.tags.filter((t) => !drop.has(t.Key.toLowerCase()));
    this.options.commit();
  }

  /**
   * The role's inline policies as one document for the evaluator (an explicit Deny in any of them
   * still wins), or undefined when the role is gone.
   */
  effectivePolicy(roleName: string): PolicyDocument | undefined {
    const role = this.store.roles[roleName];
    if (role === undefined) return undefined;
    return { Statement: Object.values(role.policies).flatMap((text) => parsePolicyDocument(text, { kind: 'identity' }).Statement) };
  }

  // ---- instance profiles -------------------------------------------------------------------------

  createInstanceProfile(options: { instanceProfileName: string; path?: string; tags?: readonly IamTag[] }): InstanceProfileData {
    checkName('instanceProfileName', options.instanceProfileName, 128);
    const path = options.path ?? '/';
    checkPath(path);
    const tags = mergeTags([], options.tags ?? []);
    const clash = Object.keys(this.store.instanceProfiles).find((n) => n.toLowerCase() === options.instanceProfileName.toLowerCase());
    if (clash !== undefined) throw iamErrors.entityAlreadyExists(`Instance Profile ${options.instanceProfileName} already exists.`);
    const profile: InstanceProfileData = {
      instanceProfileName: options.instanceProfileName, instanceProfileId: uniqueId('AIPA'), path, createDate: this.options.clock(), roleNames: [], tags,
    };
    this.store.instanceProfiles[profile.instanceProfileName] = profile;
    this.options.commit();
    return profile;
  }

  /** @throws NoSuchEntity */
  getInstanceProfile(instanceProfileName: string): InstanceProfileData {
    checkName('instanceProfileName', instanceProfileName, 128);
    const profile = this.store.instanceProfiles[instanceProfileName];
    if (profile === undefined) throw iamErrors.noSuchEntity(`Instance Profile ${instanceProfileName} cannot be found.`);
    return profile;
  }

  /** @throws NoSuchEntity, DeleteConflict (a role still in it) */
  deleteInstanceProfile(instanceProfileName: string): void {
    const profile = this.getInstanceProfile(instanceProfileName);
    if (profile.roleNames.length > 0) throw iamErrors.deleteConflict('Cannot delete entity, must remove roles from instance profile first.');
    delete this.store.instanceProfiles[instanceProfileName];
    this.options.commit();
  }

  /** @throws NoSuchEntity, LimitExceeded (an instance profile holds one role) */
  addRoleToInstanceProfile(options: { instanceProfileName: string; roleName: string }): void {
    const profile = this.getInstanceProfile(options.instanceProfileName);
    this.getRole(options.roleName);
    if (profile.roleNames.length > 0) throw iamErrors.limitExceeded('Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1');
    profile.roleNames.push(options.roleName);
    this.options.commit();
  }

  /** @throws NoSuchEntity (the profile, the role, or the role not in the profile) */
  removeRoleFromInstanceProfile(options: { instanceProfileName: string; roleName: string }): void {
    const profile = this.getInstanceProfile(options.instanceProfileName);
    this.getRole(options.roleName);
    if (!profile.roleNames.includes(options.roleName)) {
      throw iamErrors.noSuchEntity(`The role with name ${options.roleName} cannot be found in instance profile ${options.instanceProfileName}.`);
    }
    profile.roleNames = profile.roleNames.filter((n) => n !== options.roleName);
    this.options.commit();
  }

  /** Every role whose path starts with `pathPrefix`, by name (ListRoles). */
  listRoles(pathPrefix = '/'): IamRoleData[] {
    return Object.values(this.store.roles).filter((r) => r.path.startsWith(pathPrefix)).sort((a, b) => a.roleName.localeCompare(b.roleName));
  }

  /** Every instance profile whose path starts with `pathPrefix`, by name (ListInstanceProfiles). */
  listInstanceProfiles(pathPrefix = '/'): InstanceProfileData[] {
    return Object.values(this.store.instanceProfiles).filter((p) => p.path.startsWith(pathPrefix)).sort((a, b) => a.instanceProfileName.localeCompare(b.instanceProfileName));
  }

  listInstanceProfilesForRole(roleName: string): InstanceProfileData[] {
    this.getRole(roleName);
    return Object.values(this.store.instanceProfiles).filter((p) => p.roleNames.includes(roleName))
      .sort((a, b) => a.instanceProfileName.localeCompare(b.instanceProfileName));
  }

  tagInstanceProfile(options: { instanceProfileName: string; tags: readonly IamTag[] }): void {
    const profile = this.getInstanceProfile(options.instanceProfileName);
    profile.tags = mergeTags(profile.tags, options.tags);
    this.options.commit();
  }

  untagInstanceProfile(options: { instanceProfileName: string; tagKeys: readonly string[] }): void {
    const profile = this.getInstanceProfile(options.instanceProfileName);
    const drop = new Set(options.tagKeys.map((k) => k.toLowerCase()));
    profile.tags = profile.tags.filter((t) => !drop.has(t.Key.toLowerCase()));
    this.options.commit();
  }
}
