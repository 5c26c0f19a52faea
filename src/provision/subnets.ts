/**
 * Where each LB node is launched: the subnet the spec gives for its zone (`provision.subnets`),
 * or the VPC's subnet in that zone whose CIDR holds the node's address. Pure: the subnets come
 * from the cloud (DescribeSubnets of the VPC) and a wrong choice is a user error naming the node,
 * what was found and the fix. For the instances kind (docs/provisioning.md, "What comes next").
 */
import type { Spec } from '../model/spec.js';
import { cidrContains, parseCidr, parseIpv4 } from '../util/ipv4.js';
import { UserError } from '../util/errors.js';

/** A subnet as the cloud describes it. */
export interface SubnetInfo {
  readonly subnetId: string;
  readonly vpcId: string;
  readonly availabilityZone: string;
  readonly cidr: string;
}

function holds(subnet: SubnetInfo, address: number): boolean {
  const cidr = parseCidr(subnet.cidr);
  return cidr !== undefined && cidrContains(cidr, address);
}

/**
 * Node name -> subnet id for every node of the spec.
 * @throws UserError SPEC_CONFLICT when a given subnet is not in the VPC, not in the node's zone or
 *   does not hold its address, or when no subnet of the zone holds it.
 */
export function nodeSubnets(spec: Spec, subnets: readonly SubnetInfo[]): Map<string, string> {
  const vpcId = spec.cluster.cloud.vpcId;
  const given = spec.provision?.subnets ?? {};
  const inVpc = subnets.filter((s) => s.vpcId === vpcId);
  const out = new Map<string, string>();
  for (const node of spec.cluster.nodes) {
    const address = parseIpv4(node.address);
    if (address === undefined) throw new UserError('SPEC_FORMAT', `node ${node.name}: ${node.address} is not an IPv4 address`);
    const wanted = given[node.zone];
    const where = `node ${node.name} (${node.address}, zone ${node.zone})`;
    if (wanted !== undefined) {
      const s = subnets.find((x) => x.subnetId === wanted);
      const why = s === undefined ? `subnet ${wanted} does not exist`
        : s.vpcId !== vpcId ? `subnet ${wanted} is in ${s.vpcId}, not in cluster.cloud.vpcId ${vpcId ?? '(none)'}`
        : s.availabilityZone !== node.zone ? `subnet ${wanted} is in zone ${s.availabilityZone}`
        : !holds(s, address) ? `subnet ${wanted} (${s.cidr}) does not hold ${node.address}`
        : undefined;
      if (why !== undefined) throw new UserError('SPEC_CONFLICT', `${where}: provision.subnets.${node.zone}: ${why}; give a subnet of the VPC in zone ${node.zone} whose CIDR holds the node's address, or remove the entry to let up find it`);
      out.set(node.name, wanted);
      continue;
    }
    const found = inVpc.filter((s) => s.availabilityZone === node.zone && holds(s, address));
    if (found.length !== 1) {
      const zone = inVpc.filter((s) => s.availabilityZone === node.zone).map((s) => `${s.subnetId} ${s.cidr}`);
      throw new UserError('SPEC_CONFLICT', `${where}: no subnet of ${vpcId ?? 'the VPC'} in zone ${node.zone} holds ${node.address} (the zone's subnets: ${zone.length === 0 ? 'none' : zone.join(', ')}); change the node's address or zone, or name its subnet in provision.subnets.${node.zone}`);
    }
    out.set(node.name, found[0]!.subnetId);
  }
  return out;
}
