/**
 * Security groups of the lab's cloud (pure): the data, the parsing of EC2's `IpPermissions`
 * parameters into normalized rules, the rule identity EC2 uses for duplicates and revokes, the XML
 * shapes of DescribeSecurityGroups / DescribeSecurityGroupRules, and the resolution of every ENI's
 * effective rules (security-group references expanded to the current private addresses of the
 * ENIs in the referenced group) that the kernel side enforces (src/lab/security-group-datapath.ts).
 *
 * Shapes and errors follow the EC2 API reference
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AuthorizeSecurityGroupIngress.html).
 */
import { Ec2ApiError, ec2Errors } from './errors.js';
import { parseCidr } from './cidr.js';
import type { QueryParams } from './query.js';
import { itemSet, tagSet, type XmlNode } from './xml.js';

/**
 * One rule: one protocol and port range with exactly one peer (a CIDR or a security group), as
 * EC2 stores it (one security group rule id per IpRange / UserIdGroupPair of an IpPermission).
 */
export interface SecurityGroupRuleData {
  readonly ruleId: string;
  /** `-1` (all), `tcp`, `udp`, `icmp`, or a protocol number as text (`112` for VRRP). */
  readonly protocol: string;
  /** TCP/UDP: first port; ICMP: the type (-1 any). Absent for `-1` and numbered protocols. */
  readonly fromPort?: number;
  /** TCP/UDP: last port; ICMP: the code (-1 any). */
  readonly toPort?: number;
  readonly cidr?: string;
  readonly groupId?: string;
  readonly description?: string;
  tags: Record<string, string>;
}

export interface SecurityGroupData {
  readonly groupId: string;
  readonly groupName: string;
  readonly description: string;
  readonly vpcId: string;
  ingress: SecurityGroupRuleData[];
  egress: SecurityGroupRuleData[];
  tags: Record<string, string>;
}

/** A rule as a request gives it (no id yet). */
export type SecurityGroupRuleSpec = Omit<SecurityGroupRuleData, 'ruleId' | 'tags'>;

export type RuleDirection = 'ingress' | 'egress';

/** EC2's limits: rules per group and direction, groups per network interface. */
export const SECURITY_GROUP_LIMITS = { rulesPerDirection: 60, groupsPerInterface: 5 } as const;

const PROTOCOL_NAMES: Readonly<Record<string, string>> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '-1': '-1', all: '-1' };

/** `tcp`/`6` -> `tcp`, `-1`/`all` -> `-1`, a number 0-255 stays a number. */
export function normalizeProtocol(text: string): string {
  const lower = text.toLowerCase();
  if (lower === 'tcp' || lower === 'udp' || lower === 'icmp') return lower;
  const named = PROTOCOL_NAMES[lower];
  if (named !== undefined) return named;
  if (/^(0|[1-9][0-9]{0,2})$/.test(lower) && Number(lower) <= 255) return lower;
  if (lower === 'icmpv6' || lower === '58') throw ec2Errors.invalidParameterValue('The lab models IPv4 only: icmpv6 rules are not supported.');
  throw ec2Errors.invalidParameterValue(`Invalid value '${text}' for IP protocol. Unknown protocol.`);
}

function portNumber(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^-?\d+$/.test(text)) throw ec2Errors.invalidParameterValue(`Invalid value '${text}' for ${name}. It must be an integer.`);
  return Number(text);
}

/** Ports as EC2 keeps them for a protocol: checked ranges for TCP/UDP/ICMP, none for the others. */
function normalizePorts(protocol: string, from: number | undefined, to: number | undefined): { fromPort?: number; toPort?: number } {
  if (protocol === 'tcp' || protocol === 'udp') {
    if (from === undefined || to === undefined) {
      throw ec2Errors.invalidParameterValue(`Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.`);
    }
    if (from < 0 || to > 65535 || from > to) {
      throw ec2Errors.invalidParameterValue(`Invalid ${protocol.toUpperCase()} port range: from port ${from}, to port ${to}. Ports must lie in 0-65535 with from <= to.`);
    }
    return { fromPort: from, toPort: to };
  }
  if (protocol === 'icmp') {
    const type = from ?? -1;
    const code = to ?? -1;
    if (type < -1 || type > 255 || code < -1 || code > 255 || (type === -1 && code !== -1)) {
      throw ec2Errors.invalidParameterValue(`Invalid value for ICMP type ${type} and code ${code}: each lies in -1 (any) to 255, and a code needs a type.`);
    }
    return { fromPort: type, toPort: code };
  }
  // -1 and numbered protocols allow every port, whatever range is given (EC2 drops it).
  return {};
}

/**
 * The rules of a request: `IpPermissions.N.*` (what the SDK and `--ip-permissions` send) or the
 * legacy top-level `IpProtocol`/`FromPort`/`ToPort`/`CidrIp`/`SourceSecurityGroupName`. Group
 * peers are returned by id or name; the caller resolves names.
 */
export function parseRuleSpecs(params: QueryParams): { specs: (SecurityGroupRuleSpec & { groupName?: string })[] } {
  const specs: (SecurityGroupRuleSpec & { groupName?: string })[] = [];
  const permissions = params.structs('IpPermissions');
  for (const p of permissions) {
    const protocolText = p['IpProtocol'];
    if (protocolText === undefined || protocolText === '') throw ec2Errors.missingParameter('ipPermissions.ipProtocol');
    const protocol = normalizeProtocol(protocolText);
    const ports = normalizePorts(protocol, portNumber(p['FromPort'], 'FromPort'), portNumber(p['ToPort'], 'ToPort'));
    const ranges = collect(p, 'IpRanges');
    const groups = collect(p, 'Groups');
    for (const key of Object.keys(p)) {
      if (/^(Ipv6Ranges|PrefixListIds)\./.test(key)) throw ec2Errors.invalidParameterValue('The lab models IPv4 CIDR and security-group peers only (no Ipv6Ranges or PrefixListIds).');
    }
    if (ranges.length === 0 && groups.length === 0) {
      throw ec2Errors.missingParameter('ipPermissions (a source or destination: IpRanges or UserIdGroupPairs)');
    }
    for (const r of ranges) {
      const cidr = r['CidrIp'];
      if (cidr === undefined) throw ec2Errors.missingParameter('ipPermissions.ipRanges.cidrIp');
      specs.push({ protocol, ...ports, cidr: checkCidr(cidr), ...description(r) });
    }
    for (const g of groups) {
      const groupId = g['GroupId'];
      const groupName = g['GroupName'];
      if (groupId === undefined && groupName === undefined) throw ec2Errors.missingParameter('ipPermissions.groups.groupId');
      specs.push({ protocol, ...ports, ...(groupId === undefined ? { groupName: groupName! } : { groupId }), ...description(g) });
    }
  }
  const legacyProtocol = params.get('IpProtocol');
  const legacyCidr = params.get('CidrIp');
  const legacyGroup = params.get('SourceSecurityGroupName');
  if (legacyProtocol !== undefined || legacyCidr !== undefined || legacyGroup !== undefined) {
    if (permissions.length > 0) throw ec2Errors.invalidParameterCombination('The parameter IpPermissions cannot be used with the parameters IpProtocol, CidrIp, FromPort, ToPort or SourceSecurityGroupName.');
    if (legacyGroup !== undefined) {
      // EC2 takes SourceSecurityGroupName as "all traffic from that group" (EC2-Classic style).
      if (legacyProtocol !== undefined || legacyCidr !== undefined) {
        throw ec2Errors.invalidParameterCombination('The parameter SourceSecurityGroupName cannot be used with the parameters IpProtocol, CidrIp, FromPort or ToPort.');
      }
      specs.push({ protocol: '-1', groupName: legacyGroup });
    } else {
      if (legacyProtocol === undefined) throw ec2Errors.missingParameter('ipProtocol');
      if (legacyCidr === undefined) throw ec2Errors.missingParameter('cidrIp');
      const protocol = normalizeProtocol(legacyProtocol);
      specs.push({ protocol, ...normalizePorts(protocol, portNumber(params.get('FromPort'), 'FromPort'), portNumber(params.get('ToPort'), 'ToPort')), cidr: checkCidr(legacyCidr) });
    }
  }
  return { specs };
}

function collect(record: Record<string, string>, name: string): Record<string, string>[] {
  const byIndex = new Map<number, Record<string, string>>();
  for (const [key, value] of Object.entries(record)) {
    const m = new RegExp(`^${name}\\.(\\d+)\\.(.+)$`).exec(key);
    if (m === null) continue;
    const entry = byIndex.get(Number(m[1])) ?? {};
    entry[m[2]!] = value;
    byIndex.set(Number(m[1]), entry);
  }
  return [...byIndex.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
}

function description(record: Record<string, string>): { description?: string } {
  const text = record['Description'];
  if (text === undefined) return {};
  if (text.length > 255) throw ec2Errors.invalidParameterValue(`Invalid rule description: it has ${text.length} characters; at most 255 are allowed.`);
  return { description: text };
}

function checkCidr(text: string): string {
  if (parseCidr(text) === undefined) throw ec2Errors.invalidParameterValue(`CIDR block ${text} is malformed`);
  return text;
}

/** The identity EC2 matches rules by (protocol, ports, peer); descriptions do not count. */
export function ruleKey(rule: SecurityGroupRuleSpec): string {
  return JSON.stringify([rule.protocol, rule.fromPort ?? null, rule.toPort ?? null, rule.cidr ?? null, rule.groupId ?? null]);
}

/** How EC2 names a rule in InvalidPermission.Duplicate. */
export function describeRule(rule: SecurityGroupRuleSpec): string {
  const proto = rule.protocol === '-1' ? 'ALL' : rule.protocol.toUpperCase();
  const ports = rule.fromPort === undefined ? '' : `, from port: ${rule.fromPort}, to port: ${rule.toPort ?? rule.fromPort}`;
  return `peer: ${rule.cidr ?? rule.groupId ?? ''}, ${proto}${ports}, ALLOW`;
}

export const securityGroupErrors = {
  notFound: (id: string): Ec2ApiError => new Ec2ApiError({ code: 'InvalidGroup.NotFound', message: `The security group '${id}' does not exist` }),
  malformed: (id: string): Ec2ApiError => new Ec2ApiError({ code: 'InvalidGroupId.Malformed', message: `Invalid id: "${id}" (expecting "sg-...")` }),
  ruleNotFound: (id: string): Ec2ApiError =>
    new Ec2ApiError({ code: 'InvalidSecurityGroupRuleId.NotFound', message: `The security group rule ID '${id}' does not exist` }),
  ruleMalformed: (id: string): Ec2ApiError =>
    new Ec2ApiError({ code: 'InvalidSecurityGroupRuleId.Malformed', message: `Invalid id: "${id}" (expecting "sgr-...")` }),
};

// ---- rendering ----------------------------------------------------------------------------------

interface RenderContext {
  readonly accountId: string;
  readonly arn: (type: string, id: string) => string;
  readonly groups: Readonly<Record<string, SecurityGroupData>>;
}

/** `ipPermissions` / `ipPermissionsEgress`: rules grouped by protocol and ports, as EC2 shows them. */
function permissionsXml(ctx: RenderContext, rules: readonly SecurityGroupRuleData[]): XmlNode {
  const byKey = new Map<string, SecurityGroupRuleData[]>();
  for (const rule of rules) {
    const key = JSON.stringify([rule.protocol, rule.fromPort ?? null, rule.toPort ?? null]);
    byKey.set(key, [...(byKey.get(key) ?? []), rule]);
  }
  return itemSet([...byKey.values()].map((group) => {
    const first = group[0]!;
    return {
      ipProtocol: first.protocol, fromPort: first.fromPort, toPort: first.toPort,
      groups: itemSet(group.filter((r) => r.groupId !== undefined).map((r) => ({
        description: r.description, userId: ctx.accountId, groupId: r.groupId, vpcId: ctx.groups[r.groupId!]?.vpcId,
      }))),
      ipRanges: itemSet(group.filter((r) => r.cidr !== undefined).map((r) => ({ cidrIp: r.cidr, description: r.description }))),
      ipv6Ranges: itemSet([]), prefixListIds: itemSet([]),
    };
  }));
}

/** One `SecurityGroup` of DescribeSecurityGroups. */
export function securityGroupXml(ctx: RenderContext, g: SecurityGroupData): XmlNode {
  return {
    ownerId: ctx.accountId, groupId: g.groupId, groupName: g.groupName, groupDescription: g.description,
    ipPermissions: permissionsXml(ctx, g.ingress), ipPermissionsEgress: permissionsXml(ctx, g.egress),
    vpcId: g.vpcId, securityGroupArn: ctx.arn('security-group', g.groupId), tagSet: tagSet(g.tags),
  };
}

/** One `SecurityGroupRule` (DescribeSecurityGroupRules, the Authorize answers). */
export function securityGroupRuleXml(ctx: RenderContext, g: SecurityGroupData, rule: SecurityGroupRuleData, isEgress: boolean): XmlNode {
  return {
    securityGroupRuleId: rule.ruleId, groupId: g.groupId, groupOwnerId: ctx.accountId, isEgress,
    ipProtocol: rule.protocol, fromPort: rule.fromPort ?? -1, toPort: rule.toPort ?? -1, cidrIpv4: rule.cidr,
    referencedGroupInfo: rule.groupId === undefined ? undefined : { groupId: rule.groupId, userId: ctx.accountId, vpcId: ctx.groups[rule.groupId]?.vpcId },
    description: rule.description, tagSet: tagSet(rule.tags), securityGroupRuleArn: ctx.arn('security-group-rule', rule.ruleId),
  };
}

/** One `RevokedSecurityGroupRule` of the Revoke answers. */
export function revokedRuleXml(g: SecurityGroupData, rule: SecurityGroupRuleData, isEgress: boolean): XmlNode {
  return {
    securityGroupRuleId: rule.ruleId, groupId: g.groupId, isEgress, ipProtocol: rule.protocol,
    fromPort: rule.fromPort ?? -1, toPort: rule.toPort ?? -1, cidrIpv4: rule.cidr, referencedGroupId: rule.groupId, description: rule.description,
  };
}

// ---- the data path's view -------------------------------------------------------------------------

/** A rule of one ENI with its peers resolved to CIDRs (`a.b.c.d/32` for group members). */
export interface ResolvedRule {
  readonly protocol: string;
  readonly fromPort?: number;
  readonly toPort?: number;
  readonly peers: readonly string[];
}

/** What the kernel enforces at one ENI. */
export interface EniFirewall {
  readonly networkInterfaceId: string;
  readonly subnetId: string;
  readonly privateIp: string;
  readonly mac: string;
  /** The union of the rules of the ENI's groups (EC2 evaluates all of them: any allow wins). */
  readonly ingress: readonly ResolvedRule[];
  readonly egress: readonly ResolvedRule[];
}

/**
 * Every filtered ENI's rules from the world: the union of its groups' rules, with each
 * security-group peer replaced by the current private addresses of the ENIs in that group (so an
 * ENI joining or leaving a group changes its peers' rules too). ENIs without any group (only from
 * a state file written before the lab had security groups) are left out: unfiltered.
 */
export function resolveEniFirewalls(world: {
  readonly securityGroups: Readonly<Record<string, SecurityGroupData>>;
  readonly networkInterfaces: Readonly<Record<string, { readonly networkInterfaceId: string; readonly subnetId: string; readonly privateIp: string; readonly mac: string; readonly groups?: readonly string[] }>>;
}): EniFirewall[] {
  const enis = Object.values(world.networkInterfaces).sort((a, b) => a.networkInterfaceId.localeCompare(b.networkInterfaceId));
  const members = (groupId: string): string[] => enis.filter((e) => (e.groups ?? []).includes(groupId)).map((e) => `${e.privateIp}/32`);
  const resolve = (rules: readonly SecurityGroupRuleData[]): ResolvedRule[] => rules.map((r) => ({
    protocol: r.protocol, ...(r.fromPort === undefined ? {} : { fromPort: r.fromPort }), ...(r.toPort === undefined ? {} : { toPort: r.toPort }),
    peers: r.cidr !== undefined ? [r.cidr] : members(r.groupId!),
  }));
  const out: EniFirewall[] = [];
  for (const eni of enis) {
    const groups = (eni.groups ?? []).map((id) => world.securityGroups[id]).filter((g): g is SecurityGroupData => g !== undefined);
    if (groups.length === 0) continue;
    out.push({
      networkInterfaceId: eni.networkInterfaceId, subnetId: eni.subnetId, privateIp: eni.privateIp, mac: eni.mac,
      ingress: groups.flatMap((g) => resolve(g.ingress)), egress: groups.flatMap((g) => resolve(g.egress)),
    });
  }
  return out;
}
