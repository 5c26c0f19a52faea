/**
 * Security groups in the lab's data path: every ENI's rules (resolved by the cloud model,
 * `resolveEniFirewalls`) as iptables rules in the router namespace's FORWARD path, rendered as
 * one `iptables-restore --noflush` input so a change is one atomic commit (no packet ever meets a
 * half-applied rule set).
 *
 * How it maps to AWS (stateful, evaluated at each ENI):
 * - Chain `OLB-SG` (filter/FORWARD, after the source/destination check) first accepts packets of
 *   tracked flows (conntrack ESTABLISHED/RELATED): replies to an allowed flow pass whatever the
 *   rules say, and a flow allowed once keeps passing after its rule is revoked, as AWS keeps
 *   tracked connections (the lab tracks every flow; see docs/lab.md for AWS's untracked flows).
 * - A new flow from an ENI (its MAC on its subnet's bridge, as the source/destination check
 *   identifies it) must pass the ENI's egress chain `OLB-SGE-<id>` (any rule of any of its groups
 *   RETURNs; else DROP), then a flow to an ENI (its address, or the routing realm of routes that
 *   target it, such as the VIP's) must pass its ingress chain `OLB-SGI-<id>` (ACCEPT, else DROP).
 *   DROP, not REJECT: a refused client sees a timeout, as in AWS.
 * - Traffic to the router itself (IMDS, the API endpoint) is INPUT, not filtered (link-local
 *   services are not subject to security groups in AWS either).
 * Same-subnet traffic is bridged; it traverses these rules too when `br_netfilter` is loaded
 * (`net.bridge.bridge-nf-call-iptables=1`), which docs/lab.md states.
 */
import type { EniFirewall, ResolvedRule } from './ec2/security-groups.js';

/** The chain (filter table) that holds the security-group rules; jumped to from FORWARD. */
export const SECURITY_GROUP_CHAIN = 'OLB-SG';
const EGRESS_PREFIX = 'OLB-SGE-';
const INGRESS_PREFIX = 'OLB-SGI-';

/** How the kernel finds an ENI: its subnet's bridge and, when routes can target it, its realm. */
export interface EniKernelPlace {
  readonly bridge: string;
  readonly realm: number | null;
}

function chainSuffix(networkInterfaceId: string): string {
  return networkInterfaceId.replace(/^eni-/, '');
}

/** iptables match arguments of a rule's protocol and ports. */
function protocolMatch(rule: ResolvedRule): string[] {
  switch (rule.protocol) {
    case '-1':
      return [];
    case 'tcp':
    case 'udp': {
      const from = rule.fromPort ?? 0;
      const to = rule.toPort ?? 65535;
      return from === 0 && to === 65535 ? ['-p', rule.protocol] : ['-p', rule.protocol, '--dport', from === to ? String(from) : `${from}:${to}`];
    }
    case 'icmp': {
      const type = rule.fromPort ?? -1;
      const code = rule.toPort ?? -1;
      if (type === -1) return ['-p', 'icmp'];
      return ['-p', 'icmp', '--icmp-type', code === -1 ? String(type) : `${type}/${code}`];
    }
    default:
      return ['-p', rule.protocol];
  }
}

function peerMatch(flag: '-s' | '-d', peer: string): string[] {
  return peer === '0.0.0.0/0' ? [] : [flag, peer];
}

/**
 * The `iptables-restore --noflush` input (filter table) that replaces every security-group rule:
 * `OLB-SG` and one egress and one ingress chain per filtered ENI, re-declared (so flushed) and
 * refilled; chains of ENIs no longer filtered (`existingChains`) are deleted in the same commit.
 * ENIs without a place (not on a lab subnet) are skipped.
 */
export function renderSecurityGroupRules(options: {
  readonly firewalls: readonly EniFirewall[];
  readonly placeOf: (firewall: EniFirewall) => EniKernelPlace | undefined;
  readonly existingChains: readonly string[];
}): string {
  const declare: string[] = [`:${SECURITY_GROUP_CHAIN} - [0:0]`];
  const rules: string[] = [`-A ${SECURITY_GROUP_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`];
  const jumpsIn: string[] = [];
  const wanted = new Set<string>();
  for (const fw of options.firewalls) {
    const place = options.placeOf(fw);
    if (place === undefined) continue;
    const egress = `${EGRESS_PREFIX}${chainSuffix(fw.networkInterfaceId)}`;
    const ingress = `${INGRESS_PREFIX}${chainSuffix(fw.networkInterfaceId)}`;
    wanted.add(egress);
    wanted.add(ingress);
    declare.push(`:${egress} - [0:0]`, `:${ingress} - [0:0]`);
    rules.push(`-A ${SECURITY_GROUP_CHAIN} -i ${place.bridge} -m mac --mac-source ${fw.mac} -j ${egress}`);
    jumpsIn.push(`-A ${SECURITY_GROUP_CHAIN} -d ${fw.privateIp}/32 -j ${ingress}`);
    if (place.realm !== null) jumpsIn.push(`-A ${SECURITY_GROUP_CHAIN} -m realm --realm ${place.realm} -j ${ingress}`);
    for (const rule of fw.egress) {
      for (const peer of rule.peers) rules.push([`-A ${egress}`, ...peerMatch('-d', peer), ...protocolMatch(rule), '-j RETURN'].join(' '));
    }
    rules.push(`-A ${egress} -j DROP`);
    for (const rule of fw.ingress) {
      for (const peer of rule.peers) rules.push([`-A ${ingress}`, ...peerMatch('-s', peer), ...protocolMatch(rule), '-j ACCEPT'].join(' '));
    }
    rules.push(`-A ${ingress} -j DROP`);
  }
  const stale = options.existingChains.filter((c) => (c.startsWith(EGRESS_PREFIX) || c.startsWith(INGRESS_PREFIX)) && !wanted.has(c));
  // Stale chains are emptied when declared, then deleted after OLB-SG no longer jumps to them.
  return [
    '*filter', ...declare, ...stale.map((c) => `:${c} - [0:0]`), ...rules, ...jumpsIn, ...stale.map((c) => `-X ${c}`), 'COMMIT', '',
  ].join('\n');
}

/** The security-group chains that exist, from `iptables-save -t filter` output. */
export function securityGroupChainsIn(saved: string): string[] {
  return saved.split('\n').flatMap((line) => {
    const m = /^:(OLB-SG[EI]-[0-9a-f]+) /.exec(line);
    return m === null ? [] : [m[1]!];
  });
}
