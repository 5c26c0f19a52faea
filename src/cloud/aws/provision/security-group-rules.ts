/**
 * The LB nodes' security group, derived from the spec as EC2 `IpPermissions` (ingress; egress
 * stays EC2's default, everything out). What failover and the data path need and nothing more:
 * - VRRP (IP protocol 112) and the connection handoff (UDP 4789, docs/switchover.md) between the
 *   LB nodes only: a reference to the group itself, never a CIDR (the original design allowed only
 *   TCP, so VRRP was blocked and both nodes became master);
 * - each frontend's ports (TCP) from the client CIDRs the spec's `provision.clients` names;
 * - the admin listeners bound beyond localhost (stats, health URI, agent) from
 *   `provision.adminClients` only; without it, from nowhere.
 * Pure; `canonicalPermissions` orders rules so a derived set compares equal to what EC2 describes.
 */
import type { Spec } from '../../../model/spec.js';
import { compareCodeUnits } from '../../../util/compare.js';

/** One ingress rule in EC2's shape (AuthorizeSecurityGroupIngress / DescribeSecurityGroups). */
export interface IpPermission {
  /** `tcp`, `udp` or a protocol number (`112`). */
  readonly IpProtocol: string;
  /** Absent for protocols without ports (112). */
  readonly FromPort?: number;
  readonly ToPort?: number;
  readonly IpRanges?: readonly { readonly CidrIp: string; readonly Description?: string }[];
  readonly UserIdGroupPairs?: readonly { readonly GroupId: string; readonly Description?: string }[];
  /** Only ever described (up never authorizes them): revoked from an owned group. */
  readonly Ipv6Ranges?: readonly { readonly CidrIpv6: string; readonly Description?: string }[];
  readonly PrefixListIds?: readonly { readonly PrefixListId: string; readonly Description?: string }[];
}

/** VRRP's IP protocol number (RFC 5798). */
export const VRRP_PROTOCOL = '112';
/** The connection handoff's VXLAN port (docs/switchover.md). */
export const HANDOFF_UDP_PORT = 4789;

/**
 * The ingress rules of the LB nodes' group for `spec`. `groupId` is the group's own id (the
 * self-reference of the node-to-node rules); before the group exists a plan passes a placeholder.
 * Several frontends or admin listeners on one port with the same CIDRs give one rule.
 */
export function securityGroupIngress(spec: Spec, groupId: string): IpPermission[] {
  const p = spec.provision;
  if (p === undefined) throw new Error('securityGroupIngress: the spec has no provision section');
  const self = (what: string) => [{ GroupId: groupId, Description: `${what} between the LB nodes` }];
  const rules: IpPermission[] = [
    { IpProtocol: VRRP_PROTOCOL, UserIdGroupPairs: self('VRRP') },
    { IpProtocol: 'udp', FromPort: HANDOFF_UDP_PORT, ToPort: HANDOFF_UDP_PORT, UserIdGroupPairs: self('connection handoff') },
  ];
  // port -> CIDR -> descriptions (one rule per port, its CIDRs in a stable order).
  const tcp = new Map<number, Map<string, string>>();
  const allow = (port: number, cidrs: readonly string[], what: string): void => {
    const byCidr = tcp.get(port) ?? new Map<string, string>();
    for (const c of cidrs) byCidr.set(c, byCidr.has(c) ? `${byCidr.get(c)}, ${what}` : what);
    tcp.set(port, byCidr);
  };
  for (const f of spec.frontends) {
    const cidrs = p.clients.find((c) => c.frontend === f.name)?.cidrs ?? [];
    for (const port of new Set(f.binds.map((b) => b.port))) allow(port, cidrs, `frontend ${f.name}`);
  }
  if (p.adminClients.length > 0) {
    const { stats, health, agent } = spec.admin;
    if (stats.enabled && stats.bind !== 'localhost') allow(stats.port, p.adminClients, 'admin stats');
    if (health.bind !== 'localhost') allow(health.port, p.adminClients, 'admin health');
    if (agent.bind !== 'localhost') allow(agent.port, p.adminClients, 'admin agent');
  }
  for (const [port, byCidr] of tcp) {
    if (byCidr.size === 0) continue;
    rules.push({ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [...byCidr].map(([CidrIp, what]) => ({ CidrIp, Description: what })) });
  }
  return canonicalPermissions(rules);
}

/**
 * One entry per (protocol, port range, source) without descriptions, sorted: the form in which a
 * desired set and a described one are compared (descriptions are labels, not access).
 */
export function permissionKeys(rules: readonly IpPermission[]): string[] {
  const keys: string[] = [];
  for (const r of rules) {
    const ports = r.FromPort === undefined || r.FromPort === -1 ? '' : `:${r.FromPort}-${r.ToPort ?? r.FromPort}`;
    const proto = r.IpProtocol.toLowerCase() === 'tcp' ? 'tcp' : r.IpProtocol.toLowerCase() === 'udp' ? 'udp' : r.IpProtocol;
    for (const range of r.IpRanges ?? []) keys.push(`${proto}${ports} from ${range.CidrIp}`);
    for (const pair of r.UserIdGroupPairs ?? []) keys.push(`${proto}${ports} from ${pair.GroupId}`);
  }
  return [...new Set(keys)].sort();
}

/** One rule per source (CIDR, group, IPv6 range or prefix list), keyed as permissionKeys keys it. */
function singleSourceRules(rules: readonly IpPermission[]): Map<string, IpPermission> {
  const out = new Map<string, IpPermission>();
  for (const r of rules) {
    const base: IpPermission = { IpProtocol: r.IpProtocol, ...(r.FromPort === undefined ? {} : { FromPort: r.FromPort }), ...(r.ToPort === undefined ? {} : { ToPort: r.ToPort }) };
    const ports = r.FromPort === undefined || r.FromPort === -1 ? '' : `:${r.FromPort}-${r.ToPort ?? r.FromPort}`;
    const proto = ['tcp', 'udp'].includes(r.IpProtocol.toLowerCase()) ? r.IpProtocol.toLowerCase() : r.IpProtocol;
    const key = (source: string): string => `${proto}${ports} from ${source}`;
    for (const x of r.IpRanges ?? []) out.set(key(x.CidrIp), { ...base, IpRanges: [x] });
    for (const x of r.UserIdGroupPairs ?? []) out.set(key(x.GroupId), { ...base, UserIdGroupPairs: [x] });
    for (const x of r.Ipv6Ranges ?? []) out.set(key(x.CidrIpv6), { ...base, Ipv6Ranges: [x] });
    for (const x of r.PrefixListIds ?? []) out.set(key(x.PrefixListId), { ...base, PrefixListIds: [x] });
  }
  return out;
}

/** What converging a group's ingress takes: rules to authorize and rules to revoke, one source each. */
export interface IngressChanges {
  readonly authorize: readonly IpPermission[];
  readonly revoke: readonly IpPermission[];
  /** In the user's terms, for the plan: `allow tcp:80-80 from 10.0.0.0/16`, `revoke ...`. */
  readonly summary: readonly string[];
}

/**
 * The difference between the rules a group should have (`desired`, securityGroupIngress) and the
 * ones it has (`described`, DescribeSecurityGroups' IpPermissions), compared per (protocol, ports,
 * source): a missing rule is authorized, an extra one revoked (only ever applied to the group up
 * owns); descriptions do not count. Pure.
 */
export function ingressChanges(desired: readonly IpPermission[], described: readonly IpPermission[]): IngressChanges {
  const want = singleSourceRules(desired);
  const have = singleSourceRules(described);
  const authorize = [...want].filter(([k]) => !have.has(k)).sort(([a], [b]) => compareCodeUnits(a, b));
  const revoke = [...have].filter(([k]) => !want.has(k)).sort(([a], [b]) => compareCodeUnits(a, b));
  return {
    authorize: authorize.map(([, r]) => r),
    revoke: revoke.map(([, r]) => r),
    summary: [...authorize.map(([k]) => `allow ${k}`), ...revoke.map(([k]) => `revoke ${k}`)],
  };
}

/** Rules in a stable order: protocol 112 first, then UDP, then TCP by port. */
export function canonicalPermissions(rules: readonly IpPermission[]): IpPermission[] {
  const rank = (r: IpPermission): number => (r.IpProtocol === VRRP_PROTOCOL ? 0 : r.IpProtocol === 'udp' ? 1 : 2);
  return [...rules].sort((a, b) => rank(a) - rank(b) || (a.FromPort ?? 0) - (b.FromPort ?? 0));
}
