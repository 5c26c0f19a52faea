/**
 * Where the construct puts things, decided at synth from the `vpc` prop without any lookup (so
 * `cdk synth` needs no account): each node's subnet (`nodeSubnets` of the main package, the same
 * choice `overlay-lb up` makes from DescribeSubnets) and the route tables that get the VIP route.
 */
import { Token, type aws_ec2 as ec2 } from 'aws-cdk-lib';
import type { Spec } from '../../src/model/spec.js';
import { nodeSubnets as chooseNodeSubnets, type SubnetInfo } from '../../src/provision/subnets.js';
import { cidrContains, parseCidr, parseIpv4 } from '../../src/util/ipv4.js';
import { UserError } from '../../src/util/errors.js';
import { propsError } from './props-error.js';

/** Every subnet of the VPC (public, private, isolated), once. */
function vpcSubnets(vpc: ec2.IVpc): ec2.ISubnet[] {
  const seen = new Map<string, ec2.ISubnet>();
  for (const s of [...vpc.publicSubnets, ...vpc.privateSubnets, ...vpc.isolatedSubnets]) seen.set(s.subnetId, s);
  return [...seen.values()];
}

/** A subnet's CIDR when the synth knows it (an imported subnet without one throws on access). */
function knownCidr(subnet: ec2.ISubnet): string | undefined {
  try {
    const cidr = subnet.ipv4CidrBlock;
    return Token.isUnresolved(cidr) ? undefined : cidr;
  } catch {
    return undefined;
  }
}

/**
 * Node name -> subnet id. With `given` (the nodeSubnets prop), each node listed there goes to that
 * subnet (checked: the node exists, the zone and, when known, the CIDR match); the others, and
 * every node without the prop, are placed by the main package's rule: `provision.subnets` for the
 * node's zone, else the VPC's subnet of that zone whose CIDR holds the node's address.
 * @throws UserError CONSTRUCT_PROPS naming the node, the prop and the fix.
 */
export function placeNodes(spec: Spec, vpc: ec2.IVpc, given: Readonly<Record<string, ec2.ISubnet>>, where: string): Map<string, string> {
  const vpcId = spec.cluster.cloud.vpcId ?? '';
  for (const [name, subnet] of Object.entries(given)) {
    const node = spec.cluster.nodes.find((n) => n.name === name);
    if (node === undefined) throw propsError(where, `nodeSubnets.${name}`, subnet.subnetId, `names no node of the spec (its nodes: ${spec.cluster.nodes.map((n) => n.name).join(', ')})`, 'key nodeSubnets by the names in cluster.nodes');
    const zone = subnet.availabilityZone;
    if (!Token.isUnresolved(zone) && zone !== node.zone) throw propsError(where, `nodeSubnets.${name}`, subnet.subnetId, `is in zone ${zone}, node ${name} in ${node.zone}`, `give a subnet of zone ${node.zone}, or change the node's zone in the spec`);
    const cidr = knownCidr(subnet);
    const range = cidr === undefined ? undefined : parseCidr(cidr);
    const address = parseIpv4(node.address);
    if (range !== undefined && address !== undefined && !cidrContains(range, address)) {
      throw propsError(where, `nodeSubnets.${name}`, subnet.subnetId, `(${cidr}) does not hold the node's address ${node.address}`, 'give the subnet whose CIDR holds the address, or change cluster.nodes[].address');
    }
  }
  const infos: SubnetInfo[] = vpcSubnets(vpc).map((s) => ({ subnetId: s.subnetId, vpcId, availabilityZone: s.availabilityZone, cidr: knownCidr(s) ?? '' }));
  // The nodes the prop does not place, by the main package's rule.
  const rest: Spec = { ...spec, cluster: { ...spec.cluster, nodes: spec.cluster.nodes.filter((n) => given[n.name] === undefined) } };
  let chosen: Map<string, string>;
  try {
    chosen = chooseNodeSubnets(rest, infos);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    const unknown = infos.filter((s) => s.cidr === '').map((s) => s.subnetId);
    const hint = unknown.length === 0 ? '' : ` (the synth does not know the CIDR of ${unknown.join(', ')}: import the VPC with its subnets' CIDRs, ec2.Vpc.fromVpcAttributes({ privateSubnetIpv4CidrBlocks, ... }))`;
    throw propsError(where, 'vpc', vpc.vpcId, `has no subnet for every node: ${err.message}${hint}`, 'or place the node with the nodeSubnets prop', err);
  }
  return new Map(spec.cluster.nodes.map((n) => [n.name, given[n.name]?.subnetId ?? chosen.get(n.name) ?? '']));
}

/**
 * The route tables that get the VIP route: `routeTableIds` when given; else the spec's selection
 * (`cluster.cloud.routeTables`): the ids it lists, or for `discover: all` every route table of the
 * VPC's subnets but the excluded ones. Tags cannot be read offline: they need `routeTableIds`.
 * @throws UserError CONSTRUCT_PROPS when the tables cannot be known at synth.
 */
export function selectRouteTables(spec: Spec, vpc: ec2.IVpc, routeTableIds: readonly string[] | undefined, where: string): string[] {
  if (routeTableIds !== undefined) {
    if (routeTableIds.length === 0) throw propsError(where, 'routeTableIds', '[]', 'is empty', 'list the route tables that get the VIP route, or leave the prop out to use the spec\'s cluster.cloud.routeTables');
    return [...new Set(routeTableIds)];
  }
  const selector = spec.cluster.cloud.routeTables;
  if (selector.kind === 'ids') return [...selector.ids];
  if (selector.kind === 'tags') {
    throw propsError(where, 'routeTableIds', 'undefined', `is needed: the spec selects route tables by tags (${JSON.stringify(selector.tags)}), which a synth without an account cannot read`, 'list the route tables those tags select in routeTableIds');
  }
  const ids = new Set<string>();
  for (const subnet of vpcSubnets(vpc)) {
    const id = subnet.routeTable.routeTableId;
    if (id === undefined || id === '') {
      throw propsError(where, 'vpc', vpc.vpcId, `does not say which route table subnet ${subnet.subnetId} uses (the spec selects discover: all)`, 'import the VPC with its route tables (ec2.Vpc.fromVpcAttributes({ privateSubnetRouteTableIds, ... })) or list them in routeTableIds');
    }
    if (!selector.exclude.includes(id)) ids.add(id);
  }
  if (ids.size === 0) throw propsError(where, 'vpc', vpc.vpcId, 'has no route table left to route the VIP in', 'import the VPC with its subnets and route tables, or list the tables in routeTableIds');
  return [...ids];
}
