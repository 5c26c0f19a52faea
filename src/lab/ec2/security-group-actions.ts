/**
 * The EC2 security-group actions the lab serves (parameters in, the model called, XML out; no
 * I/O): CreateSecurityGroup, DeleteSecurityGroup, Authorize/RevokeSecurityGroupIngress/Egress,
 * DescribeSecurityGroups, DescribeSecurityGroupRules. ModifyNetworkInterfaceAttribute's `Groups`
 * is in actions.ts with the rest of that action. docs/lab-ec2-api.md lists parameters and differences.
 */
import { Ec2ApiError, ec2Errors } from './errors.js';
import { inVpc, type ActionContext, type ActionHandler } from './action-context.js';
import { applyFilters, paginate, type FilterFields, type QueryParams } from './query.js';
import {
  parseRuleSpecs, revokedRuleXml, securityGroupErrors, securityGroupRuleXml, securityGroupXml,
  type RuleDirection, type SecurityGroupData, type SecurityGroupRuleData, type SecurityGroupRuleSpec,
} from './security-groups.js';
import { lookupGroup, type LabCloud, type World } from './state.js';
import { itemSet } from './xml.js';

/**
 * Tags of one resource type from `TagSpecification.N.ResourceType` / `.Tag.M.Key|Value`; a
 * specification for another type is InvalidParameterValue, as EC2 answers.
 */
export function tagsFromSpecifications(params: QueryParams, resourceType: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const spec of params.structs('TagSpecification')) {
    const type = spec['ResourceType'];
    if (type !== resourceType) {
      throw ec2Errors.invalidParameterValue(`'${type ?? ''}' is not a valid taggable resource type for this operation. Allowed: ${resourceType}.`);
    }
    const byIndex = new Map<number, { key?: string; value?: string }>();
    for (const [k, v] of Object.entries(spec)) {
      const m = /^Tag\.(\d+)\.(Key|Value)$/.exec(k);
      if (m === null) continue;
      const entry = byIndex.get(Number(m[1])) ?? {};
      if (m[2] === 'Key') entry.key = v;
      else entry.value = v;
      byIndex.set(Number(m[1]), entry);
    }
    for (const { key, value } of byIndex.values()) {
      if (key === undefined) throw ec2Errors.missingParameter('tagSpecification.tag.key');
      tags[key] = value ?? '';
    }
  }
  return tags;
}

const renderContext = (cloud: LabCloud, world: Readonly<World>): Parameters<typeof securityGroupXml>[0] => ({
  accountId: cloud.accountId, arn: (type, id) => cloud.arn(type, id), groups: world.securityGroups,
});

/** The group a call names by `GroupId` (or, where EC2 allows it, `GroupName`). */
function targetGroup(ctx: ActionContext, options: { allowName: boolean }): SecurityGroupData {
  const world = ctx.cloud.view() as World;
  const groupId = ctx.params.get('GroupId');
  const groupName = ctx.params.get('GroupName');
  if (groupId !== undefined && groupId !== '') return lookupGroup(world, groupId);
  if (options.allowName && groupName !== undefined && groupName !== '') return groupByName(world, groupName);
  throw ec2Errors.missingParameter('groupId');
}

function groupByName(world: Readonly<World>, name: string): SecurityGroupData {
  const found = Object.values(world.securityGroups).filter((g) => g.groupName === name);
  if (found.length === 0) throw new Ec2ApiError({ code: 'InvalidGroup.NotFound', message: `The security group '${name}' does not exist` });
  if (found.length > 1) {
    throw ec2Errors.invalidParameterValue(`The security group name '${name}' is used in several VPCs (${found.map((g) => g.vpcId).join(', ')}); name the group by its id (GroupId).`);
  }
  return found[0]!;
}

/** Rule specs with group peers named by name resolved to ids (in the target group's VPC). */
function ruleSpecs(ctx: ActionContext, group: SecurityGroupData): SecurityGroupRuleSpec[] {
  const world = ctx.cloud.view() as World;
  return parseRuleSpecs(ctx.params).specs.map(({ groupName, ...spec }) => {
    if (groupName === undefined) return spec;
    const peer = Object.values(world.securityGroups).find((g) => g.vpcId === group.vpcId && g.groupName === groupName);
    if (peer === undefined) throw new Ec2ApiError({ code: 'InvalidGroup.NotFound', message: `The security group '${groupName}' does not exist in VPC '${group.vpcId}'` });
    return { ...spec, groupId: peer.groupId };
  });
}

function authorizeHandler(direction: RuleDirection): ActionHandler {
  return {
    mutating: true,
    run: (ctx) => {
      const group = targetGroup(ctx, { allowName: direction === 'ingress' });
      const rules = ruleSpecs(ctx, group);
      if (rules.length === 0) throw ec2Errors.missingParameter('ipPermissions');
      const tags = tagsFromSpecifications(ctx.params, 'security-group-rule');
      ctx.authorize([inVpc(ctx.cloud, 'security-group', group.groupId, group.vpcId)]);
      const added = ctx.cloud.authorizeSecurityGroupRules({ groupId: group.groupId, direction, rules, tags });
      const rc = renderContext(ctx.cloud, ctx.cloud.view());
      return { return: true, securityGroupRuleSet: itemSet(added.map((r) => securityGroupRuleXml(rc, group, r, direction === 'egress'))) };
    },
  };
}

function revokeHandler(direction: RuleDirection): ActionHandler {
  return {
    mutating: true,
    run: (ctx) => {
      const group = targetGroup(ctx, { allowName: direction === 'ingress' });
      const rules = ruleSpecs(ctx, group);
      const ruleIds = ctx.params.list('SecurityGroupRuleId');
      if (rules.length === 0 && ruleIds.length === 0) throw ec2Errors.missingParameter('ipPermissions');
      ctx.authorize([inVpc(ctx.cloud, 'security-group', group.groupId, group.vpcId)]);
      const removed = ctx.cloud.revokeSecurityGroupRules({ groupId: group.groupId, direction, rules, ruleIds });
      // In a non-default VPC (every lab VPC) an unknown rule fails the call, so no unknownIpPermissionSet.
      return { return: true, revokedSecurityGroupRuleSet: itemSet(removed.map((r) => revokedRuleXml(group, r, direction === 'egress'))) };
    },
  };
}

const ruleValues = (rules: readonly SecurityGroupRuleData[], pick: (r: SecurityGroupRuleData) => string | undefined): (string | undefined)[] => rules.map(pick);
const port = (n: number | undefined): string | undefined => (n === undefined ? undefined : String(n));

const groupFields = (cloud: LabCloud, world: Readonly<World>): FilterFields<SecurityGroupData> => ({
  'group-id': (g) => [g.groupId], 'group-name': (g) => [g.groupName], description: (g) => [g.description], 'vpc-id': (g) => [g.vpcId],
  'owner-id': () => [cloud.accountId],
  'ip-permission.protocol': (g) => ruleValues(g.ingress, (r) => r.protocol),
  'ip-permission.from-port': (g) => ruleValues(g.ingress, (r) => port(r.fromPort)),
  'ip-permission.to-port': (g) => ruleValues(g.ingress, (r) => port(r.toPort)),
  'ip-permission.cidr': (g) => ruleValues(g.ingress, (r) => r.cidr),
  'ip-permission.group-id': (g) => ruleValues(g.ingress, (r) => r.groupId),
  'ip-permission.group-name': (g) => ruleValues(g.ingress, (r) => (r.groupId === undefined ? undefined : world.securityGroups[r.groupId]?.groupName)),
  'ip-permission.user-id': (g) => ruleValues(g.ingress, (r) => (r.groupId === undefined ? undefined : cloud.accountId)),
  'egress.ip-permission.protocol': (g) => ruleValues(g.egress, (r) => r.protocol),
  'egress.ip-permission.from-port': (g) => ruleValues(g.egress, (r) => port(r.fromPort)),
  'egress.ip-permission.to-port': (g) => ruleValues(g.egress, (r) => port(r.toPort)),
  'egress.ip-permission.cidr': (g) => ruleValues(g.egress, (r) => r.cidr),
  'egress.ip-permission.group-id': (g) => ruleValues(g.egress, (r) => r.groupId),
  'egress.ip-permission.group-name': (g) => ruleValues(g.egress, (r) => (r.groupId === undefined ? undefined : world.securityGroups[r.groupId]?.groupName)),
  'egress.ip-permission.user-id': (g) => ruleValues(g.egress, (r) => (r.groupId === undefined ? undefined : cloud.accountId)),
});

interface RuleRow { readonly group: SecurityGroupData; readonly rule: SecurityGroupRuleData; readonly isEgress: boolean }

/** Every security-group action by name (merged into ACTIONS). */
export const SECURITY_GROUP_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  CreateSecurityGroup: {
    mutating: true,
    run: (ctx) => {
      const groupName = ctx.params.require('GroupName');
      const description = ctx.params.get('GroupDescription');
      if (description === undefined || description === '') throw ec2Errors.missingParameter('groupDescription');
      const vpcId = ctx.params.get('VpcId');
      if (vpcId === undefined || vpcId === '') {
        throw new Ec2ApiError({ code: 'VPCIdNotSpecified', message: 'No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.' });
      }
      const vpc = ctx.cloud.view().vpcs[vpcId];
      if (vpc === undefined) throw ec2Errors.notFound('InvalidVpcID.NotFound', 'vpc', vpcId);
      const tags = tagsFromSpecifications(ctx.params, 'security-group');
      ctx.authorize([inVpc(ctx.cloud, 'security-group', '*', vpc.vpcId), inVpc(ctx.cloud, 'vpc', vpc.vpcId, vpc.vpcId)]);
      const { groupId } = ctx.cloud.createSecurityGroup({ vpcId: vpc.vpcId, groupName, description, tags });
      return { return: true, groupId, securityGroupArn: ctx.cloud.arn('security-group', groupId), tagSet: itemSet(Object.entries(tags).map(([key, value]) => ({ key, value }))) };
    },
  },
  DeleteSecurityGroup: {
    mutating: true,
    run: (ctx) => {
      const group = targetGroup(ctx, { allowName: true });
      ctx.authorize([inVpc(ctx.cloud, 'security-group', group.groupId, group.vpcId)]);
      ctx.cloud.deleteSecurityGroup({ groupId: group.groupId });
      return { return: true, groupId: group.groupId };
    },
  },
  AuthorizeSecurityGroupIngress: authorizeHandler('ingress'),
  AuthorizeSecurityGroupEgress: authorizeHandler('egress'),
  RevokeSecurityGroupIngress: revokeHandler('ingress'),
  RevokeSecurityGroupEgress: revokeHandler('egress'),
  DescribeSecurityGroups: {
    mutating: false,
    run: (ctx) => {
      ctx.authorize([]);
      const ids = ctx.params.list('GroupId');
      const names = ctx.params.list('GroupName');
      if ((ids.length > 0 || names.length > 0) && ctx.params.get('MaxResults') !== undefined) {
        throw ec2Errors.invalidParameterCombination('The parameter groupIds or groupNames cannot be used with the parameter maxResults');
      }
      const world = ctx.view as World;
      let items: SecurityGroupData[];
      if (ids.length > 0 || names.length > 0) {
        const chosen = [...ids.map((id) => lookupGroup(world, id)), ...names.map((n) => groupByName(world, n))];
        items = [...new Set(chosen)];
      } else {
        items = Object.keys(world.securityGroups).sort().map((id) => world.securityGroups[id]!);
      }
      const filtered = applyFilters({ items, filters: ctx.params.filters(), fields: groupFields(ctx.cloud, world), tags: (g) => g.tags });
      const { page, nextToken } = paginate({ items: filtered, params: ctx.params, min: 5, max: 1000 });
      const rc = renderContext(ctx.cloud, world);
      return { securityGroupInfo: itemSet(page.map((g) => securityGroupXml(rc, g))), nextToken };
    },
  },
  DescribeSecurityGroupRules: {
    mutating: false,
    run: (ctx) => {
      ctx.authorize([]);
      const world = ctx.view as World;
      const rows: RuleRow[] = Object.keys(world.securityGroups).sort().flatMap((id) => {
        const group = world.securityGroups[id]!;
        return [...group.ingress.map((rule) => ({ group, rule, isEgress: false })), ...group.egress.map((rule) => ({ group, rule, isEgress: true }))];
      });
      const ids = ctx.params.list('SecurityGroupRuleId');
      if (ids.length > 0 && ctx.params.get('MaxResults') !== undefined) {
        throw ec2Errors.invalidParameterCombination('The parameter securityGroupRuleIds cannot be used with the parameter maxResults');
      }
      const selected = ids.length === 0 ? rows : ids.map((id) => {
        if (!/^sgr-[0-9a-f]{8,17}$/.test(id)) throw securityGroupErrors.ruleMalformed(id);
        const row = rows.find((r) => r.rule.ruleId === id);
        if (row === undefined) throw securityGroupErrors.ruleNotFound(id);
        return row;
      });
      const filtered = applyFilters({
        items: selected, filters: ctx.params.filters(), tags: (r) => r.rule.tags,
        fields: { 'group-id': (r) => [r.group.groupId], 'security-group-rule-id': (r) => [r.rule.ruleId] },
      });
      const { page, nextToken } = paginate({ items: filtered, params: ctx.params, min: 5, max: 1000 });
      const rc = renderContext(ctx.cloud, world);
      return { securityGroupRuleSet: itemSet(page.map((r) => securityGroupRuleXml(rc, r.group, r.rule, r.isEgress))), nextToken };
    },
  },
};
