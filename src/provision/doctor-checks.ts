/**
 * `overlay-lb doctor`'s decisions: each check is a pure function of the spec and the facts a
 * collector observed (src/cloud/doctor-facts.ts), returning one result per subject with what is
 * wrong and the fix (a command or the spec field to change). No I/O, no clock: table-tested in
 * test/provision/doctor-checks.test.ts. The checks are those docs/provisioning.md ("doctor") lists:
 * what failover needs and the original design got wrong (DESIGN.md, "What the known solutions get
 * wrong", item 8).
 */
import type { Spec } from '../model/spec.js';
import type { ClusterFacts, NodeFacts, NodeInstanceFact, PublishedStatusFact, SecurityGroupFact, SecurityRule } from '../cloud/doctor-facts.js';
import { cidrContains, parseCidr, parseIpv4 } from '../util/ipv4.js';
import type { ParsedCidr } from '../util/ipv4.js';
import { HANDOFF_UDP_PORT, VRRP_PROTOCOL } from '../cloud/aws/provision/security-group-rules.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

/** One result: `id` is the check (a stable name, docs/provisioning.md), `subject` what it looked at. */
export interface CheckResult {
  readonly id: string;
  readonly status: CheckStatus;
  readonly subject: string;
  readonly message: string;
  /** What to do about it; null for a pass. */
  readonly fix: string | null;
}

/**
 * The IMDS hop limit the agent needs: it runs on the node's host network, one hop from the
 * metadata service (a container would need 2).
 */
export const REQUIRED_HOP_LIMIT = 1;
/** A published status older than this many of its intervals is stale (as `overlay-lb status` reads it). */
export const STALE_INTERVALS = 3;

const pass = (id: string, subject: string, message: string): CheckResult => ({ id, status: 'pass', subject, message, fix: null });
const warn = (id: string, subject: string, message: string, fix: string): CheckResult => ({ id, status: 'warn', subject, message, fix });
const fail = (id: string, subject: string, message: string, fix: string): CheckResult => ({ id, status: 'fail', subject, message, fix });

/** The one instance of each node that was found (exactly one), by node name. */
export function foundInstances(spec: Spec, facts: Pick<ClusterFacts, 'instances'>): Map<string, NodeInstanceFact> {
  const out = new Map<string, NodeInstanceFact>();
  for (const n of spec.cluster.nodes) {
    const found = facts.instances.get(n.name) ?? [];
    if (found.length === 1 && found[0] !== undefined) out.set(n.name, found[0]);
  }
  return out;
}

/** Keeps the results about `node`, and those about no node in particular. */
export function resultsForNode(spec: Spec, results: readonly CheckResult[], node: string): CheckResult[] {
  const names = new Set(spec.cluster.nodes.map((n) => n.name));
  return results.filter((r) => {
    const named = r.subject.split(/[\s:]+/).filter((w) => names.has(w));
    return named.length === 0 || named.includes(node);
  });
}

/** The VPC exists. */
export function checkVpc(spec: Spec, facts: Pick<ClusterFacts, 'vpc'>): CheckResult[] {
  const id = spec.cluster.cloud.vpcId ?? '(none)';
  if (facts.vpc !== null) return [pass('vpc', id, `VPC ${id} found (${facts.vpc.cidrs.join(', ')})`)];
  return [fail('vpc', id, `VPC ${id} was not found in region ${spec.cluster.cloud.region ?? '(none)'}`, 'set cluster.cloud.vpcId and cluster.cloud.region to the VPC of the LB nodes (aws ec2 describe-vpcs)')];
}

/** Each node's instance: exactly one, running, holding the node's address. */
export function checkInstances(spec: Spec, facts: Pick<ClusterFacts, 'instances'>): CheckResult[] {
  return spec.cluster.nodes.map((n) => {
    const found = facts.instances.get(n.name) ?? [];
    const [one] = found;
    if (one === undefined) {
      return fail('instance', n.name, `no instance in VPC ${spec.cluster.cloud.vpcId ?? ''} holds node ${n.name}'s address ${n.address}`, `run overlay-lb up SPEC --yes, or correct cluster.nodes[${n.name}].address to the instance's private address`);
    }
    if (found.length > 1) {
      return fail('instance', n.name, `several instances hold ${n.address}: ${found.map((i) => i.instanceId).join(', ')}`, 'terminate the instances that are not the node (each address belongs to one network interface)');
    }
    if (one.state !== 'running') {
      return fail('instance', n.name, `instance ${one.instanceId} holding ${n.address} is ${one.state}, not running`, `start it (aws ec2 start-instances --instance-ids ${one.instanceId}) or run overlay-lb up to replace it`);
    }
    const owner = one.ownerTag === null ? 'no ownership tag (installed by hand)' : `owned by cluster ${one.ownerTag}`;
    return pass('instance', n.name, `instance ${one.instanceId} (${one.networkInterfaceId ?? 'no interface'}) holds ${n.address}, running, ${owner}`);
  });
}

/** Source/destination check off on each node's interface: else it drops every packet for the VIP. */
export function checkSourceDestCheck(spec: Spec, facts: Pick<ClusterFacts, 'instances'>): CheckResult[] {
  const out: CheckResult[] = [];
  for (const [node, i] of foundInstances(spec, facts)) {
    if (!i.sourceDestCheck) {
      out.push(pass('source-dest-check', node, `source/destination check is off on ${i.networkInterfaceId ?? i.instanceId}`));
    } else {
      out.push(fail('source-dest-check', node, `source/destination check is on for ${i.instanceId}: it drops the packets addressed to the VIP, which is not its own address`,
        `aws ec2 modify-instance-attribute --instance-id ${i.instanceId} --no-source-dest-check`));
    }
  }
  return out;
}

function ruleMatchesTraffic(rule: SecurityRule, protocol: string, port: number | null): boolean {
  const p = rule.protocol.toLowerCase();
  if (p === '-1' || p === 'all') return true;
  const norm = p === '6' ? 'tcp' : p === '17' ? 'udp' : p;
  if (norm !== protocol) return false;
  if (port === null || rule.fromPort === undefined || rule.fromPort === -1) return true;
  return port >= rule.fromPort && port <= (rule.toPort ?? rule.fromPort);
}

/** A peer: an interface (address and groups) or a whole address range (clients). */
type Peer = { readonly address: number; readonly groupIds: readonly string[] } | { readonly cidr: ParsedCidr };

function peerCovered(rule: SecurityRule, peer: Peer): boolean {
  if ('cidr' in peer) {
    // Every address of the range: a rule's range must hold it whole (group rules cannot).
    return rule.cidrs.some((c) => {
      const r = parseCidr(c);
      return r !== undefined && r.length <= peer.cidr.length && cidrContains(r, peer.cidr.network);
    });
  }
  if (rule.groupIds.some((g) => peer.groupIds.includes(g))) return true;
  return rule.cidrs.some((c) => {
    const r = parseCidr(c);
    return r !== undefined && cidrContains(r, peer.address);
  });
}

/**
 * Whether the groups `groupIds` let `protocol`/`port` traffic in from (`direction` ingress) or out
 * to (egress) `peer`: some rule of some group allows it (security groups only allow; their union
 * applies). Exported for the tables.
 */
export function groupsAllow(groups: readonly SecurityGroupFact[], groupIds: readonly string[], options: { readonly direction: 'ingress' | 'egress'; readonly protocol: string; readonly port: number | null; readonly peer: Peer }): boolean {
  return groups.filter((g) => groupIds.includes(g.groupId)).some((g) => g[options.direction].some((r) => ruleMatchesTraffic(r, options.protocol, options.port) && peerCovered(r, options.peer)));
}

function authorizeFix(direction: 'ingress' | 'egress', groupId: string, permission: string): string {
  return `aws ec2 authorize-security-group-${direction} --group-id ${groupId} --ip-permissions '${permission}'`;
}

/**
 * Between every ordered pair of nodes (both directions: either can be master), the nodes' groups
 * pass VRRP (protocol 112) and the handoff link (UDP 4789): out of the sender's groups and into
 * the receiver's, by a self-reference of a shared group or a range holding the peer's address.
 */
export function checkNodeTraffic(spec: Spec, facts: Pick<ClusterFacts, 'instances' | 'groups'>): CheckResult[] {
  const found = foundInstances(spec, facts);
  const out: CheckResult[] = [];
  const kinds = [
    { id: 'sg-vrrp', protocol: VRRP_PROTOCOL, port: null, what: 'VRRP (IP protocol 112)', permission: (g: string) => `IpProtocol=112,UserIdGroupPairs=[{GroupId=${g}}]` },
    { id: 'sg-handoff', protocol: 'udp', port: HANDOFF_UDP_PORT, what: `the handoff link (UDP ${HANDOFF_UDP_PORT})`, permission: (g: string) => `IpProtocol=udp,FromPort=${HANDOFF_UDP_PORT},ToPort=${HANDOFF_UDP_PORT},UserIdGroupPairs=[{GroupId=${g}}]` },
  ] as const;
  for (const kind of kinds) {
    for (const a of spec.cluster.nodes) {
      for (const b of spec.cluster.nodes) {
        if (a === b) continue;
        const ia = found.get(a.name);
        const ib = found.get(b.name);
        if (ia === undefined || ib === undefined) continue;
        const subject = `${a.name} -> ${b.name}`;
        const from = { address: parseIpv4(a.address) ?? 0, groupIds: ia.groupIds };
        const to = { address: parseIpv4(b.address) ?? 0, groupIds: ib.groupIds };
        const inOk = groupsAllow(facts.groups, ib.groupIds, { direction: 'ingress', protocol: kind.protocol, port: kind.port, peer: from });
        const outOk = groupsAllow(facts.groups, ia.groupIds, { direction: 'egress', protocol: kind.protocol, port: kind.port, peer: to });
        if (inOk && outOk) {
          out.push(pass(kind.id, subject, `${kind.what} passes from ${a.name} to ${b.name}`));
          continue;
        }
        // The fix names the group the two share (the one up makes), else the receiver's first.
        const shared = ib.groupIds.find((g) => ia.groupIds.includes(g));
        const missing: string[] = [];
        const fixes: string[] = [];
        if (!inOk) {
          const g = shared ?? ib.groupIds[0] ?? 'sg-...';
          missing.push(`${b.name}'s security groups (${ib.groupIds.join(', ') || 'none'}) do not let it in from ${a.name} (${a.address})`);
          fixes.push(authorizeFix('ingress', g, shared === undefined ? kind.permission(ia.groupIds[0] ?? g) : kind.permission(g)));
        }
        if (!outOk) {
          const g = shared ?? ia.groupIds[0] ?? 'sg-...';
          missing.push(`${a.name}'s security groups (${ia.groupIds.join(', ') || 'none'}) do not let it out to ${b.name} (${b.address})`);
          fixes.push(authorizeFix('egress', g, shared === undefined ? kind.permission(ib.groupIds[0] ?? g) : kind.permission(g)));
        }
        const consequence = kind.id === 'sg-vrrp' ? ': without it both nodes become master' : ': a planned switchover or failback cannot hand connections over';
        out.push(fail(kind.id, subject, `${kind.what} is blocked: ${missing.join('; ')}${consequence}`, `${fixes.join(' && ')} (or run overlay-lb up, whose group has it)`));
      }
    }
  }
  return out;
}

/** Each frontend's ports are open on every node to the client CIDRs the spec names (`provision.clients`). */
export function checkFrontendPorts(spec: Spec, facts: Pick<ClusterFacts, 'instances' | 'groups'>): CheckResult[] {
  const clients = spec.provision?.clients ?? [];
  const out: CheckResult[] = [];
  for (const [node, inst] of foundInstances(spec, facts)) {
    for (const f of spec.frontends) {
      const cidrs = clients.find((c) => c.frontend === f.name)?.cidrs ?? [];
      for (const port of [...new Set(f.binds.map((b) => b.port))].sort((x, y) => x - y)) {
        const blocked = cidrs.filter((c) => {
          const cidr = parseCidr(c);
          return cidr !== undefined && !groupsAllow(facts.groups, inst.groupIds, { direction: 'ingress', protocol: 'tcp', port, peer: { cidr } });
        });
        const subject = `${node} ${f.name}:${port}`;
        if (cidrs.length === 0) continue;
        if (blocked.length === 0) {
          out.push(pass('sg-frontend', subject, `TCP ${port} is open to ${cidrs.join(', ')}`));
        } else {
          const g = inst.groupIds[0] ?? 'sg-...';
          out.push(fail('sg-frontend', subject, `frontend ${f.name}'s TCP port ${port} is closed to ${blocked.join(', ')} on ${node} (groups ${inst.groupIds.join(', ') || 'none'})`,
            `${authorizeFix('ingress', g, `IpProtocol=tcp,FromPort=${port},ToPort=${port},IpRanges=[${blocked.map((c) => `{CidrIp=${c}}`).join(',')}]`)} (or run overlay-lb up)`));
        }
      }
    }
  }
  return out;
}

/**
 * The VIP lies outside every network the VPC reaches: the VPC's CIDR blocks (all of them, as the
 * API shows them, associated ones included), the spec's `peerCidrs`, and every network a route of
 * the VPC's tables sends to a peering, transit gateway or VPN. Inside one, the VPC's local or more
 * specific route wins over the VIP's /32 on the other side, or the peer cannot route back.
 * Also warns when the spec's `vpcCidrs` lacks a block the VPC has (validate checks the VIP against it).
 */
export function checkVip(spec: Spec, facts: Pick<ClusterFacts, 'vpc' | 'peeredNetworks'>): CheckResult[] {
  const vip = spec.cluster.vip;
  const address = parseIpv4(vip) ?? 0;
  const networks: { readonly cidr: string; readonly what: string }[] = [
    ...(facts.vpc?.cidrs ?? []).map((c) => ({ cidr: c, what: `a CIDR block of VPC ${facts.vpc?.id ?? ''}` })),
    ...spec.cluster.peerCidrs.map((c) => ({ cidr: c, what: 'cluster.peerCidrs' })),
    ...facts.peeredNetworks.map((p) => ({ cidr: p.cidr, what: `a network reached through ${p.via} (route table ${p.routeTableId})` })),
  ];
  const inside = networks.filter((n) => {
    const c = parseCidr(n.cidr);
    return c !== undefined && cidrContains(c, address);
  });
  const out: CheckResult[] = [];
  if (inside.length === 0) {
    out.push(pass('vip-outside', vip, `the VIP is outside the VPC's ${facts.vpc?.cidrs.length ?? 0} CIDR block(s), ${spec.cluster.peerCidrs.length} peer CIDR(s) and ${facts.peeredNetworks.length} peered network(s)`));
  } else {
    out.push(fail('vip-outside', vip, `the VIP ${vip} lies inside ${inside.map((n) => `${n.cidr} (${n.what})`).join(', ')}: that network's own route wins over the VIP's /32, so traffic for the VIP never reaches the active node`,
      'change cluster.vip to an address outside every VPC, peered and on-premises network (for example in 192.168.0.0/16 or 100.64.0.0/10 when unused), then roll the spec out'));
  }
  if (facts.vpc !== null) {
    const specCidrs = new Set(spec.cluster.vpcCidrs.map((c) => parseCidr(c)?.canonical ?? c));
    const missing = facts.vpc.cidrs.filter((c) => !specCidrs.has(parseCidr(c)?.canonical ?? c));
    if (missing.length > 0) {
      out.push(warn('vpc-cidrs', facts.vpc.id, `the VPC has CIDR block(s) ${missing.join(', ')} that cluster.vpcCidrs does not list`, `add ${missing.join(', ')} to cluster.vpcCidrs (validate then keeps the VIP out of them)`));
    }
  }
  return out;
}

/**
 * The selector selects at least one table, and the credentials doctor runs with may write the VIP
 * route in each (a DryRun ReplaceRoute, or CreateRoute where the route is missing). On a node those
 * are the node's role: exactly what a failover needs.
 */
export function checkRoutePermissions(spec: Spec, facts: Pick<ClusterFacts, 'routeTables' | 'routePermissions' | 'vpc'>, options: { readonly selected: readonly string[] }): CheckResult[] {
  if (spec.cluster.cloud.failover !== 'route' || facts.vpc === null) return [];
  const vpc = facts.vpc.id;
  const out: CheckResult[] = [];
  const known = new Set(facts.routeTables.map((t) => t.id));
  if (options.selected.length === 0) {
    out.push(fail('route-tables', vpc, `cluster.cloud.routeTables selects none of the VPC's ${facts.routeTables.length} route table(s): the VIP route goes nowhere`, 'change cluster.cloud.routeTables (discover: all, tags or ids) so that it selects the tables of the subnets whose clients use the VIP'));
  }
  for (const id of options.selected.filter((t) => !known.has(t))) {
    out.push(fail('route-tables', id, `route table ${id} in cluster.cloud.routeTables is not in VPC ${vpc}`, `remove ${id} from cluster.cloud.routeTables.ids or correct it (aws ec2 describe-route-tables --filters Name=vpc-id,Values=${vpc})`));
  }
  for (const p of facts.routePermissions) {
    const d = p.dryRun;
    if (d.outcome === 'allowed') {
      out.push(pass('route-permission', p.routeTableId, `DryRun ${p.action} of the VIP route is allowed`));
    } else if (d.outcome === 'denied') {
      out.push(fail('route-permission', p.routeTableId, `DryRun ${p.action} was refused: ${d.message}`, `grant ${p.action} on arn:aws:ec2:*:*:route-table/${p.routeTableId} (the nodes' role: docs/install.md's policy allows ec2:ReplaceRoute and ec2:CreateRoute on the VPC's route tables)`));
    } else {
      out.push(fail('route-permission', p.routeTableId, `DryRun ${p.action} failed: ${d.message}`, 'check that the API is reachable and the table exists, then run doctor again'));
    }
  }
  return out;
}

/** IMDSv2 required, the endpoint on, and a hop limit the agent can use. */
export function checkImdsOptions(spec: Spec, facts: Pick<ClusterFacts, 'instances'>): CheckResult[] {
  const out: CheckResult[] = [];
  for (const [node, i] of foundInstances(spec, facts)) {
    const m = i.metadata;
    const cmd = `aws ec2 modify-instance-metadata-options --instance-id ${i.instanceId}`;
    if (m === null) {
      out.push(warn('imds-options', node, `the API shows no metadata options for ${i.instanceId}`, `${cmd} --http-tokens required --http-endpoint enabled`));
    } else if (m.endpoint === 'disabled') {
      out.push(fail('imds-options', node, `the metadata service is off for ${i.instanceId}: the agent cannot learn its identity or its role's credentials`, `${cmd} --http-endpoint enabled --http-tokens required`));
    } else if (m.httpTokens !== 'required') {
      out.push(fail('imds-options', node, `${i.instanceId} accepts IMDSv1 (HttpTokens ${m.httpTokens}): anything that can make the node send a GET can read its role's credentials`, `${cmd} --http-tokens required`));
    } else if (m.hopLimit < REQUIRED_HOP_LIMIT) {
      out.push(fail('imds-options', node, `${i.instanceId}'s metadata hop limit is ${m.hopLimit}, the agent needs ${REQUIRED_HOP_LIMIT}`, `${cmd} --http-put-response-hop-limit ${REQUIRED_HOP_LIMIT}`));
    } else {
      out.push(pass('imds-options', node, `IMDSv2 required, hop limit ${m.hopLimit}`));
    }
  }
  return out;
}

/**
 * Every node runs the same spec: the spec hashes in the statuses the agents publish beside the
 * spec agree (and match the spec doctor was given: else a warning, a rollout may be under way).
 * A node without a status, or with a stale one, is a warning: its agent does not publish (yet).
 */
export function checkSpecHashes(spec: Spec, facts: Pick<ClusterFacts, 'statuses' | 'now'>, options: { readonly specHash: string }): CheckResult[] {
  if (facts.statuses === null) return [];
  const out: CheckResult[] = [];
  const present = new Map<string, Extract<PublishedStatusFact, { state: 'present' }>>();
  for (const n of spec.cluster.nodes) {
    const s = facts.statuses.get(n.name) ?? { state: 'missing' };
    if (s.state === 'missing') {
      out.push(warn('spec-hash', n.name, `node ${n.name} has published no status in the release bucket`, "start or upgrade its agent (it publishes its status beside the spec); until then doctor cannot compare the node's spec"));
    } else if (s.state === 'unreadable') {
      out.push(warn('spec-hash', n.name, `node ${n.name}'s published status cannot be read: ${s.message}`, "grant s3:GetObject on the bucket's status/ keys to the credentials doctor runs with"));
    } else {
      present.set(n.name, s);
      const age = facts.now - s.publishedAt;
      if (age > STALE_INTERVALS * s.intervalMs) {
        out.push(warn('spec-hash', n.name, `node ${n.name}'s status is stale (published ${Math.round(age / 1000)} s ago, every ${Math.round(s.intervalMs / 1000)} s)`, "check the node's agent (overlay-lb status; journalctl -u overlay-lb-agent on the node)"));
      }
    }
  }
  const hashes = new Set([...present.values()].map((s) => s.specHash));
  if (hashes.size > 1) {
    const by = [...present].map(([node, s]) => `${node} ${s.specHash.slice(0, 12)}`).join(', ');
    out.push(fail('spec-hash', 'cluster', `the nodes run different specs: ${by}`, 'roll one spec out to every node (overlay-lb apply SPEC --cluster) and check the lagging node\'s spec rollout problems (overlay-lb status)'));
  } else if (hashes.size === 1) {
    const [only] = hashes;
    if (only === options.specHash) {
      out.push(pass('spec-hash', 'cluster', `${present.size} node(s) run this spec (${only.slice(0, 12)})`));
    } else {
      out.push(warn('spec-hash', 'cluster', `the nodes agree (${(only ?? '').slice(0, 12)}) but run another spec than this file (${options.specHash.slice(0, 12)})`, 'roll this spec out (overlay-lb apply SPEC --cluster), or run doctor with the spec the nodes run'));
    }
  }
  return out;
}

/** Every check over the facts, in the order doctor prints them. */
export function decideClusterChecks(spec: Spec, facts: ClusterFacts, options: { readonly selected: readonly string[]; readonly specHash: string }): CheckResult[] {
  if (facts.vpc === null) return checkVpc(spec, facts);
  return [
    ...checkVpc(spec, facts),
    ...checkInstances(spec, facts),
    ...checkSourceDestCheck(spec, facts),
    ...checkNodeTraffic(spec, facts),
    ...checkFrontendPorts(spec, facts),
    ...checkVip(spec, facts),
    ...checkRoutePermissions(spec, facts, { selected: options.selected }),
    ...checkImdsOptions(spec, facts),
    ...checkSpecHashes(spec, facts, { specHash: options.specHash }),
  ];
}

/** Clock skew within this is in sync (the API's Date header has whole seconds). */
export const CLOCK_SYNC_TOLERANCE_MS = 5_000;
/** AWS refuses a signed request whose time is more than 5 minutes off; warn well before. */
export const CLOCK_FAIL_MS = 240_000;

/** The checks on a node itself (`doctor --local`): its metadata service, its route to the API, the kernel, its clock. */
export function decideNodeChecks(facts: NodeFacts, options: { readonly node: string; readonly region: string }): CheckResult[] {
  const { node } = options;
  const out: CheckResult[] = [];
  if (facts.imds.ok) {
    out.push(pass('imds-reachable', node, `IMDSv2 answers: instance ${facts.imds.instanceId}, address ${facts.imds.address}`));
  } else {
    out.push(fail('imds-reachable', node, `IMDSv2 does not answer: ${facts.imds.message}`,
      'enable the metadata service with tokens required (aws ec2 modify-instance-metadata-options --instance-id ID --http-endpoint enabled --http-tokens required); from a container raise --http-put-response-hop-limit to 2'));
  }
  if (facts.api.ok) {
    out.push(pass('api-reachable', node, `the EC2 API at ${facts.api.endpoint} answers`));
  } else if (facts.api.cause === 'credentials') {
    out.push(fail('api-reachable', node, `no call to the EC2 API at ${facts.api.endpoint} could be signed: ${facts.api.message}; a failover could not move the VIP route`,
      "give the node its instance profile (overlay-lb up makes it: aws ec2 describe-iam-instance-profile-associations) and IMDSv2 it can reach (see imds-reachable); the API's reachability is checked once the call can be signed"));
  } else {
    out.push(fail('api-reachable', node, `the EC2 API at ${facts.api.endpoint} does not answer from this node: ${facts.api.message}; a failover could not move the VIP route`,
      `give this node's subnet a way to the EC2 API: an interface VPC endpoint for com.amazonaws.${options.region}.ec2 with private DNS, or a route to a NAT gateway`));
  }
  const skew = facts.clockSkewMs;
  if (skew !== null) {
    const s = `${(Math.abs(skew) / 1000).toFixed(0)} s ${skew > 0 ? 'behind' : 'ahead of'} the API's clock`;
    const fix = 'synchronise the clock: chrony with the Amazon Time Sync Service (server 169.254.169.123 prefer iburst), then check chronyc tracking';
    if (Math.abs(skew) <= CLOCK_SYNC_TOLERANCE_MS) out.push(pass('clock', node, `the clock agrees with the API's within ${CLOCK_SYNC_TOLERANCE_MS / 1000} s`));
    else if (Math.abs(skew) < CLOCK_FAIL_MS) out.push(warn('clock', node, `the clock is ${s}: published statuses look stale or fresh by mistake`, fix));
    else out.push(fail('clock', node, `the clock is ${s}: AWS refuses requests signed more than 5 minutes off, so failover calls fail`, fix));
  }
  const t = facts.timeMatch;
  if (t.ok) {
    out.push(pass('iptables-time', node, "iptables' time match loads (the connection handoff's deadline)"));
  } else if (t.cause === 'not-root') {
    out.push(warn('iptables-time', node, `the iptables time match was not tried: ${t.message}`, 'run doctor --local as root (it loads the match in a throwaway network namespace, never in the node\'s firewall)'));
  } else {
    out.push(fail('iptables-time', node, `iptables cannot load the time match: ${t.message}; a switchover's connection handoff cannot start`,
      t.cause === 'missing' ? 'install a kernel with the xt_time module (CONFIG_NETFILTER_XT_MATCH_TIME; Debian: linux-image-cloud-amd64 has it) and the iptables package' : 'check that iptables works on this node (iptables -t mangle -L)'));
  }
  return out;
}
